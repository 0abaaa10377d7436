#!/usr/bin/env python3
"""How the public-run calibration table would read if every compute op on Hopper GPUs took N times its modeled
kernel time (`fp8lab sim --compute-scale N` on the H100/H800 rows; the A100 rows as they are).

    python3 scripts/calibration_scan.py build/fp8lab [--from 1.0] [--to 1.4] [--step 0.01]

Prints, for each N, the mean absolute error and the worst row; then each Hopper row's range of N within issue
11's 20 %, and the range of N (if any) that holds every row. A question for a GPU visit, not a fit: the simulator
stays at N = 1 (configs/calibration/README.md says why). Run from the repository root (the rows name their
model and cluster files from there); standard library only.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import public_runs  # noqa: E402

ROW_LIMIT = 0.20


def hopper(r):
    return not r["gpu"].startswith("A100")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary")
    ap.add_argument("--from", dest="lo", type=float, default=1.0)
    ap.add_argument("--to", dest="hi", type=float, default=1.4)
    ap.add_argument("--step", type=float, default=0.01)
    a = ap.parse_args()
    if not (0 < a.lo <= a.hi and a.step > 0 and (a.hi - a.lo) / a.step <= 1000):
        sys.exit("calibration_scan.py: need 0 < --from <= --to and at most 1000 steps")
    runs = public_runs.load()
    scales = [a.lo + i * a.step for i in range(int(round((a.hi - a.lo) / a.step)) + 1)]
    fixed = {i: public_runs.error(r, public_runs.simulate(a.binary, r)[1]) for i, r in enumerate(runs) if not hopper(r)}
    digits = 2 if all(abs(s * 100 - round(s * 100)) < 1e-9 for s in scales) else 3
    fmt = lambda s: f"{s:.{digits}f}"  # noqa: E731
    errs = {}  # scale -> row -> error
    for s in scales:
        e = dict(fixed)
        for i, r in enumerate(runs):
            if hopper(r):
                e[i] = public_runs.error(r, public_runs.simulate(a.binary, r, ["--compute-scale", f"{s:.6g}"])[1])
        errs[s] = e
    print("| Hopper compute x | mean abs error % | worst % (row) |\n|---:|---:|---:|")
    for s in scales:
        e = errs[s]
        worst = max(e, key=lambda i: abs(e[i]))
        print(f"| {fmt(s)} | {100 * sum(abs(x) for x in e.values()) / len(e):.1f} | {100 * e[worst]:+.1f} ({worst + 1}) |")
    print(f"\n| row | run | error % at x1 | scales within {100 * ROW_LIMIT:.0f} % |\n|---:|---|---:|---|")
    common = set(scales)
    for i, r in enumerate(runs):
        if not hopper(r):
            continue
        ok = [s for s in scales if abs(errs[s][i]) <= ROW_LIMIT]
        common &= set(ok)
        span = f"{fmt(min(ok))}-{fmt(max(ok))}" if ok else f"none in {fmt(a.lo)}-{fmt(a.hi)}"
        print(f"| {i + 1} | {r['run']} | {100 * errs[scales[0]][i]:+.1f} | {span} |")
    fixed_ok = all(abs(x) <= ROW_LIMIT for x in fixed.values())
    print(f"\nA100 rows (not scaled) all within {100 * ROW_LIMIT:.0f} %: {'yes' if fixed_ok else 'no'}")
    if common and fixed_ok:
        c = sorted(common)
        best = min(c, key=lambda s: sum(abs(x) for x in errs[s].values()))
        print(f"every row within {100 * ROW_LIMIT:.0f} % for Hopper compute x{fmt(c[0])}-x{fmt(c[-1])}; the lowest mean "
              f"there {100 * sum(abs(x) for x in errs[best].values()) / len(runs):.1f} % at x{fmt(best)}")
    else:
        print(f"no scale in {fmt(a.lo)}-{fmt(a.hi)} holds every row within {100 * ROW_LIMIT:.0f} %")


if __name__ == "__main__":
    main()
