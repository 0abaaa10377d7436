/* fp8lab data build | info | builtin: llm.c token shards (data/shard.h) from text, and what a shard holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "data/build.h"
#include "data/shard.h"

/* Separates positional arguments (files) from flags: a flag of the table that takes a value keeps the next argument
   with it; "--" ends the flags. Unknown flags stay with the flags, for cli_parse to name. */
static int split_args(const cli_flag *flags, int nflags, int argc, char **argv, char **pos, int *npos, char **fl,
                      int *nfl) {
    *npos = *nfl = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (++i < argc) pos[(*npos)++] = argv[i];
            break;
        }
        if (strncmp(a, "--", 2) != 0 && strcmp(a, "-h") != 0) {
            pos[(*npos)++] = argv[i];
            continue;
        }
        fl[(*nfl)++] = argv[i];
        const char *name = a + 2, *eq = strchr(name, '=');
        if (eq || a[1] != '-') continue;
        for (int j = 0; j < nflags; j++)
            if (!strcmp(flags[j].name, name) && flags[j].kind != FLAG_BOOL && i + 1 < argc) {
                fl[(*nfl)++] = argv[++i];
                break;
            }
    }
    return 0;
}

/* Files and flags in any order: the flags parsed by cli_parse, the files left in pos. */
typedef struct {
    char **pos, **fl;
    int npos, nfl;
} mixed_args;

static void mixed_free(mixed_args *m) {
    free(m->pos);
    free(m->fl);
}

/* cli_parse's result (0, 1 after --help, 2 after an error), or -1 out of memory (printed). */
static int parse_mixed(const char *usage, const cli_flag *flags, int nflags, int argc, char **argv, mixed_args *m) {
    *m = (mixed_args){.pos = malloc((size_t)(argc + 1) * sizeof(char *)),
                      .fl = malloc((size_t)(argc + 1) * sizeof(char *))};
    if (!m->pos || !m->fl) {
        mixed_free(m);
        fprintf(stderr, "error: out of memory\n");
        return -1;
    }
    split_args(flags, nflags, argc, argv, m->pos, &m->npos, m->fl, &m->nfl);
    return cli_parse(usage, flags, nflags, m->nfl, m->fl);
}

/* A subcommand over files: its usage line, the text --help prints after the flags, its flag table */
typedef struct {
    const char *usage, *help;
    const cli_flag *flags;
    int nflags;
} files_cmd;

/* Parses the files and flags into m: -1 to go on, else the exit code to return now (0 after --help), m freed. */
static int parse_files_cmd(const files_cmd *c, int argc, char **argv, mixed_args *m) {
    int rc = parse_mixed(c->usage, c->flags, c->nflags, argc, argv, m);
    if (rc < 0) return FP8LAB_EXIT_RUNTIME;
    if (rc == 0) return -1;
    if (rc == 1) printf("%s", c->help);
    mixed_free(m);
    return rc == 1 ? 0 : FP8LAB_EXIT_USAGE;
}

static int fail(void) {
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    return fp8lab_last_error_exit();
}

static void print_json(cJSON *j) {
    char *s = j ? cJSON_Print(j) : NULL;
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

static int data_build(int argc, char **argv) {
    const char *out = NULL;
    double val_fraction = 0.1;
    long shard_tokens = (long)FP8LAB_DATA_DEFAULT_SHARD;
    int seq_len = 1024, json = 0;
    const cli_flag flags[] = {
        {"out", FLAG_STR, &out, "output folder (created when missing): data_train_NNNNNN.bin, data_val_NNNNNN.bin"},
        {"val-fraction", FLAG_DOUBLE, &val_fraction, "share of the text (its end) kept for validation",
         FP8LAB_RANGE_POS(FP8LAB_DATA_MAX_VAL_FRACTION)},
        {"shard-tokens", FLAG_LONG, &shard_tokens, "most tokens in one shard (a split is cut into equal shards)",
         FP8LAB_RANGE(FP8LAB_SHARD_MIN_TOKENS, FP8LAB_SHARD_MAX_TOKENS)},
        {"seq-len", FLAG_INT, &seq_len, "sequence length T the shards must serve: every shard holds >= T+1 tokens",
         FP8LAB_RANGE(1, FP8LAB_DATA_MAX_SEQ)},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    const char *usage = "fp8lab data build TEXT... --out DIR [--val-fraction F] [--shard-tokens N] [--seq-len T]";
    mixed_args m;
    int rc = parse_files_cmd(
        &(files_cmd){.usage = usage, .flags = flags, .nflags = CLI_NFLAGS(flags),
                     .help = "\nReads the TEXT files as bytes (vocabulary 256: token = byte), concatenated in the order "
                             "given, and\nwrites llm.c token shards (magic 20240520, version 1, uint16 tokens): the "
                             "last --val-fraction of the\nbytes is the validation split. Load them with the patterns "
                             "DIR/data_train_*.bin and\nDIR/data_val_*.bin.\n"},
        argc, argv, &m);
    if (rc >= 0) return rc;
    char **pos = m.pos;
    const int npos = m.npos;
    if (!out || npos == 0) {
        fprintf(stderr, "error: %s\nusage: %s (see --help)\n", !out ? "--out is required" : "no TEXT files given",
                usage);
        rc = FP8LAB_EXIT_USAGE;
        goto done;
    }
    fp8lab_data_build_info bi;
    if (fp8lab_data_build((const char *const *)pos, npos, out, val_fraction, shard_tokens, seq_len, &bi)) {
        rc = fail();
        goto done;
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        if (j) {
            cJSON_AddStringToObject(j, "out", out);
            cJSON_AddNumberToObject(j, "vocab", FP8LAB_DATA_VOCAB);
            cJSON_AddNumberToObject(j, "text_bytes", (double)bi.text_bytes);
            cJSON_AddNumberToObject(j, "train_tokens", (double)bi.train_tokens);
            cJSON_AddNumberToObject(j, "val_tokens", (double)bi.val_tokens);
            cJSON_AddNumberToObject(j, "train_shards", bi.train_shards);
            cJSON_AddNumberToObject(j, "val_shards", bi.val_shards);
            cJSON_AddNumberToObject(j, "removed_stale_shards", bi.removed);
        }
        print_json(j);
    } else {
        printf("%lld bytes of text from %d file%s -> %s (vocab %d, byte-level, uint16 llm.c shards)\n",
               (long long)bi.text_bytes, npos, npos == 1 ? "" : "s", out, FP8LAB_DATA_VOCAB);
        printf("  train: %lld tokens in %d shard%s: %s/data_train_*.bin\n", (long long)bi.train_tokens,
               bi.train_shards, bi.train_shards == 1 ? "" : "s", out);
        printf("  val:   %lld tokens in %d shard%s: %s/data_val_*.bin\n", (long long)bi.val_tokens, bi.val_shards,
               bi.val_shards == 1 ? "" : "s", out);
        if (bi.removed) printf("  removed %d shard%s of an earlier build\n", bi.removed, bi.removed == 1 ? "" : "s");
    }
    rc = 0;
done:
    mixed_free(&m);
    return rc;
}

static int data_info(int argc, char **argv) {
    long vocab = 0;
    int json = 0;
    const cli_flag flags[] = {
        {"vocab", FLAG_LONG, &vocab, "also check every token id < N (unset: only the token width)",
         FP8LAB_RANGE(1, FP8LAB_SHARD_MAX_VOCAB)},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    const char *usage = "fp8lab data info FILE... [--vocab N] [--json]";
    mixed_args m;
    int rc = parse_files_cmd(
        &(files_cmd){.usage = usage, .flags = flags, .nflags = CLI_NFLAGS(flags),
                     .help = "\nValidates each llm.c token shard (magic 20240520 version 1 with uint16 tokens, or magic "
                             "20240801\nversion 7 with uint32 tokens) and prints its version, token count and "
                             "smallest and largest id.\n"},
        argc, argv, &m);
    if (rc >= 0) return rc;
    rc = 0;
    char **pos = m.pos;
    const int npos = m.npos;
    if (npos == 0) {
        fprintf(stderr, "error: no FILE given\nusage: %s (see --help)\n", usage);
        rc = FP8LAB_EXIT_USAGE;
        goto done;
    }
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    for (int i = 0; i < npos; i++) {
        fp8lab_shard s;
        if (fp8lab_shard_open(&s, pos[i], vocab)) {
            int e = fail();
            if (!rc || e == FP8LAB_EXIT_RUNTIME) rc = e; /* a failure of the machine outranks bad input */
            fp8lab_clear_error();
            continue;
        }
        if (json) {
            cJSON *o = cJSON_CreateObject();
            if (o) {
                cJSON_AddStringToObject(o, "file", pos[i]);
                cJSON_AddNumberToObject(o, "magic", s.magic);
                cJSON_AddNumberToObject(o, "version", s.version);
                cJSON_AddNumberToObject(o, "token_bytes", s.width);
                cJSON_AddNumberToObject(o, "tokens", (double)s.ntok);
                cJSON_AddNumberToObject(o, "min_token", s.min_tok);
                cJSON_AddNumberToObject(o, "max_token", s.max_tok);
                cJSON_AddItemToArray(arr, o);
            }
        } else {
            printf("%s: version %d (magic %d, uint%d tokens), %lld tokens, token ids %u..%u\n", pos[i], (int)s.version,
                   (int)s.magic, 8 * s.width, (long long)s.ntok, s.min_tok, s.max_tok);
        }
        fp8lab_shard_close(&s);
    }
    if (json) {
        cJSON *j = cJSON_CreateObject();
        if (j && arr) {
            cJSON_AddItemToObject(j, "shards", arr);
            arr = NULL;
        }
        print_json(j);
        cJSON_Delete(arr);
    }
done:
    mixed_free(&m);
    return rc;
}

static int data_builtin(int argc, char **argv) {
    const char *cache = "data/builtin", *src = NULL;
    int json = 0;
    const cli_flag flags[] = {
        {"cache", FLAG_STR, &cache, "folder for the shards (built there on first use)"},
        {"source", FLAG_STR, &src, "folder of the text files (unset: " FP8LAB_BUILTIN_DIR ")"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    const char *usage = "fp8lab data builtin [--cache DIR]";
    int rc = cli_parse(usage, flags, CLI_NFLAGS(flags), argc, argv);
    if (rc == 1) {
        printf("\nThe built-in corpus: the English text of Debian's '" FP8LAB_BUILTIN_PACKAGE
               "' package (" FP8LAB_BUILTIN_DIR ")\nas byte-level shards (vocab 256), built into --cache unless "
               "they are there already.\n");
        return 0;
    }
    if (rc) return FP8LAB_EXIT_USAGE;
    char train[4096], val[4096];
    int built = 0;
    if (fp8lab_data_builtin(cache, src, train, val, sizeof train, &built)) return fail();
    if (json) {
        cJSON *j = cJSON_CreateObject();
        if (j) {
            cJSON_AddStringToObject(j, "package", FP8LAB_BUILTIN_PACKAGE);
            cJSON_AddStringToObject(j, "train", train);
            cJSON_AddStringToObject(j, "val", val);
            cJSON_AddBoolToObject(j, "built", built);
        }
        print_json(j);
    } else {
        printf("%s corpus (Debian package '%s', vocab %d)\n  train: %s\n  val:   %s\n",
               built ? "built the" : "cached:", FP8LAB_BUILTIN_PACKAGE, FP8LAB_DATA_VOCAB, train, val);
    }
    return 0;
}

int cmd_data(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *help;
    } S[] = {
        {"build", data_build, "text files -> byte-level llm.c token shards (vocab 256) with a validation split"},
        {"info", data_info, "validate llm.c token shards; print version, token count, smallest and largest id"},
        {"builtin", data_builtin, "the built-in corpus (Debian's '" FP8LAB_BUILTIN_PACKAGE "' text) as shards"},
    };
    const int ns = (int)(sizeof S / sizeof S[0]);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h"))
        for (int i = 0; i < ns; i++)
            if (!strcmp(argv[0], S[i].name)) return S[i].fn(argc - 1, argv + 1);
    FILE *f = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? stdout : stderr;
    if (argc >= 1 && f == stderr) fprintf(f, "error: unknown data command '%s'\n", argv[0]);
    fprintf(f, "usage: fp8lab data <command> [flags]\n");
    for (int i = 0; i < ns; i++) fprintf(f, "  %-8s %s\n", S[i].name, S[i].help);
    return f == stdout ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
}
