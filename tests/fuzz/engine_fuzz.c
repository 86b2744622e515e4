/*
 * engine_fuzz.c -- libFuzzer targets for the engine's three loaders.
 *
 *   clang -fsanitize=fuzzer,address,undefined -DFUZZ_TARGET=N -I engine
 *         engine_fuzz.c engine/q8.c engine/platform.c -lm
 *
 * N = 1: the fp32 checkpoint loader (then one forward pass),
 *     2: the int8 checkpoint loader (then one forward pass); both load
 *        every input twice, in memory and under a budget of 1.25 MB (less
 *        than the seeds, stories260K in fp32 and int8, need in memory), so
 *        that the weights are also streamed from the file and the forward
 *        pass reads them block by block,
 *     3: the tokenizer loader (then an encode and a decode of every token).
 *
 * run.c is compiled into this file with RL_FUZZ, which turns its fatal
 * errors into a longjmp back here (q8.c and platform.c are linked as they
 * are).  Every malloc and fopen of run.c goes through the trackers below, so
 * that what a refused input had allocated or opened is released before the
 * next one: the run stays small however long it lasts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FZ_SLOTS 256
static void *fz_live[FZ_SLOTS];
static FILE *fz_files[16];

static void fz_forget(void *p)
{
    int i;
    for (i = 0; p != NULL && i < FZ_SLOTS; i++) {
        if (fz_live[i] == p) {
            fz_live[i] = NULL;
            return;
        }
    }
}

static void *fz_remember(void *p)
{
    int i;
    for (i = 0; p != NULL && i < FZ_SLOTS; i++) {
        if (fz_live[i] == NULL) {
            fz_live[i] = p;
            return p;
        }
    }
    if (p != NULL) {
        abort(); /* more live blocks than the engine ever holds */
    }
    return p;
}

static void *fz_malloc(size_t n) { return fz_remember(malloc(n)); }

static void *fz_realloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q != NULL) {
        fz_forget(p);
        fz_remember(q);
    }
    return q;
}

static void fz_free(void *p)
{
    fz_forget(p);
    free(p);
}

static FILE *fz_fopen(const char *path, const char *mode)
{
    FILE *f = fopen(path, mode);
    int i;
    for (i = 0; f != NULL && i < 16; i++) {
        if (fz_files[i] == NULL) {
            fz_files[i] = f;
            break;
        }
    }
    return f;
}

static int fz_fclose(FILE *f)
{
    int i;
    for (i = 0; i < 16; i++) {
        if (fz_files[i] == f) {
            fz_files[i] = NULL;
        }
    }
    return fclose(f);
}

static void fz_release(void)
{
    int i;
    for (i = 0; i < FZ_SLOTS; i++) {
        free(fz_live[i]);
        fz_live[i] = NULL;
    }
    for (i = 0; i < 16; i++) {
        if (fz_files[i] != NULL) {
            fclose(fz_files[i]);
            fz_files[i] = NULL;
        }
    }
}

#define malloc fz_malloc
#define realloc fz_realloc
#define free fz_free
#define fopen fz_fopen
#define fclose fz_fclose
#define main engine_main
#define RL_FUZZ 1
#include "../../engine/run.c"
#undef malloc
#undef realloc
#undef free
#undef fopen
#undef fclose

static char fz_path[64];

static void fz_write(const unsigned char *data, size_t size)
{
    FILE *f;
    if (fz_path[0] == '\0') {
        sprintf(fz_path, "/tmp/rl-fuzz-%ld.bin", (long)getpid());
    }
    f = fopen(fz_path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        abort();
    }
}

static void fz_one(const unsigned char *data, size_t size, double budget)
{
    (void)data;
    (void)size;
    memset(&engine, 0, sizeof engine);
    engine.transformer.budget = budget;
    if (setjmp(rl_fuzz_jump) == 0) {
#if FUZZ_TARGET == 3
        /* the first two bytes choose the vocabulary size the model claims */
        int vocab = size >= 2 ? 3 + (data[0] | (data[1] << 8)) % 40000 : 3;
        static int tokens[64 + 3];
        int i, n;
        build_tokenizer(&engine.tokenizer, fz_path, vocab);
        n = encode(&engine.tokenizer, "Zo\xc3\xab saw a caf\xc3\xa9 <0x41>", 1, 1,
                   tokens);
        for (i = 1; i < n; i++) {
            (void)decode(&engine.tokenizer, tokens[i - 1], tokens[i]);
        }
        for (i = 0; i < vocab; i++) {
            (void)decode(&engine.tokenizer, BOS, i);
        }
#else
        int steps = 2;
        Transformer *t = &engine.transformer;
        build_transformer(t, fz_path, &steps);
        forward(t, 1 % t->config.vocab_size, 0);
#endif
    }
    /* platform.c opened it with its own fopen, which the trackers miss */
    if (engine.transformer.stream.file != NULL) {
        platform_close(engine.transformer.stream.file);
    }
    fz_release();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static FILE *sink;
    if (sink == NULL) {
        sink = fopen("/dev/null", "w");
        rl_fuzz_errors = sink;
        check_host();
        fill_exp_table();
    }
    fz_write(data, size);
    fz_one(data, size, 0.0);
#if FUZZ_TARGET != 3
    fz_one(data, size, 1.25 * 1048576.0);
#endif
    return 0;
}
