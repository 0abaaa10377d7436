#!/usr/bin/env python3
"""Writes the seed corpus of the safetensors fuzz target (tests/fuzz/corpus/safetensors/) with the Python
standard library only: a few valid files as the format describes them (8-byte little-endian header length, JSON
header padded with spaces to a multiple of 8, data buffer) and a few near misses. Independent of fp8lab's writer. (written-by-safetensors-0.8.safetensors in that folder was written by the
reference library itself, numpy save_file, and is not made here.)

    python3 scripts/make_safetensors_seed.py [OUT_DIR]
"""
import json
import os
import struct
import sys


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def safetensors(tensors, metadata=None, checksum=False, pad=True):
    """tensors: list of (name, dtype, shape, raw bytes), written in this order."""
    header, data, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    meta = dict(metadata or {})
    if checksum:
        meta["fp8lab_crc32c"] = "%08x" % crc32c(data)
    if meta:
        header = {"__metadata__": meta, **header}
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


def bf16(*v):
    return b"".join(struct.pack("<f", x)[2:] for x in v)  # truncation: exact for these values


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fuzz",
                                                             "corpus", "safetensors")
    os.makedirs(out, exist_ok=True)
    model = [("model.embed.weight", "F32", [2, 3], f32(1, -2, 3.5, 0, 0.25, -1e-3)),
             ("model.norm.weight", "BF16", [4], bf16(1, -2, 0.5, 65280)),
             ("model.head.weight", "F16", [2], struct.pack("<2H", 0x3C00, 0x0001)),
             ("scale", "F8_E4M3", [2], b"\x38\x7f"),
             ("step", "I64", [], struct.pack("<q", 100))]
    seeds = {
        "model-checksum.safetensors": safetensors(model, {"format": "pt"}, checksum=True),
        "model-plain.safetensors": safetensors(model, {"format": "pt"}),
        "no-metadata-unpadded.safetensors": safetensors([("w", "U8", [3], b"abc"), ("x", "F32", [1], f32(2))],
                                                        pad=False),
        "empty-tensors.safetensors": safetensors([("e", "F32", [0, 4], b""), ("s", "BF16", [1, 1], bf16(3))]),
        "only-metadata.safetensors": safetensors([], {"format": "pt", "note": "caf\u00e9"}),
        "bad-checksum.safetensors": safetensors(model[:1], {"fp8lab_crc32c": "00000000"}),
        "truncated.safetensors": safetensors(model, {"format": "pt"})[:-3],
    }
    overlap = bytearray(safetensors([("a", "U8", [2], b"ab"), ("b", "U8", [2], b"cd")]))
    overlap = bytes(overlap).replace(b'"data_offsets":[2,4]', b'"data_offsets":[1,3]')
    seeds["overlap.safetensors"] = overlap
    for name, raw in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(raw)


if __name__ == "__main__":
    main()
