/*
 * run.c -- retrollama's inference engine for llama2.c checkpoints.
 *
 * Reads a llama2.c "version 0" checkpoint and its tokenizer.bin, and prints
 * the same bytes as llama2.c's run for the same model and flags; reads
 * llama2.c's int8 "version 2" checkpoint (Q8_0, what runq.c reads) too and
 * then computes as runq.c does, with the kernels of q8.c:
 *
 *   run checkpoint [-t temp] [-p topp] [-s seed] [-n steps] [-i prompt]
 *                  [-z tokenizer] [-m generate|chat] [-y system_prompt]
 *                  [-v] [-L logits_file]
 *
 * Without a checkpoint argument (the first argument missing or starting with
 * '-') it loads MODEL.BIN and TOKENIZ.BIN from the directory of the program:
 * the layout of a retrollama bundle.
 *
 * Written in ISO C89 for 1997-era compilers; everything compiler-specific is
 * in compat.h and platform.c.  The file reads top to bottom: errors and
 * memory, file formats, the transformer, the tokenizer, the sampler, the
 * generate and chat loops, main.
 *
 * Exit codes: 0 ok, 1 bad command line, 2 bad or missing file, 3 not enough
 * memory.  Every failure prints exactly one line on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <math.h>
#include <time.h>
#include <errno.h>
#include <limits.h>
#include "compat.h"
#include "q8.h"

#define EXIT_USAGE 1
#define EXIT_INPUT 2
#define EXIT_MEMORY 3

#define BOS 1
#define EOS 2

/* A 32-bit process has 2 GB of private address space (Windows 9x: 4 MB to
 * 2 GB), so no model that needs more can ever load. */
#define ADDRESS_LIMIT 2147483648.0

/* Header values above these are damage, not models. */
#define MAX_WIDTH 1048576L     /* dim, hidden_dim */
#define MAX_COUNT 65536L       /* n_layers, n_heads */
#define MAX_LENGTH 16777216L   /* vocab_size, seq_len */
#define MAX_TOKEN_BYTES 65536L /* tokenizer's max_token_length */

#define CHUNK_BYTES 1048576L /* reads go in pieces of this size */

/* ------------------------------------------------------------------------
 * Errors and memory
 */

/* The fuzz harness (tests/fuzz/) builds this file with RL_FUZZ: a fatal
 * error then jumps back into the harness instead of ending the process,
 * and the message goes where the harness says. */
#ifdef RL_FUZZ
#include <setjmp.h>
jmp_buf rl_fuzz_jump;
FILE *rl_fuzz_errors;
#define ERRORS (rl_fuzz_errors != NULL ? rl_fuzz_errors : stderr)
#else
#define ERRORS stderr
#endif

static void fatal(int code, const char *fmt, ...)
{
    va_list ap;
    platform_flush();
    fputs("error: ", ERRORS);
    va_start(ap, fmt);
    vfprintf(ERRORS, fmt, ap);
    va_end(ap);
    fputc('\n', ERRORS);
#ifdef RL_FUZZ
    longjmp(rl_fuzz_jump, code);
#endif
    exit(code);
}

static double megabytes(double bytes)
{
    return ceil(bytes / 1048576.0);
}

/* malloc with the size given as a double, so that callers can compute sizes
 * without any risk of overflow and this one place decides what fits. */
static void *xmalloc(double bytes, const char *what)
{
    void *p;
    if (bytes >= ADDRESS_LIMIT || bytes > (double)(size_t)-1) {
        fatal(EXIT_MEMORY,
              "%s needs %.0f MB; a 32-bit process can address at most 2048 MB",
              what, megabytes(bytes));
    }
    p = malloc(bytes < 1.0 ? 1 : (size_t)bytes);
    if (p == NULL) {
        fatal(EXIT_MEMORY, "out of memory: %s needs %.0f bytes (%.0f MB)", what,
              bytes, megabytes(bytes));
    }
    return p;
}

/* ------------------------------------------------------------------------
 * Little-endian file formats
 *
 * Both files store int32 and IEEE float32 values little-endian.  Values are
 * decoded byte by byte; bulk float data is read straight into place when the
 * host itself stores floats as little-endian IEEE (checked once at start-up),
 * and decoded in place otherwise.
 */

static int host_is_ieee_le;

static void check_host(void)
{
    static const unsigned char one[4] = {0x00, 0x00, 0x80, 0x3F};
    static const unsigned char neg[4] = {0x00, 0x00, 0x20, 0xC0};
    float a = 1.0f, b = -2.5f;
    host_is_ieee_le = sizeof(float) == 4 && memcmp(&a, one, 4) == 0 &&
                      memcmp(&b, neg, 4) == 0;
}

static long le_int32(const unsigned char *p)
{
    unsigned long v = (unsigned long)p[0] | ((unsigned long)p[1] << 8) |
                      ((unsigned long)p[2] << 16) | ((unsigned long)p[3] << 24);
    if (v >= 0x80000000UL) {
        return -(long)(0xFFFFFFFFUL - v) - 1;
    }
    return (long)v;
}

static float le_float(const unsigned char *p)
{
    unsigned long bits = (unsigned long)p[0] | ((unsigned long)p[1] << 8) |
                         ((unsigned long)p[2] << 16) |
                         ((unsigned long)p[3] << 24);
    int expo = (int)((bits >> 23) & 0xFF);
    double mant = (double)(bits & 0x7FFFFFUL);
    double v;
    float f;
    if (host_is_ieee_le) {
        memcpy(&f, p, 4);
        return f;
    }
    if (expo == 0xFF) {
        v = mant != 0.0 ? HUGE_VAL - HUGE_VAL : HUGE_VAL;
    } else if (expo == 0) {
        v = ldexp(mant, -149);
    } else {
        v = ldexp(mant + 8388608.0, expo - 150);
    }
    return (float)((bits & 0x80000000UL) ? -v : v);
}

static void put_le_float(unsigned char *p, float f)
{
    double m;
    int e;
    unsigned long bits = 0;
    if (host_is_ieee_le) {
        memcpy(p, &f, 4);
        return;
    }
    if (f < 0.0f || (f == 0.0f && 1.0f / f < 0.0f)) {
        bits = 0x80000000UL;
        f = -f;
    }
    if (f != f) {
        bits |= 0x7FC00000UL;
    } else if (f > 3.4028234e38f) {
        bits |= 0x7F800000UL;
    } else if (f != 0.0f) {
        m = frexp((double)f, &e); /* f = m * 2^e, 0.5 <= m < 1 */
        if (e > -126) {
            bits |= ((unsigned long)(e + 126) << 23) |
                    ((unsigned long)ldexp(m, 24) & 0x7FFFFFUL);
        } else {
            bits |= (unsigned long)ldexp(m, e + 149);
        }
    }
    p[0] = (unsigned char)(bits & 0xFF);
    p[1] = (unsigned char)((bits >> 8) & 0xFF);
    p[2] = (unsigned char)((bits >> 16) & 0xFF);
    p[3] = (unsigned char)((bits >> 24) & 0xFF);
}

/* Reads count bytes into dst in chunks; `at` is the file offset, kept for
 * the message when the file ends early. */
static void read_bytes(FILE *f, const char *path, unsigned char *dst,
                       double count, double *at)
{
    double left = count;
    while (left > 0.0) {
        size_t want =
            left > (double)CHUNK_BYTES ? (size_t)CHUNK_BYTES : (size_t)left;
        size_t got = fread(dst, 1, want, f);
        *at += (double)got;
        if (got != want) {
            fatal(EXIT_INPUT, "%s: %s at byte %.0f", path,
                  ferror(f) ? "read error" : "file ends early", *at);
        }
        dst += got;
        left -= (double)got;
    }
}

/* Reads count float32 values into dst, in chunks; `at` is the file offset,
 * kept for the message when the file ends early. */
static void read_floats(FILE *f, const char *path, float *dst, double count,
                        double *at)
{
    read_bytes(f, path, (unsigned char *)dst, count * 4.0, at);
    if (!host_is_ieee_le) {
        unsigned char *bytes = (unsigned char *)dst;
        double i;
        for (i = 0.0; i < count; i += 1.0) {
            float v = le_float(bytes);
            memcpy(bytes, &v, 4);
            bytes += 4;
        }
    }
}

/* Refuses NaN and infinity in n floats just read (the file's bytes at
 * offset `at`): they would poison every token after them, and an int8
 * scale that is not finite is undefined behaviour when quantized. */
static void check_finite(const char *path, const float *p, double n,
                         double at, const char *what)
{
    const unsigned char *b = (const unsigned char *)p;
    double i;
    for (i = 0.0; i < n; i += 1.0, b += 4) {
        u32 bits;
        memcpy(&bits, b, 4);
        if ((bits & 0x7F800000UL) == 0x7F800000UL) {
            fatal(EXIT_INPUT,
                  "%s: %s hold NaN or infinity (float at byte %.0f); the "
                  "checkpoint is damaged",
                  path, what, at + 4.0 * i);
        }
    }
}

/* ------------------------------------------------------------------------
 * The transformer: configuration, weights, run state
 */

typedef struct {
    int dim;        /* width of the residual stream */
    int hidden_dim; /* width of the feed-forward layer */
    int n_layers;
    int n_heads;    /* query heads */
    int n_kv_heads; /* key/value heads (fewer than n_heads: grouped-query
                       attention) */
    int vocab_size;
    int seq_len;    /* context length the model was trained for */
    int shared_classifier; /* header vocab_size > 0: logits use the embedding
                              table */
} Config;

/* A matrix in Q8_0 (see q8.h): int8 values and one float scale per group. */
typedef struct {
    signed char *q;
    float *s;
} QMat;

typedef struct {
    float *token_embedding; /* (vocab_size, dim) */
    float *rms_att;         /* (n_layers, dim) */
    float *wq;              /* (n_layers, dim, dim) */
    float *wk;              /* (n_layers, kv_dim, dim) */
    float *wv;              /* (n_layers, kv_dim, dim) */
    float *wo;              /* (n_layers, dim, dim) */
    float *rms_ffn;         /* (n_layers, dim) */
    float *w1;              /* (n_layers, hidden_dim, dim) */
    float *w2;              /* (n_layers, dim, hidden_dim) */
    float *w3;              /* (n_layers, hidden_dim, dim) */
    float *rms_final;       /* (dim) */
    float *wcls;            /* (vocab_size, dim) */
    float *memory;          /* the one allocation all of the above live in */
    /* An int8 (version 2) checkpoint: the matrices above stay NULL and
     * these hold them instead, every layer's values (and scales) one after
     * the other, in `memory` too.  gs is 0 for an fp32 checkpoint. */
    int gs;
    QMat q_emb, q_wq, q_wk, q_wv, q_wo, q_w1, q_w2, q_w3, q_wcls;
} Weights;

typedef struct {
    float *x, *xb, *xb2;  /* (dim) activations */
    float *hb, *hb2;      /* (hidden_dim) */
    float *hexp;          /* (hidden_dim) e^-hb for SiLU */
    float *q;             /* (dim) */
    float *att;           /* (n_heads, steps) attention scores */
    float *logits;        /* (vocab_size) */
    float *key_cache;     /* (n_layers, steps, kv_dim) */
    float *value_cache; /* (n_layers, kv_dim, steps): transposed, see forward */
    float *freq; /* (rope_pairs) the rotation frequencies, computed once */
    float *rope; /* (rope_pairs, 2): cos and sin of this position's angles */
    float *xs;   /* int8 checkpoints: scales of the quantized activation */
    short *xq;            /* and its values (max(dim, hidden_dim)) */
    /* -k q8: the KV cache in int8, (n_layers, steps, kv_dim) values with
     * one float scale per (layer, position, kv head); k_new holds this
     * position's key before it is quantized.  key_cache and value_cache
     * above stay NULL then. */
    signed char *kq, *vq;
    float *kscale, *vscale;
    float *k_new;
    float *memory;
} RunState;

/* Weights streamed from disk (-b): which matrix a linear() call is, where
 * each layer's copy lies in the file, and the one reusable buffer. */
enum { M_EMB, M_WQ, M_WK, M_WV, M_WO, M_W1, M_W2, M_W3, M_CLS, M_KINDS };

typedef struct {
    PlatformFile *file; /* NULL: everything is in memory */
    const char *path;
    double base[M_KINDS];   /* file offset of layer 0's values */
    double stride[M_KINDS]; /* bytes from one layer's copy to the next */
    double numel[M_KINDS];  /* values per layer */
    int rows[M_KINDS];      /* rows read at once (a multiple of 4) */
    int cls_resident;       /* the classifier is in memory (w->wcls) */
    int emb_resident;       /* so is the embedding (a shared classifier) */
    unsigned char *buf;
    double buf_bytes;
    double bytes_read;      /* since the start */
    double token_bytes;     /* planned per forward() */
} Stream;

typedef struct {
    Config config;
    Weights w;
    RunState s;
    int steps; /* positions the caches hold: min(requested steps, seq_len) */
    int head_size;
    int kv_dim;
    int kv_mul;     /* query heads per key/value head */
    int rope_pairs; /* rotation pairs after which the angles repeat */
    double weight_bytes, state_bytes;
    double budget; /* -b in bytes; 0 or less: none */
    int budget_reported; /* the budget is the system's free memory, no -b */
    int kv_q8;     /* -k q8: the int8 KV cache */
    Stream stream;
} Transformer;

static const char *config_names[7] = {"dim",     "hidden_dim", "n_layers",
                                      "n_heads", "n_kv_heads", "vocab_size",
                                      "seq_len"};

static void check_config(const char *path, const unsigned char *header,
                         Config *c);

/* Reads and validates the 28-byte header into c.  Every check names the
 * field and the file. */
static void read_config(FILE *f, const char *path, Config *c)
{
    unsigned char header[28];
    size_t got = fread(header, 1, sizeof header, f);
    if (got != sizeof header) {
        fatal(EXIT_INPUT,
              "%s: %s (%lu bytes); a llama2.c checkpoint starts with a 28-byte "
              "header",
              path, ferror(f) ? "read error" : "file too short",
              (unsigned long)got);
    }
    check_config(path, header, c);
}

/* Validates the seven header ints at `header` (both versions have them). */
static void check_config(const char *path, const unsigned char *header,
                         Config *c)
{
    long v[7];
    int i;
    for (i = 0; i < 7; i++) {
        v[i] = le_int32(header + 4 * i);
    }
    for (i = 0; i < 7; i++) {
        long limit = (i == 0 || i == 1)   ? MAX_WIDTH
                     : (i == 5 || i == 6) ? MAX_LENGTH
                                          : MAX_COUNT;
        long value =
            i == 5 && v[i] < 0 && v[i] > -MAX_LENGTH - 1 ? -v[i] : v[i];
        if (value <= 0 || value > limit) {
            fatal(EXIT_INPUT,
                  "%s: header field %s is %ld; not a llama2.c checkpoint "
                  "(expected 1..%ld)",
                  path, config_names[i], v[i], limit);
        }
    }
    c->dim = (int)v[0];
    c->hidden_dim = (int)v[1];
    c->n_layers = (int)v[2];
    c->n_heads = (int)v[3];
    c->n_kv_heads = (int)v[4];
    c->shared_classifier = v[5] > 0;
    c->vocab_size = (int)(v[5] > 0 ? v[5] : -v[5]);
    c->seq_len = (int)v[6];
    if (c->dim % c->n_heads != 0) {
        fatal(EXIT_INPUT, "%s: dim %d is not divisible by n_heads %d", path,
              c->dim, c->n_heads);
    }
    if (c->n_heads % c->n_kv_heads != 0) {
        fatal(EXIT_INPUT, "%s: n_heads %d is not divisible by n_kv_heads %d",
              path, c->n_heads, c->n_kv_heads);
    }
    /* llama2.c would rotate pairs that straddle two heads; no trained
     * model has an odd head size, and the toolchain (invoke quantize, the
     * reference) refuses one too, so both sides agree on what a model is. */
    if ((c->dim / c->n_heads) % 2 != 0) {
        fatal(EXIT_INPUT,
              "%s: head size %d (dim / n_heads) must be even for rotary "
              "embeddings",
              path, c->dim / c->n_heads);
    }
    if (c->vocab_size < 3) {
        fatal(EXIT_INPUT,
              "%s: vocab_size %d is too small (BOS and EOS are tokens 1 and 2)",
              path, c->vocab_size);
    }
}

/* Number of floats in the checkpoint after the header, as a double so that
 * no product can overflow. The two legacy RoPE tables (seq_len * head_size
 * floats together) are in the file but not in memory. */
static double checkpoint_floats(const Config *c, double *in_memory)
{
    double dim = c->dim, hidden = c->hidden_dim, layers = c->n_layers;
    double head = dim / c->n_heads, kv = head * c->n_kv_heads,
           vocab = c->vocab_size;
    double n = vocab * dim                 /* token embedding */
               + layers * dim * 2.0        /* rms_att, rms_ffn */
               + layers * dim * dim * 2.0  /* wq, wo */
               + layers * dim * kv * 2.0   /* wk, wv */
               + layers * dim * hidden * 3.0 /* w1, w2, w3 */
               + dim;                      /* rms_final */
    if (!c->shared_classifier) {
        n += vocab * dim;
    }
    *in_memory = n;
    return n + 2.0 * floor((double)c->seq_len * head / 2.0);
}

static void plan_state(Transformer *t)
{
    const Config *c = &t->config;
    double dim = c->dim, hidden = c->hidden_dim, steps = t->steps;
    double cache;
    t->head_size = c->dim / c->n_heads;
    t->kv_dim = t->head_size * c->n_kv_heads;
    t->kv_mul = c->n_heads / c->n_kv_heads;
    t->rope_pairs = t->head_size / 2;
    cache = 2.0 * c->n_layers * steps * t->kv_dim;
    t->state_bytes =
        4.0 * (dim * 4.0 + hidden * 3.0 + (double)c->n_heads * steps +
               (double)c->vocab_size + t->rope_pairs * 3.0);
    if (t->kv_q8) {
        /* int8 values, a float scale per head and position, k_new */
        t->state_bytes += cache + 4.0 * (2.0 * c->n_layers * steps *
                                             c->n_kv_heads +
                                         t->kv_dim);
    } else {
        t->state_bytes += 4.0 * cache;
    }
    if (t->w.gs > 0) {
        double widest = dim > hidden ? dim : hidden;
        t->state_bytes += 4.0 * (floor(widest / t->w.gs) + 1.0) + 2.0 * widest;
    }
}

/* The frequencies of llama2.c's RoPE, computed once with the float
 * operations run.c performs per token. */
static void fill_freq(Transformer *t)
{
    int p;
    for (p = 0; p < t->rope_pairs; p++) {
        int head_dim = (2 * p) % t->head_size;
        float exponent = (float)head_dim / (float)t->head_size;
        float power = (float)pow(10000.0, (double)exponent);
        t->s.freq[p] = 1.0f / power;
    }
}

/* The cos and sin of position pos's angles, as run.c computes them for
 * each token.  Computed per token rather than kept for every position:
 * a table would cost steps * head_size * 4 bytes (64 KB for 42M at 256
 * steps, 512 KB for a TinyLlama context), a token only rope_pairs cos/sin
 * pairs, against millions of multiply-adds. */
static const float *rope_row(Transformer *t, int pos)
{
    float *row = t->s.rope;
    int p;
    for (p = 0; p < t->rope_pairs; p++) {
        float angle = (float)pos * t->s.freq[p];
        row[2 * p] = (float)cos((double)angle);
        row[2 * p + 1] = (float)sin((double)angle);
    }
    return row;
}

/* The size check for a streamed file, which may be beyond what ftell can
 * report (2 to 4 GB on Win32). */
static void check_file_size(const char *path, double expected, const char *what)
{
    PlatformFile *pf = platform_open(path);
    double size = pf != NULL ? platform_file_size(pf) : -1.0;
    if (pf != NULL) {
        platform_close(pf);
    }
    if (size >= 0.0 && size != expected) {
        fatal(EXIT_INPUT,
              "%s: file is %.0f bytes but its header describes a %.0f-byte %s",
              path, size, expected, what);
    }
}

static void alloc_state(Transformer *t);
static int is_q8_checkpoint(FILE *f);
static int plan_stream(Transformer *t, const char *path, double norm_bytes);
static void stream_fp32(Transformer *t);
static void stream_q8(Transformer *t);
static void build_transformer_q8(Transformer *t, FILE *f, const char *path,
                                 int *steps);

static void build_transformer(Transformer *t, const char *path, int *steps)
{
    Config *c = &t->config;
    Weights *w = &t->w;
    FILE *f = fopen(path, "rb");
    double floats, in_memory, at = 28.0, expected, head, kv, legacy;
    float *p, *skip;
    long size;

    if (f == NULL) {
        fatal(EXIT_INPUT, "%s: cannot open the checkpoint", path);
    }
    if (is_q8_checkpoint(f)) {
        build_transformer_q8(t, f, path, steps);
        return;
    }
    if (fseek(f, 0L, SEEK_SET) != 0) {
        fatal(EXIT_INPUT, "%s: cannot seek", path);
    }
    read_config(f, path, c);
    floats = checkpoint_floats(c, &in_memory);
    expected = 28.0 + 4.0 * floats;
    if (fseek(f, 0L, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
        (double)size != expected) {
        if (expected >= ADDRESS_LIMIT) {
            fatal(EXIT_MEMORY,
                  "%s: needs %.0f MB; a 32-bit process can address at most "
                  "2048 MB",
                  path, megabytes(expected));
        }
        fatal(EXIT_INPUT,
              "%s: file is %ld bytes but its header describes a %.0f-byte "
              "checkpoint",
              path, size, expected);
    }
    if (fseek(f, 28L, SEEK_SET) != 0) {
        fatal(EXIT_INPUT, "%s: cannot seek", path);
    }

    if (*steps <= 0 || *steps > c->seq_len) {
        *steps = c->seq_len;
    }
    t->steps = *steps;
    plan_state(t);
    t->weight_bytes = 4.0 * in_memory;
    if (plan_stream(t, path, 4.0 * (2.0 * c->n_layers + 1.0) * c->dim)) {
        check_file_size(path, expected, "checkpoint");
        fclose(f);
        stream_fp32(t);
        alloc_state(t);
        return;
    }
    if (t->weight_bytes + t->state_bytes >= ADDRESS_LIMIT) {
        fatal(EXIT_MEMORY,
              "%s: needs %.0f MB; a 32-bit process can address at most 2048 MB",
              path, megabytes(t->weight_bytes + t->state_bytes));
    }

    /* weights: one allocation, filled in file order */
    head = t->head_size;
    kv = t->kv_dim;
    w->memory = (float *)xmalloc(t->weight_bytes, "the weights");
    p = w->memory;
#define TENSOR(field, n)                                                       \
    (w->field = p, read_floats(f, path, p, (n), &at),                          \
     check_finite(path, p, (n), at - 4.0 * (n), "the weights"),                \
     p += (size_t)(n))
    TENSOR(token_embedding, (double)c->vocab_size * c->dim);
    TENSOR(rms_att, (double)c->n_layers * c->dim);
    TENSOR(wq, (double)c->n_layers * c->dim * c->dim);
    TENSOR(wk, (double)c->n_layers * c->dim * kv);
    TENSOR(wv, (double)c->n_layers * c->dim * kv);
    TENSOR(wo, (double)c->n_layers * c->dim * c->dim);
    TENSOR(rms_ffn, (double)c->n_layers * c->dim);
    TENSOR(w1, (double)c->n_layers * c->dim * c->hidden_dim);
    TENSOR(w2, (double)c->n_layers * c->hidden_dim * c->dim);
    TENSOR(w3, (double)c->n_layers * c->dim * c->hidden_dim);
    TENSOR(rms_final, (double)c->dim);
    /* skip the legacy freq_cis_real and freq_cis_imag tables */
    legacy = 2.0 * floor((double)c->seq_len * head / 2.0);
    skip = (float *)xmalloc(4.0 * 65536.0, "a read buffer");
    while (legacy > 0.0) {
        double n = legacy > 65536.0 ? 65536.0 : legacy;
        read_floats(f, path, skip, n, &at);
        legacy -= n;
    }
    free(skip);
    if (c->shared_classifier) {
        w->wcls = w->token_embedding;
    } else {
        TENSOR(wcls, (double)c->vocab_size * c->dim);
    }
#undef TENSOR
    if (fgetc(f) != EOF) {
        fatal(EXIT_INPUT, "%s: has bytes after the %.0f its header describes",
              path, expected);
    }
    fclose(f);
    alloc_state(t);
}

/* The run state: one allocation. */
static void alloc_state(Transformer *t)
{
    const Config *c = &t->config;
    RunState *s = &t->s;
    float *p;
    s->memory = (float *)xmalloc(t->state_bytes,
                                 "the run state (activations, KV cache)");
    p = s->memory;
    s->x = p;            p += c->dim;
    s->xb = p;           p += c->dim;
    s->xb2 = p;          p += c->dim;
    s->q = p;            p += c->dim;
    s->hb = p;           p += c->hidden_dim;
    s->hb2 = p;          p += c->hidden_dim;
    s->hexp = p;         p += c->hidden_dim;
    s->att = p;          p += (size_t)c->n_heads * t->steps;
    s->logits = p;       p += c->vocab_size;
    if (!t->kv_q8) {
        s->key_cache = p;    p += (size_t)c->n_layers * t->steps * t->kv_dim;
        s->value_cache = p;  p += (size_t)c->n_layers * t->steps * t->kv_dim;
    }
    s->freq = p;         p += t->rope_pairs;
    s->rope = p;         p += (size_t)t->rope_pairs * 2;
    if (t->kv_q8) {
        size_t scales = (size_t)c->n_layers * t->steps * c->n_kv_heads;
        s->kscale = p;   p += scales;
        s->vscale = p;   p += scales;
        s->k_new = p;    p += t->kv_dim;
    }
    {
        char *bytes = (char *)p;
        if (t->w.gs > 0) {
            int widest = c->dim > c->hidden_dim ? c->dim : c->hidden_dim;
            s->xs = p;   p += widest / t->w.gs + 1;
            s->xq = (short *)p;
            bytes = (char *)(s->xq + widest);
        }
        if (t->kv_q8) {
            size_t values = (size_t)c->n_layers * t->steps * t->kv_dim;
            s->kq = (signed char *)bytes;
            s->vq = s->kq + values;
        }
    }
    fill_freq(t);
}

/* ------------------------------------------------------------------------
 * The int8 checkpoint (llama2.c's "version 2", what runq.c reads)
 *
 * A 256-byte header: uint32 magic "ak42", int32 version 2, the seven
 * config ints (vocab_size positive), a byte saying whether the classifier
 * is the embedding, int32 group size, zeros.  Then the RMS-norm gains in
 * float32 (rms_att, rms_ffn, rms_final), then every matrix in Q8_0: the
 * embedding, each layer's wq, wk, wv, wo, w1, w2, w3, the classifier if
 * separate -- each as its int8 values followed by its float scales.
 */

#define Q8_MAGIC 0x616B3432L
#define Q8_HEADER 256

static int is_q8_checkpoint(FILE *f)
{
    unsigned char magic[4];
    return fread(magic, 1, 4, f) == 4 && le_int32(magic) == Q8_MAGIC;
}

/* The matrices of an int8 checkpoint in file order: how many (layers or
 * one) and their values each. */
typedef struct {
    QMat *m;
    double count, numel;
} QPlan;

static int q8_plan(Transformer *t, QPlan *plan)
{
    const Config *c = &t->config;
    Weights *w = &t->w;
    double dim = c->dim, hidden = c->hidden_dim, kv = t->kv_dim,
           layers = c->n_layers;
    double vocab = c->vocab_size;
    int n = 0;
#define PLAN(field, cnt, num)                                                  \
    (plan[n].m = &w->field, plan[n].count = (cnt), plan[n].numel = (num), n++)
    PLAN(q_emb, 1.0, vocab * dim);
    PLAN(q_wq, layers, dim * dim);
    PLAN(q_wk, layers, kv * dim);
    PLAN(q_wv, layers, kv * dim);
    PLAN(q_wo, layers, dim * dim);
    PLAN(q_w1, layers, hidden * dim);
    PLAN(q_w2, layers, dim * hidden);
    PLAN(q_w3, layers, hidden * dim);
    if (!c->shared_classifier) {
        PLAN(q_wcls, 1.0, vocab * dim);
    }
#undef PLAN
    return n;
}

static void build_transformer_q8(Transformer *t, FILE *f, const char *path,
                                 int *steps)
{
    Config *c = &t->config;
    Weights *w = &t->w;
    unsigned char header[Q8_HEADER];
    QPlan plan[9];
    double norms, values = 0.0, scales = 0.0, expected, at = Q8_HEADER;
    long version, gs;
    int n_plan, i, l;
    float *p;
    signed char *q;
    size_t got;

    if (fseek(f, 0L, SEEK_SET) != 0) {
        fatal(EXIT_INPUT, "%s: cannot seek", path);
    }
    got = fread(header, 1, sizeof header, f);
    if (got != sizeof header) {
        fatal(EXIT_INPUT,
              "%s: %s (%lu bytes); an int8 checkpoint starts with a 256-byte "
              "header",
              path, ferror(f) ? "read error" : "file too short",
              (unsigned long)got);
    }
    version = le_int32(header + 4);
    if (version != 2) {
        fatal(EXIT_INPUT,
              "%s: checkpoint version %ld; only version 0 (fp32) and 2 (int8) "
              "are supported",
              path, version);
    }
    if (le_int32(header + 28) <= 0) {
        fatal(EXIT_INPUT,
              "%s: header field vocab_size is %ld; an int8 checkpoint needs it "
              "positive",
              path, le_int32(header + 28));
    }
    check_config(path, header + 8, c);
    if (header[36] > 1) {
        fatal(EXIT_INPUT, "%s: shared-classifier flag is %d; must be 0 or 1",
              path, header[36]);
    }
    c->shared_classifier = header[36];
    gs = le_int32(header + 37);
    if (gs <= 0 || gs > c->dim || c->dim % gs != 0) {
        fatal(EXIT_INPUT, "%s: group size %ld does not divide dim %d", path, gs,
              c->dim);
    }
    w->gs = (int)gs;

    if (*steps <= 0 || *steps > c->seq_len) {
        *steps = c->seq_len;
    }
    t->steps = *steps;
    plan_state(t);

    /* sizes in doubles: nothing can overflow before the limit check */
    norms = (2.0 * c->n_layers + 1.0) * c->dim;
    n_plan = q8_plan(t, plan);
    for (i = 0; i < n_plan; i++) {
        values += plan[i].count * plan[i].numel;
        scales += plan[i].count * floor(plan[i].numel / gs);
    }
    expected = Q8_HEADER + 4.0 * norms + values + 4.0 * scales;
    t->weight_bytes = 4.0 * (norms + scales) + values;
    if (plan_stream(t, path, 4.0 * norms)) {
        check_file_size(path, expected, "int8 checkpoint");
        fclose(f);
        stream_q8(t);
        alloc_state(t);
        return;
    }
    if (expected >= ADDRESS_LIMIT ||
        t->weight_bytes + t->state_bytes >= ADDRESS_LIMIT) {
        fatal(EXIT_MEMORY,
              "%s: needs %.0f MB; a 32-bit process can address at most 2048 MB",
              path, megabytes(t->weight_bytes + t->state_bytes));
    }
    {
        long size;
        if (fseek(f, 0L, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
            (double)size != expected) {
            fatal(EXIT_INPUT,
                  "%s: file is %ld bytes but its header describes a %.0f-byte "
                  "int8 checkpoint",
                  path, size, expected);
        }
        if (fseek(f, (long)Q8_HEADER, SEEK_SET) != 0) {
            fatal(EXIT_INPUT, "%s: cannot seek", path);
        }
    }

    /* one allocation: the floats (norms, then each matrix's scales), then
     * the int8 values */
    w->memory = (float *)xmalloc(t->weight_bytes, "the weights");
    p = w->memory;
    q = (signed char *)(w->memory + (size_t)(norms + scales));
    w->rms_att = p;   p += (size_t)c->n_layers * c->dim;
    w->rms_ffn = p;   p += (size_t)c->n_layers * c->dim;
    w->rms_final = p; p += c->dim;
    read_floats(f, path, w->memory, norms, &at);
    check_finite(path, w->memory, norms, at - 4.0 * norms, "the RMS norms");
    for (i = 0; i < n_plan; i++) {
        size_t numel = (size_t)plan[i].numel, ns = numel / (size_t)gs;
        plan[i].m->q = q;
        plan[i].m->s = p;
        for (l = 0; l < (int)plan[i].count; l++) {
            read_bytes(f, path, (unsigned char *)q, (double)numel, &at);
            read_floats(f, path, p, (double)ns, &at);
            check_finite(path, p, (double)ns, at - 4.0 * ns, "the scales");
            q += numel;
            p += ns;
        }
    }
    if (c->shared_classifier) {
        w->q_wcls = w->q_emb;
    }
    if (fgetc(f) != EOF) {
        fatal(EXIT_INPUT, "%s: has bytes after the %.0f its header describes",
              path, expected);
    }
    fclose(f);
    alloc_state(t);
}

/* ------------------------------------------------------------------------
 * The forward pass
 *
 * The arithmetic is llama2.c's, operation for operation and in the same
 * order (each dot product is summed from j = 0 upwards); only the loops are
 * arranged for an x87 FPU: four rows at a time with four products per trip
 * and the constants computed once.
 */

static void rmsnorm(float *o, const float *x, const float *weight, int size)
{
    acc_t acc = 0.0f;
    float ss;
    int j;
    for (j = 0; j < size; j++) {
        acc += x[j] * x[j];
    }
    ss = (float)acc;
    ss /= (float)size;
    ss += 1e-5f;
    ss = 1.0f / (float)sqrt((double)ss);
    for (j = 0; j < size; j++) {
        o[j] = weight[j] * (ss * x[j]);
    }
}

/* out[i] = sum over j < n of w[i * stride + j] * x[j], for i < d.
 * matmul is the case stride == n; attention uses it for q . k and for the
 * weighted sum of the (transposed) values. */
/* X87_WIDE: wide_t and acc_t are long double, the x87's own registers
 * (compat.h: GCC on an x87).  There the kernels below use the FPU's
 * registers directly, and divisions become multiplications where the
 * 64-bit intermediate keeps the float result (see softmax_max).  The
 * held-x matmul kernel only for the P6 family (-march=pentiumpro and up,
 * __i686__): a 486 multiplies from memory faster (11 clocks) than from a
 * register (16), so it keeps the C loop. */
#if defined(__GNUC__) && defined(__FLT_EVAL_METHOD__)
#if __FLT_EVAL_METHOD__ == 2
#define X87_WIDE 1
#if defined(__i686__) && !defined(RL_C_DOT)
#define DOT4_X87_GCC 1
#endif
#endif
#endif

#ifdef DOT4_X87_GCC
/* Four rows times x on the x87, as a Pentium II runs it best: x[j] is
 * loaded once and held on the stack, each row's weight is loaded (the load
 * port, not the FPU's), multiplied with fmul st,st(1) and added with faddp
 * into its own accumulator; the fourth row multiplies straight from memory,
 * which pops x.  Two FPU-port uops per multiply-add, the rate at which the
 * multiplier accepts them, against 2.75 for the code GCC makes of the C
 * loop below.  The sums are the C loop's exactly (the products of two
 * floats are exact in the 64-bit registers, the additions the same in the
 * same order), rounded to float by fstps as (float) does.  Only where
 * acc_t is long double, so the x87 registers are what C would use. */
static void dot4_x87(float *out, const float *x, const float *w0,
                     const float *w1, const float *w2, const float *w3, int n)
{
    long j = -(long)n;
    if (n <= 0) {
        out[0] = out[1] = out[2] = out[3] = 0.0f;
        return;
    }
    __asm__ __volatile__("fldz\n\t"
                         "fldz\n\t"
                         "fldz\n\t"
                         "fldz\n"
                         "1:\n\t"
                         "flds (%[x],%[j],4)\n\t"
                         "flds (%[w0],%[j],4)\n\t"
                         "fmul %%st(1), %%st\n\t"
                         "faddp %%st, %%st(5)\n\t"
                         "flds (%[w1],%[j],4)\n\t"
                         "fmul %%st(1), %%st\n\t"
                         "faddp %%st, %%st(4)\n\t"
                         "flds (%[w2],%[j],4)\n\t"
                         "fmul %%st(1), %%st\n\t"
                         "faddp %%st, %%st(3)\n\t"
                         "fmuls (%[w3],%[j],4)\n\t"
                         "faddp %%st, %%st(1)\n\t"
                         "addl $1, %[j]\n\t"
                         "jnz 1b\n\t"
                         "fstps %[o3]\n\t"
                         "fstps %[o2]\n\t"
                         "fstps %[o1]\n\t"
                         "fstps %[o0]\n\t"
                         : [j] "+r"(j), [o0] "=m"(out[0]), [o1] "=m"(out[1]),
                           [o2] "=m"(out[2]), [o3] "=m"(out[3])
                         : [x] "r"(x + n), [w0] "r"(w0 + n), [w1] "r"(w1 + n),
                           [w2] "r"(w2 + n), [w3] "r"(w3 + n)
                         : "memory", "cc", "st", "st(1)", "st(2)", "st(3)",
                           "st(4)", "st(5)", "st(6)", "st(7)");
}
#endif

static void dot_rows(float *out, const float *x, const float *w, int n, int d,
                     int stride)
{
    int i, j;
    for (i = 0; i + 4 <= d; i += 4) {
        const float *w0 = w + (size_t)i * stride;
        const float *w1 = w0 + stride;
        const float *w2 = w1 + stride;
        const float *w3 = w2 + stride;
#ifdef DOT4_X87_GCC
        dot4_x87(out + i, x, w0, w1, w2, w3, n);
        continue;
#else
        acc_t a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        int n4 = n - n % 4;
        for (j = 0; j < n4; j += 4) {
            a0 += w0[j] * x[j];
            a1 += w1[j] * x[j];
            a2 += w2[j] * x[j];
            a3 += w3[j] * x[j];
            a0 += w0[j + 1] * x[j + 1];
            a1 += w1[j + 1] * x[j + 1];
            a2 += w2[j + 1] * x[j + 1];
            a3 += w3[j + 1] * x[j + 1];
            a0 += w0[j + 2] * x[j + 2];
            a1 += w1[j + 2] * x[j + 2];
            a2 += w2[j + 2] * x[j + 2];
            a3 += w3[j + 2] * x[j + 2];
            a0 += w0[j + 3] * x[j + 3];
            a1 += w1[j + 3] * x[j + 3];
            a2 += w2[j + 3] * x[j + 3];
            a3 += w3[j + 3] * x[j + 3];
        }
        for (; j < n; j++) {
            a0 += w0[j] * x[j];
            a1 += w1[j] * x[j];
            a2 += w2[j] * x[j];
            a3 += w3[j] * x[j];
        }
        out[i] = (float)a0;
        out[i + 1] = (float)a1;
        out[i + 2] = (float)a2;
        out[i + 3] = (float)a3;
#endif
    }
    for (; i < d; i++) {
        const float *w0 = w + (size_t)i * stride;
        acc_t a0 = 0.0f;
        for (j = 0; j < n; j++) {
            a0 += w0[j] * x[j];
        }
        out[i] = (float)a0;
    }
}

/* W (d, n) times x (n): the d outputs */
static void matmul(float *out, const float *x, const float *w, int n, int d)
{
    dot_rows(out, x, w, n, d, n);
}

/* e^x as a float, for softmax and SiLU, within about 1e-9 relative of the
 * true value before the final rounding (so llama2.c's expf and this function
 * agree to an ulp), in about 35 x87 instructions instead of ~60 for a
 * polynomial of degree 6 and more for a libm call.
 *
 * With t = x * 256 / ln2 rounded to the integer n = 256 k + j (0 <= j < 256)
 * and r = t - n (|r| <= 1/2):  e^x = 2^k * 2^(j/256) * 2^(r/256).
 * 2^k * 2^(j/256) comes from a table of float bit patterns with k added to
 * the exponent field; the table's own rounding error (exp_fix[j], relative)
 * and 2^(r/256) - 1 (a quadratic, error below 5e-10) are added together as
 * small terms.  n is found by adding 1.5 * 2^23 to t and storing the sum as a
 * float, which rounds it to an integer on every compiler and FPU precision
 * setting; its bits then hold n, offset so that all the integer work is
 * unsigned.  t is computed in wide_t (long double on an x87 under gcc,
 * double elsewhere) so that its rounding error stays far below an ulp.
 */
typedef char
    u32_must_have_32_bits[sizeof(u32) == 4 && sizeof(float) == 4 ? 1 : -1];

#define EXP_MAGIC 12582912.0f /* 1.5 * 2^23 */
#define EXP_MAGIC_BITS 0x4B400000UL
#define EXP_TABLE 256                 /* entries per octave */
#define EXP_K_BIAS 128UL              /* k + EXP_K_BIAS is never negative */
#define EXP_K_LOW 3UL                 /* k >= -125: a normal float ... */
#define EXP_K_SPAN 251UL              /* ... and k <= 125 */
#define EXP_SCALE 369.329930467574632 /* 256 / ln 2 */

typedef union {
    float f;
    u32 i;
} float_bits;

static u32
    exp_bits[EXP_TABLE]; /* bits of 2^(j/256) as a float, minus k = 128 */
static float exp_fix[EXP_TABLE]; /* 2^(j/256) / that float - 1 */
static float exp_c1, exp_c2; /* ln 2 / 256 and its square / 2: 2^(r/256) - 1 */

static void fill_exp_table(void)
{
    float_bits b;
    int j;
    for (j = 0; j < EXP_TABLE; j++) {
        double v = pow(2.0, (double)j / EXP_TABLE);
        b.f = (float)v;
        exp_fix[j] = (float)((v - (double)b.f) / (double)b.f);
        exp_bits[j] = (b.i - (EXP_K_BIAS << 23)) & 0xFFFFFFFFUL;
    }
    /* floats are plenty: r * exp_c1 stays below 2e-3 */
    exp_c1 = (float)(log(2.0) / EXP_TABLE);
    exp_c2 = (float)((log(2.0) / EXP_TABLE) * (log(2.0) / EXP_TABLE) / 2.0);
}

/* out[i] = e^(sign * (in[i] - shift)) for i < n, sign being 1 or -1 (out
 * may be in); returns the sum of the results, added up in order.  One loop, so
 * that the constants and the call overhead are paid once per vector. */
static acc_t exp_vector(float *out, const float *in, int n, float sign,
                        float shift)
{
    float_bits round_n, scale;
    wide_t ks = sign * (wide_t)EXP_SCALE;
    wide_t bias = EXP_MAGIC - shift * ks;
    acc_t sum = 0.0f;
    float *end = out + n;
    for (; out < end; out++, in++) {
        /* t + 1.5 * 2^23 = in * ks + bias, to about 2^-29 in a wide_t, so
         * that r = t - n below has an error below 1e-8 of its range.  Unlike
         * llama2.c, in - shift is never rounded to a float on the way. */
        wide_t tm = *in * ks + bias;
        wide_t r, s;
        u32 u, kb;
        round_n.f = (float)tm;
        u = (round_n.i - EXP_MAGIC_BITS + (EXP_K_BIAS << 8)) & 0xFFFFFFFFUL;
        kb = u >> 8;
        if (kb - EXP_K_LOW <= EXP_K_SPAN) {
            r = tm - round_n.f;
            scale.i = exp_bits[u & (EXP_TABLE - 1)] + (kb << 23);
            s = scale.f;
            *out = (float)(s * ((exp_c2 * r + exp_c1) * r +
                                exp_fix[u & (EXP_TABLE - 1)]) +
                           s);
        } else {
            /* outside the fast range (or NaN): the library's exp */
            *out = (float)exp((double)((tm - EXP_MAGIC) / EXP_SCALE));
        }
        sum += *out;
    }
    return sum;
}

/* softmax of x, whose largest entry the caller already knows.
 * The sum is rounded to a float as llama2.c's is.  On the x87 (X87_WIDE)
 * one division and a multiplication per entry replace a division each (an
 * fdiv costs as much as nineteen fmuls there): the 64-bit product rounds to
 * the same float as the 64-bit quotient the x87's own fdiv would give,
 * except when both lie within 2^-62 of a float's rounding boundary -- the
 * same rare double rounding every x87 division to a float has.  In double
 * (the other builds) that margin would be 2^-52, a flip every few million
 * entries: they keep llama2.c's division. */
static void softmax_max(float *x, int size, float max_val)
{
    float sum = (float)exp_vector(x, x, size, 1.0f, max_val);
    float *end = x + size;
#ifdef X87_WIDE
    wide_t inv = (wide_t)1.0 / sum;
    for (; x < end; x++) {
        *x = (float)(*x * inv);
    }
#else
    for (; x < end; x++) {
        *x /= sum;
    }
#endif
}

static void softmax(float *x, int size)
{
    float max_val = x[0];
    int i;
    for (i = 1; i < size; i++) {
        if (x[i] > max_val) {
            max_val = x[i];
        }
    }
    softmax_max(x, size, max_val);
}

/* Rotates pairs (v[2p], v[2p+1]) of the first `width` entries of v by the
 * angles of this position's rope row. */
static void rotate(float *v, int width, const float *rope, int pairs)
{
    int i, p = 0;
    for (i = 0; i < width; i += 2) {
        float fcr = rope[2 * p], fci = rope[2 * p + 1];
        float v0 = v[i], v1 = v[i + 1];
        v[i] = v0 * fcr - v1 * fci;
        v[i + 1] = v0 * fci + v1 * fcr;
        if (++p == pairs) {
            p = 0;
        }
    }
}

/* out (d) = layer l's matrix (d, n) times x (n), fp32 or int8.  For int8
 * the activation is quantized first unless `quantized` says the previous
 * call already did it for the same x (runq.c quantizes x once for q, k, v). */
/* ------------------------------------------------------------------------
 * Weights streamed from disk (-b)
 *
 * When the weights do not fit the memory budget, only the norms, the run
 * state, the classifier (if it fits) and one reusable buffer stay in
 * memory; every linear() reads its matrix for this layer from the file,
 * whole or in blocks of rows, with large sequential reads, and multiplies
 * it there.  Each output row is the same sum over the same values in the
 * same order as in memory, so the tokens are the same, byte for byte.
 */

/* Reads n bytes at file offset `at` into dst. */
static void stream_read(Transformer *t, void *dst, double at, double n)
{
    Stream *st = &t->stream;
    unsigned char *p = (unsigned char *)dst;
    if (!platform_seek(st->file, at)) {
        fatal(EXIT_INPUT, "%s: cannot seek to byte %.0f", st->path, at);
    }
    st->bytes_read += n;
    while (n > 0.0) {
        unsigned long want =
            n > (double)CHUNK_BYTES * 8 ? (unsigned long)CHUNK_BYTES * 8
                                        : (unsigned long)n;
        unsigned long got = platform_read(st->file, p, want);
        if (got != want) {
            fatal(EXIT_INPUT, "%s: read error or file ended at byte %.0f",
                  st->path, at + (double)got);
        }
        p += got;
        at += (double)got;
        n -= (double)got;
    }
}

/* Reads n floats at `at` (decoding them on a host that is not IEEE
 * little-endian) and refuses NaN and infinity, as the in-memory load does. */
static void stream_floats(Transformer *t, float *dst, double at, double n,
                          const char *what)
{
    stream_read(t, dst, at, 4.0 * n);
    if (!host_is_ieee_le) {
        unsigned char *bytes = (unsigned char *)dst;
        double i;
        for (i = 0.0; i < n; i += 1.0, bytes += 4) {
            float v = le_float(bytes);
            memcpy(bytes, &v, 4);
        }
    }
    check_finite(t->stream.path, dst, n, at, what);
}

/* The matrix kind of a linear() call, from the int8 descriptor it gets
 * (fp32 calls pass it too). */
static int stream_kind(const Transformer *t, const QMat *m)
{
    const Weights *w = &t->w;
    const QMat *kinds[M_KINDS];
    int k;
    kinds[M_EMB] = &w->q_emb;
    kinds[M_WQ] = &w->q_wq;
    kinds[M_WK] = &w->q_wk;
    kinds[M_WV] = &w->q_wv;
    kinds[M_WO] = &w->q_wo;
    kinds[M_W1] = &w->q_w1;
    kinds[M_W2] = &w->q_w2;
    kinds[M_W3] = &w->q_w3;
    kinds[M_CLS] = &w->q_wcls;
    for (k = 0; k < M_KINDS; k++) {
        if (kinds[k] == m) {
            return k;
        }
    }
    return M_CLS;
}

/* Bytes of the int8 values of `rows` rows in the buffer, rounded up so the
 * scales after them are aligned. */
static size_t values_room(double count)
{
    return ((size_t)count + 7) / 8 * 8;
}

/* out (d) = this layer's matrix of kind k (d, n) times x, read from disk
 * in blocks of st->rows[k] rows. */
static void stream_linear(Transformer *t, int k, float *out, const float *x,
                          int l, int n, int d, int quantized)
{
    Stream *st = &t->stream;
    RunState *s = &t->s;
    int gs = t->w.gs, r, rows;
    double base = st->base[k] + (double)l * st->stride[k];
    if (gs > 0 && !quantized) {
        q8_quantize(s->xq, s->xs, x, n, gs);
    }
    for (r = 0; r < d; r += rows) {
        rows = d - r < st->rows[k] ? d - r : st->rows[k];
        if (gs == 0) {
            float *wf = (float *)st->buf;
            stream_floats(t, wf, base + 4.0 * r * n, (double)rows * n,
                          "the weights");
            matmul(out + r, x, wf, n, rows);
        } else {
            /* rows[k] keeps r * n a multiple of gs: this block's scales
             * start at a whole group */
            double first = (double)r * n / gs;
            double last = floor(((double)r + rows) * n / gs);
            signed char *wq = (signed char *)st->buf;
            float *ws = (float *)(st->buf + values_room((double)rows * n));
            stream_read(t, wq, base + (double)r * n, (double)rows * n);
            stream_floats(t, ws, base + st->numel[k] + 4.0 * first,
                          last - first, "the scales");
            q8_matmul(out + r, s->xq, s->xs, wq, ws, n, rows, gs);
        }
    }
}

static void stream_embedding(Transformer *t, int token, float *x)
{
    Stream *st = &t->stream;
    int dim = t->config.dim, gs = t->w.gs;
    double row = (double)token * dim;
    if (gs == 0) {
        stream_floats(t, x, st->base[M_EMB] + 4.0 * row, dim, "the weights");
    } else {
        signed char *q = (signed char *)st->buf;
        float *sc = (float *)(st->buf + values_room(dim));
        stream_read(t, q, st->base[M_EMB] + row, dim);
        stream_floats(t, sc,
                      st->base[M_EMB] + st->numel[M_EMB] + 4.0 * row / gs,
                      dim / gs, "the scales");
        q8_dequantize(x, q, sc, 0L, dim, gs);
    }
}

static long gcd_long(long a, long b)
{
    while (b != 0) {
        long r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Rows a block of kind k must be a multiple of: 4 (dot_rows' row groups)
 * and, for int8, enough rows that every block starts at a whole group. */
static long row_unit(const Transformer *t, int n)
{
    long unit = 4, gs = t->w.gs;
    if (gs > 0) {
        long g = gs / gcd_long((long)n, gs);
        unit = g * 4 / gcd_long(g, 4L);
    }
    return unit;
}

/* Bytes a block of `rows` rows of width n takes in the buffer. */
static double block_bytes(const Transformer *t, double rows, int n)
{
    int gs = t->w.gs;
    if (gs == 0) {
        return 4.0 * rows * n;
    }
    return (double)values_room(rows * n) + 4.0 * (floor(rows * n / gs) + 1.0);
}

/* Decides between weights in memory and weights streamed from disk.
 * `fixed` is what the run needs besides the weights; returns 1 (and plans
 * st) when the weights must be streamed. */
static int plan_stream(Transformer *t, const char *path, double norm_bytes)
{
    const Config *c = &t->config;
    Stream *st = &t->stream;
    int gs = t->w.gs, k;
    int rows_of[M_KINDS], cols_of[M_KINDS];
    double vocab = c->vocab_size, fixed, avail, min_buf = 0.0, layer_max = 0.0;
    double cls_bytes, emb_row;

    if (t->budget <= 0.0) {
        return 0;
    }
    /* tokenizer and sampler (vocab strings, scores, index, sort scratch),
     * and 1 MB for the program, its stack and the C library */
    fixed = t->state_bytes +
            vocab * (2.0 * sizeof(void *) + 3.0 * sizeof(float) +
                     4.0 * (sizeof(void *) + sizeof(int)) + 16.0) +
            1048576.0;
    if (t->weight_bytes + fixed <= t->budget) {
        return 0;
    }
    rows_of[M_EMB] = rows_of[M_CLS] = c->vocab_size;
    rows_of[M_WQ] = rows_of[M_WO] = c->dim;
    rows_of[M_WK] = rows_of[M_WV] = t->kv_dim;
    rows_of[M_W1] = rows_of[M_W3] = c->hidden_dim;
    rows_of[M_W2] = c->dim;
    for (k = 0; k < M_KINDS; k++) {
        cols_of[k] = k == M_W2 ? c->hidden_dim : c->dim;
    }
    cls_bytes = block_bytes(t, vocab, c->dim);
    emb_row = block_bytes(t, 1.0, c->dim);
    for (k = M_WQ; k <= M_CLS; k++) {
        double unit = block_bytes(t, (double)row_unit(t, cols_of[k]),
                                  cols_of[k]);
        if (unit > min_buf) {
            min_buf = unit;
        }
        if (k != M_CLS &&
            block_bytes(t, rows_of[k], cols_of[k]) > layer_max) {
            layer_max = block_bytes(t, rows_of[k], cols_of[k]);
        }
    }
    if (emb_row > min_buf) {
        min_buf = emb_row;
    }
    avail = t->budget - fixed - norm_bytes;
    if (avail < min_buf && t->budget_reported) {
        return 0; /* the system reports less than streaming needs: load it
                     whole, as llama2.c would, and let paging decide */
    }
    if (avail < min_buf) {
        fatal(EXIT_MEMORY,
              "-b %.0f MB is too small for %s: the run state, norms and "
              "tokenizer need %.0f MB and a block of weights %.0f MB more",
              t->budget / 1048576.0, path,
              megabytes(fixed + norm_bytes), megabytes(min_buf));
    }
    st->cls_resident = avail - cls_bytes >= layer_max;
    st->emb_resident = st->cls_resident && c->shared_classifier;
    st->buf_bytes = st->cls_resident ? layer_max
                                     : (layer_max > cls_bytes ? layer_max
                                                               : cls_bytes);
    if (st->buf_bytes > (st->cls_resident ? avail - cls_bytes : avail)) {
        st->buf_bytes = st->cls_resident ? avail - cls_bytes : avail;
    }
    if (st->buf_bytes < min_buf) {
        st->buf_bytes = min_buf;
    }
    for (k = 0; k < M_KINDS; k++) {
        long unit = row_unit(t, cols_of[k]);
        double per_row = block_bytes(t, (double)unit, cols_of[k]) / unit;
        long rows = (long)(st->buf_bytes / per_row) / unit * unit;
        while (rows > unit
               && block_bytes(t, rows, cols_of[k]) > st->buf_bytes) {
            rows -= unit;
        }
        if (rows < unit) {
            rows = unit;
        }
        st->rows[k] = rows > rows_of[k] ? rows_of[k] : (int)rows;
    }
    /* what every forward() reads */
    st->token_bytes = 0.0;
    for (k = M_WQ; k <= M_W3; k++) {
        double numel = (double)rows_of[k] * cols_of[k];
        st->token_bytes += c->n_layers *
                           (gs == 0 ? 4.0 * numel
                                    : numel + 4.0 * floor(numel / gs));
    }
    if (!st->cls_resident) {
        double numel = vocab * c->dim;
        st->token_bytes += gs == 0 ? 4.0 * numel
                                   : numel + 4.0 * floor(numel / gs);
    }
    if (!st->emb_resident) {
        st->token_bytes += gs == 0 ? 4.0 * c->dim
                                   : c->dim + 4.0 * (c->dim / gs);
    }
    st->path = path;
    t->weight_bytes = norm_bytes + (st->cls_resident ? cls_bytes : 0.0) +
                      st->buf_bytes;
    return 1;
}

/* Opens the stream on the file layout in st->base, stride and numel:
 * allocates the norms (read from norms_at, each n_layers * dim floats but
 * the last, dim) with the resident classifier in one block, and the
 * buffer. */
static void open_stream(Transformer *t, const double *norms_at)
{
    Stream *st = &t->stream;
    Weights *w = &t->w;
    const Config *c = &t->config;
    double ln = (double)c->n_layers * c->dim;
    double n = (double)c->vocab_size * c->dim;
    double ns = w->gs > 0 ? floor(n / w->gs) : 0.0;
    double cls = !st->cls_resident ? 0.0 : w->gs == 0 ? 4.0 * n : 4.0 * ns + n;
    float *p;

    st->file = platform_open(st->path);
    if (st->file == NULL) {
        fatal(EXIT_INPUT, "%s: cannot open the checkpoint", st->path);
    }
    w->memory = (float *)xmalloc(4.0 * (2.0 * ln + c->dim) + cls,
                                 "the norms and the classifier");
    p = w->memory;
    w->rms_att = p;   p += (size_t)ln;
    w->rms_ffn = p;   p += (size_t)ln;
    w->rms_final = p; p += c->dim;
    stream_floats(t, w->rms_att, norms_at[0], ln, "the RMS norms");
    stream_floats(t, w->rms_ffn, norms_at[1], ln, "the RMS norms");
    stream_floats(t, w->rms_final, norms_at[2], c->dim, "the RMS norms");
    if (st->cls_resident && w->gs == 0) {
        w->wcls = p;
        stream_floats(t, w->wcls, st->base[M_CLS], n, "the weights");
        if (c->shared_classifier) {
            w->token_embedding = w->wcls;
        }
    } else if (st->cls_resident) {
        w->q_wcls.s = p;
        w->q_wcls.q = (signed char *)(p + (size_t)ns);
        stream_read(t, w->q_wcls.q, st->base[M_CLS], n);
        stream_floats(t, w->q_wcls.s, st->base[M_CLS] + n, ns, "the scales");
        if (c->shared_classifier) {
            w->q_emb = w->q_wcls;
        }
    }
    st->buf = (unsigned char *)xmalloc(st->buf_bytes, "the weight buffer");
    st->bytes_read = 0.0;
}

/* The file layout of a streamed fp32 checkpoint (see build_transformer). */
static void stream_fp32(Transformer *t)
{
    const Config *c = &t->config;
    Stream *st = &t->stream;
    double D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    double KV = t->kv_dim, o = 28.0, norms_at[3];
    double numel[M_KINDS];
    int k;
    numel[M_EMB] = numel[M_CLS] = V * D;
    numel[M_WQ] = numel[M_WO] = D * D;
    numel[M_WK] = numel[M_WV] = KV * D;
    numel[M_W1] = numel[M_W2] = numel[M_W3] = H * D;
    for (k = 0; k < M_KINDS; k++) {
        st->numel[k] = numel[k];
        st->stride[k] = 4.0 * numel[k];
    }
#define PLACE(k) (st->base[k] = o, o += (k == M_EMB ? 1.0 : L) * st->stride[k])
    PLACE(M_EMB);
    norms_at[0] = o;
    o += 4.0 * L * D;
    PLACE(M_WQ);
    PLACE(M_WK);
    PLACE(M_WV);
    PLACE(M_WO);
    norms_at[1] = o;
    o += 4.0 * L * D;
    PLACE(M_W1);
    PLACE(M_W2);
    PLACE(M_W3);
#undef PLACE
    norms_at[2] = o;
    o += 4.0 * D + 4.0 * 2.0 * floor((double)c->seq_len * t->head_size / 2.0);
    st->base[M_CLS] = c->shared_classifier ? st->base[M_EMB] : o;
    open_stream(t, norms_at);
}

/* The file layout of a streamed int8 checkpoint (see build_transformer_q8). */
static void stream_q8(Transformer *t)
{
    const Config *c = &t->config;
    Stream *st = &t->stream;
    double D = c->dim, H = c->hidden_dim, L = c->n_layers, V = c->vocab_size;
    double KV = t->kv_dim, o, norms_at[3];
    int k, gs = t->w.gs;
    st->numel[M_EMB] = st->numel[M_CLS] = V * D;
    st->numel[M_WQ] = st->numel[M_WO] = D * D;
    st->numel[M_WK] = st->numel[M_WV] = KV * D;
    st->numel[M_W1] = st->numel[M_W2] = st->numel[M_W3] = H * D;
    norms_at[0] = Q8_HEADER;
    norms_at[1] = Q8_HEADER + 4.0 * L * D;
    norms_at[2] = Q8_HEADER + 8.0 * L * D;
    o = Q8_HEADER + 4.0 * (2.0 * L + 1.0) * D;
    for (k = 0; k < M_KINDS; k++) {
        st->stride[k] = st->numel[k] + 4.0 * floor(st->numel[k] / gs);
        if (k == M_CLS && c->shared_classifier) {
            st->base[k] = st->base[M_EMB];
            continue;
        }
        st->base[k] = o;
        o += (k == M_EMB || k == M_CLS ? 1.0 : L) * st->stride[k];
    }
    open_stream(t, norms_at);
}

static void linear(Transformer *t, float *out, const float *x, const float *wf,
                   const QMat *wq, int l, int n, int d, int quantized)
{
    RunState *s = &t->s;
    int gs = t->w.gs;
    size_t off = (size_t)l * n * d;
    if (t->stream.file != NULL &&
        (wq != &t->w.q_wcls || !t->stream.cls_resident)) {
        stream_linear(t, stream_kind(t, wq), out, x, l, n, d, quantized);
        return;
    }
    if (gs == 0) {
        matmul(out, x, wf + off, n, d);
        return;
    }
    if (!quantized) {
        q8_quantize(s->xq, s->xs, x, n, gs);
    }
    q8_matmul(out, s->xq, s->xs, wq->q + off, wq->s + off / gs, n, d, gs);
}

static void stream_embedding(Transformer *t, int token, float *x);

/* x = the embedding of token: a row of the table in memory, or read from
 * the file when the weights are streamed. */
static void embed(Transformer *t, int token, float *x)
{
    const Weights *w = &t->w;
    int dim = t->config.dim;
    if (t->stream.file != NULL && !t->stream.emb_resident) {
        stream_embedding(t, token, x);
    } else if (w->gs > 0) {
        /* int8: dequantize this one row of the table */
        q8_dequantize(x, w->q_emb.q, w->q_emb.s, (long)token * dim, dim, w->gs);
    } else {
        memcpy(x, w->token_embedding + (size_t)token * dim,
               (size_t)dim * sizeof(float));
    }
}

static float *forward_q8kv(Transformer *t, int token, int pos);

static float *forward(Transformer *t, int token, int pos)
{
    const Config *c = &t->config;
    const Weights *w = &t->w;
    RunState *s = &t->s;
    float *x = s->x;
    int dim = c->dim, hidden = c->hidden_dim, kv_dim = t->kv_dim,
        hs = t->head_size;
    float scale = (float)sqrt((double)hs), max_att;
#ifdef X87_WIDE
    wide_t inv_scale = (wide_t)1.0 / scale;
#define SCALE_SCORE(v) ((float)((v) * inv_scale))
#else
#define SCALE_SCORE(v) ((v) / scale)
#endif
    const float *rope;
    int l, h, i;

    if (t->kv_q8) {
        return forward_q8kv(t, token, pos);
    }
    rope = rope_row(t, pos);
    embed(t, token, x);

    for (l = 0; l < c->n_layers; l++) {
        size_t loff = (size_t)l * t->steps * kv_dim;
        float *k = s->key_cache + loff + (size_t)pos * kv_dim;
        float *vt = s->value_cache + loff; /* row c holds entry c of every v */

        rmsnorm(s->xb, x, w->rms_att + (size_t)l * dim, dim);
        linear(t, s->q, s->xb, w->wq, &w->q_wq, l, dim, dim, 0);
        linear(t, k, s->xb, w->wk, &w->q_wk, l, dim, kv_dim, 1);
        linear(t, s->xb2, s->xb, w->wv, &w->q_wv, l, dim, kv_dim, 1);
        for (i = 0; i < kv_dim; i++) {
            vt[(size_t)i * t->steps + pos] = s->xb2[i];
        }
        rotate(s->q, dim, rope, t->rope_pairs);
        rotate(k, kv_dim, rope, t->rope_pairs);

        for (h = 0; h < c->n_heads; h++) {
            float *att = s->att + (size_t)h * t->steps;
            size_t kv_off = loff + (size_t)(h / t->kv_mul) * hs;
            dot_rows(att, s->q + (size_t)h * hs, s->key_cache + kv_off, hs,
                     pos + 1, kv_dim);
            /* the scores' scaling and softmax's search for the maximum
             * in one pass; on the x87 a multiplication by 1 / scale held
             * in 64 bits rounds to the float quotient (see softmax_max) */
            att[0] = SCALE_SCORE(att[0]);
            max_att = att[0];
            for (i = 1; i <= pos; i++) {
                att[i] = SCALE_SCORE(att[i]);
                if (att[i] > max_att) {
                    max_att = att[i];
                }
            }
            softmax_max(att, pos + 1, max_att);
            /* the attention-weighted sum of the values: with the value
             * cache stored transposed it is a matmul like any other */
            dot_rows(s->xb + (size_t)h * hs, att,
                     vt + (size_t)(h / t->kv_mul) * hs * t->steps, pos + 1, hs,
                     t->steps);
        }

        linear(t, s->xb2, s->xb, w->wo, &w->q_wo, l, dim, dim, 0);
        for (i = 0; i < dim; i++) {
            x[i] += s->xb2[i];
        }

        rmsnorm(s->xb, x, w->rms_ffn + (size_t)l * dim, dim);
        linear(t, s->hb, s->xb, w->w1, &w->q_w1, l, dim, hidden, 0);
        linear(t, s->hb2, s->xb, w->w3, &w->q_w3, l, dim, hidden, 1);
        /* SiLU(hb) * hb2, with e^-hb computed as one vector first */
        exp_vector(s->hexp, s->hb, hidden, -1.0f, 0.0f);
        for (i = 0; i < hidden; i++) {
            float val = s->hb[i];
            val *= 1.0f / (1.0f + s->hexp[i]);
            val *= s->hb2[i];
            s->hb[i] = val;
        }
        linear(t, s->xb, s->hb, w->w2, &w->q_w2, l, hidden, dim, 0);
        for (i = 0; i < dim; i++) {
            x[i] += s->xb[i];
        }
    }

    rmsnorm(x, x, w->rms_final, dim);
    linear(t, s->logits, x, w->wcls, &w->q_wcls, 0, dim, c->vocab_size, 0);
    return s->logits;
}
#undef SCALE_SCORE

/* ------------------------------------------------------------------------
 * The int8 KV cache (-k q8)
 *
 * runq.c keeps keys and values in float32: 8.4 MB for a 42M model at 256
 * positions.  Here each position's key and value are stored per kv head as
 * int8 values and one float scale (max |v| / 127, rounded as q8_quantize
 * rounds), a quarter of the memory.  Attention then reads k = q * scale:
 * scores and the weighted sum of the values differ from the float cache by
 * that rounding, so -k q8 is NOT bit-exact with runq.c or run.c (the
 * default, -k f32, is).
 */

static void kv_quantize(signed char *q, float *scale, const float *x, int n,
                        int hs)
{
    int h, i;
    for (h = 0; h < n / hs; h++) {
        const float *xh = x + (size_t)h * hs;
        signed char *qh = q + (size_t)h * hs;
        float wmax = 0.0f, sc;
        for (i = 0; i < hs; i++) {
            float a = xh[i] < 0.0f ? -xh[i] : xh[i];
            if (a > wmax) {
                wmax = a;
            }
        }
        sc = wmax / 127.0f;
        scale[h] = sc;
        for (i = 0; i < hs; i++) {
            double r = sc > 0.0f ? (double)(xh[i] / sc) : 0.0;
            if (!(r >= -127.0 && r <= 127.0)) {
                r = r > 0.0 ? 127.0 : r < 0.0 ? -127.0 : 0.0;
            }
            qh[i] = (signed char)(r < 0.0 ? -(long)(0.5 - r) : (long)(r + 0.5));
        }
    }
}

/* Layer l's attention at position pos with the int8 cache: s->q (already
 * computed) against every cached key, into s->xb.  Computes this
 * position's k and v first (the input xb quantized by the wq call). */
static void attention_q8(Transformer *t, int l, int pos, const float *rope)
{
    const Config *c = &t->config;
    const Weights *w = &t->w;
    RunState *s = &t->s;
    int kv_dim = t->kv_dim, hs = t->head_size, kvh = c->n_kv_heads;
    size_t row = ((size_t)l * t->steps + pos); /* (layer, position) */
    float scale = (float)sqrt((double)hs);
    int h, i, p;

    linear(t, s->k_new, s->xb, w->wk, &w->q_wk, l, c->dim, kv_dim, 1);
    linear(t, s->xb2, s->xb, w->wv, &w->q_wv, l, c->dim, kv_dim, 1);
    rotate(s->q, c->dim, rope, t->rope_pairs);
    rotate(s->k_new, kv_dim, rope, t->rope_pairs);
    kv_quantize(s->kq + row * kv_dim, s->kscale + row * kvh, s->k_new, kv_dim,
                hs);
    kv_quantize(s->vq + row * kv_dim, s->vscale + row * kvh, s->xb2, kv_dim,
                hs);

    for (h = 0; h < c->n_heads; h++) {
        const float *qh = s->q + (size_t)h * hs;
        float *att = s->att + (size_t)h * t->steps;
        float *out = s->xb + (size_t)h * hs;
        int g = h / t->kv_mul;
        size_t first = (size_t)l * t->steps; /* row of position 0 */
        float max_att = 0.0f;
        for (p = 0; p <= pos; p++) {
            const signed char *k =
                s->kq + (first + p) * kv_dim + (size_t)g * hs;
            acc_t dot = 0.0f;
            for (i = 0; i < hs; i++) {
                dot += qh[i] * (float)k[i];
            }
            att[p] = (float)dot * s->kscale[(first + p) * kvh + g] / scale;
            if (p == 0 || att[p] > max_att) {
                max_att = att[p];
            }
        }
        softmax_max(att, pos + 1, max_att);
        for (i = 0; i < hs; i++) {
            out[i] = 0.0f;
        }
        for (p = 0; p <= pos; p++) {
            const signed char *v =
                s->vq + (first + p) * kv_dim + (size_t)g * hs;
            float a = att[p] * s->vscale[(first + p) * kvh + g];
            for (i = 0; i < hs; i++) {
                out[i] += a * (float)v[i];
            }
        }
    }
}

/* forward() with the int8 KV cache: the same layer, attention_q8 in place
 * of the float cache's attention. */
static float *forward_q8kv(Transformer *t, int token, int pos)
{
    const Config *c = &t->config;
    const Weights *w = &t->w;
    RunState *s = &t->s;
    float *x = s->x;
    int dim = c->dim, hidden = c->hidden_dim;
    const float *rope = rope_row(t, pos);
    int l, i;

    embed(t, token, x);
    for (l = 0; l < c->n_layers; l++) {
        rmsnorm(s->xb, x, w->rms_att + (size_t)l * dim, dim);
        linear(t, s->q, s->xb, w->wq, &w->q_wq, l, dim, dim, 0);
        attention_q8(t, l, pos, rope);
        linear(t, s->xb2, s->xb, w->wo, &w->q_wo, l, dim, dim, 0);
        for (i = 0; i < dim; i++) {
            x[i] += s->xb2[i];
        }
        rmsnorm(s->xb, x, w->rms_ffn + (size_t)l * dim, dim);
        linear(t, s->hb, s->xb, w->w1, &w->q_w1, l, dim, hidden, 0);
        linear(t, s->hb2, s->xb, w->w3, &w->q_w3, l, dim, hidden, 1);
        exp_vector(s->hexp, s->hb, hidden, -1.0f, 0.0f);
        for (i = 0; i < hidden; i++) {
            float val = s->hb[i];
            val *= 1.0f / (1.0f + s->hexp[i]);
            val *= s->hb2[i];
            s->hb[i] = val;
        }
        linear(t, s->xb, s->hb, w->w2, &w->q_w2, l, hidden, dim, 0);
        for (i = 0; i < dim; i++) {
            x[i] += s->xb[i];
        }
    }
    rmsnorm(x, x, w->rms_final, dim);
    linear(t, s->logits, x, w->wcls, &w->q_wcls, 0, dim, c->vocab_size, 0);
    return s->logits;
}

/* ------------------------------------------------------------------------
 * Sorting
 *
 * The C libraries' qsort order equal keys differently (glibc's is stable,
 * msvcrt's, Borland's and Watcom's are not), so the engine sorts with its
 * own merge sort. Both comparisons below are total orders, which makes the
 * result unique whatever the sort.
 */

typedef int (*before_fn)(const void *a, const void *b);

static void merge_sort(void *base, size_t n, size_t size, void *scratch,
                       before_fn before)
{
    char *src = (char *)base, *dst = (char *)scratch, *tmp;
    size_t width, lo;
    for (width = 1; width < n; width *= 2) {
        for (lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                if (before(src + b * size, src + a * size)) {
                    memcpy(dst + k++ * size, src + b++ * size, size);
                } else {
                    memcpy(dst + k++ * size, src + a++ * size, size);
                }
            }
            memcpy(dst + k * size, src + a * size, (mid - a) * size);
            k += mid - a;
            memcpy(dst + k * size, src + b * size, (hi - b) * size);
        }
        tmp = src;
        src = dst;
        dst = tmp;
    }
    if (src != (char *)base) {
        memcpy(base, src, n * size);
    }
}

/* ------------------------------------------------------------------------
 * The tokenizer: tokenizer.bin, BPE encoding, decoding
 */

typedef struct {
    const char *str;
    int id;
} TokenIndex;

typedef struct {
    char **vocab;
    char *pool;              /* the token strings, NUL-terminated */
    /* What only encoding reads, in one block (`encoding`) so that it can
     * go back in one piece once a prompt is encoded: */
    char *encoding;
    TokenIndex *sorted;      /* sorted on the first non-empty encode */
    float *scores;
    int sorted_ready;
    int vocab_size;
    int max_token_length;
    unsigned char byte_pieces[512]; /* "\x00\0\x01\0..." for <0xHH> tokens */
    char *merge_buffer;
} Tokenizer;

static int token_before(const void *a, const void *b)
{
    const TokenIndex *x = (const TokenIndex *)a, *y = (const TokenIndex *)b;
    int c = strcmp(x->str, y->str);
    return c < 0 || (c == 0 && x->id < y->id);
}

/* Reads tokenizer.bin token by token, straight into its place: the token
 * strings are what the file holds beyond its header and the 8 bytes per
 * token, so the pool is sized from the file size and no copy of the whole
 * file is ever held (on a 32000-token vocabulary that saves 0.7 MB of peak
 * memory).  A file whose strings would overflow the pool cannot hold the
 * model's vocabulary; the rest of it is then only counted, for the
 * message. */
static void build_tokenizer(Tokenizer *t, const char *path, int vocab_size)
{
    FILE *f = fopen(path, "rb");
    unsigned char head[8];
    long size = 0, max_len;
    double strings;
    size_t off, used = 0, cap;
    int i, counting = 0;

    if (f == NULL) {
        fatal(EXIT_INPUT, "%s: cannot open the tokenizer", path);
    }
    if (fseek(f, 0L, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0L, SEEK_SET) != 0) {
        fatal(EXIT_INPUT, "%s: cannot find the size of the tokenizer", path);
    }
    if (size > 256L * 1048576L) {
        fatal(EXIT_INPUT, "%s: larger than 256 MB; not a tokenizer", path);
    }
    if (size < 4 || fread(head, 1, 4, f) != 4) {
        fatal(EXIT_INPUT, "%s: file too short (%lu bytes) for a tokenizer",
              path, (unsigned long)(size < 4 ? size : 0));
    }
    max_len = le_int32(head);
    if (max_len <= 0 || max_len > MAX_TOKEN_BYTES) {
        fatal(EXIT_INPUT,
              "%s: max_token_length is %ld; not a llama2.c tokenizer", path,
              max_len);
    }

    strings = (double)size - 4.0 - 8.0 * vocab_size;
    cap = (size_t)(strings > 0.0 ? strings : 0.0) + (size_t)vocab_size;
    t->vocab_size = vocab_size;
    t->max_token_length = (int)max_len;
    t->vocab =
        (char **)xmalloc((double)vocab_size * sizeof(char *), "the vocabulary");
    t->encoding = (char *)xmalloc(
        (double)vocab_size * (sizeof(TokenIndex) + sizeof(float)),
        "the token scores and the sorted vocabulary");
    t->sorted = (TokenIndex *)t->encoding;
    t->scores = (float *)(t->sorted + vocab_size);
    t->sorted_ready = 0;
    t->pool = (char *)xmalloc((double)cap, "the token strings");
    t->merge_buffer = (char *)xmalloc(2.0 * max_len + 8.0, "the merge buffer");
    off = 4;
    for (i = 0; i < vocab_size; i++) {
        long n_bytes;
        size_t got = fread(head, 1, 8, f);
        if (got == 0 && off == (size_t)size) {
            fatal(EXIT_INPUT,
                  "%s: holds %d tokens but the model's vocabulary has %d", path,
                  i, vocab_size);
        }
        if (got != 8) {
            fatal(EXIT_INPUT, "%s: file ends inside token %d", path, i);
        }
        t->scores[i] = le_float(head);
        n_bytes = le_int32(head + 4);
        off += 8;
        if (n_bytes < 0 || n_bytes > max_len) {
            fatal(EXIT_INPUT,
                  "%s: token %d is %ld bytes long; max_token_length is %ld",
                  path, i, n_bytes, max_len);
        }
        if ((size_t)n_bytes > (size_t)size - off) {
            fatal(EXIT_INPUT, "%s: file ends inside token %d", path, i);
        }
        if (used + (size_t)n_bytes + 1 > cap) {
            counting = 1;
        }
        if (counting) {
            if (fseek(f, n_bytes, SEEK_CUR) != 0) {
                fatal(EXIT_INPUT, "%s: read error", path);
            }
        } else {
            t->vocab[i] = t->pool + used;
            if (fread(t->pool + used, 1, (size_t)n_bytes, f) !=
                (size_t)n_bytes) {
                fatal(EXIT_INPUT, "%s: read error", path);
            }
            t->pool[used + (size_t)n_bytes] = '\0';
            used += (size_t)n_bytes + 1;
        }
        off += (size_t)n_bytes;
    }
    if (off != (size_t)size) {
        fatal(EXIT_INPUT,
              "%s: has %lu bytes after its token %d; the model's vocabulary is "
              "%d tokens",
              path, (unsigned long)((size_t)size - off), vocab_size - 1,
              vocab_size);
    }
    if (counting || ferror(f)) {
        fatal(EXIT_INPUT, "%s: read error", path);
    }
    fclose(f);
    for (i = 0; i < 256; i++) {
        t->byte_pieces[2 * i] = (unsigned char)i;
        t->byte_pieces[2 * i + 1] = '\0';
    }
}

/* The id of the vocabulary entry equal to str (the lowest id if several
 * are), or -1. */
static int str_lookup(const Tokenizer *t, const char *str)
{
    int lo = 0, hi = t->vocab_size; /* first entry >= str lies in [lo, hi] */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (strcmp(t->sorted[mid].str, str) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < t->vocab_size && strcmp(t->sorted[lo].str, str) == 0) {
        return t->sorted[lo].id;
    }
    return -1;
}

/* ------------------------------------------------------------------------
 * BPE merges in O(n log n)
 *
 * llama2.c rescans all adjacent pairs after each merge (quadratic: a 40 KB
 * prompt took 16 s).  The same merges come out of a heap of candidate
 * pairs: it yields the pair with the best score and, among equal scores,
 * the leftmost -- the pair llama2.c's scan picks, since it keeps the first
 * strictly better score.  Tokens live in a linked list; a merge bumps the
 * version of the two tokens it touches, which invalidates every heap entry
 * still naming them (they are skipped when popped), and pushes the two new
 * pairs the merged token forms with its neighbours.  A pair is a candidate
 * only when its score is above llama2.c's starting best, -1e10.
 */

typedef struct {
    float score;
    int left, right; /* positions in the token list */
    int id;          /* the merged token */
    unsigned lver, rver;
} MergeCand;

typedef struct {
    MergeCand *heap;
    int size;
} MergeHeap;

/* a comes out of the heap before b */
static int cand_before(const MergeCand *a, const MergeCand *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(MergeHeap *h, const MergeCand *c)
{
    int i = h->size++;
    while (i > 0) {
        int parent = (i - 1) / 2;
        if (!cand_before(c, &h->heap[parent])) {
            break;
        }
        h->heap[i] = h->heap[parent];
        i = parent;
    }
    h->heap[i] = *c;
}

static void heap_pop(MergeHeap *h, MergeCand *top)
{
    MergeCand last;
    int i = 0;
    *top = h->heap[0];
    last = h->heap[--h->size];
    for (;;) {
        int child = 2 * i + 1;
        if (child >= h->size) {
            break;
        }
        if (child + 1 < h->size &&
            cand_before(&h->heap[child + 1], &h->heap[child])) {
            child++;
        }
        if (!cand_before(&h->heap[child], &last)) {
            break;
        }
        h->heap[i] = h->heap[child];
        i = child;
    }
    h->heap[i] = last;
}

/* Pushes the pair (tokens at positions a and b) if the vocabulary has
 * their concatenation with a score that can win. */
static void push_pair(Tokenizer *t, MergeHeap *h, const int *tokens,
                      const unsigned *ver, int a, int b)
{
    char *buf = t->merge_buffer;
    size_t la = strlen(t->vocab[tokens[a]]);
    MergeCand c;
    memcpy(buf, t->vocab[tokens[a]], la);
    strcpy(buf + la, t->vocab[tokens[b]]);
    c.id = str_lookup(t, buf);
    if (c.id == -1 || !(t->scores[c.id] > -1e10f)) {
        return;
    }
    c.score = t->scores[c.id];
    c.left = a;
    c.right = b;
    c.lver = ver[a];
    c.rver = ver[b];
    heap_push(h, &c);
}

/* Merges tokens[0..n) as llama2.c's encode loop does; returns the new n. */
static int merge_pairs(Tokenizer *t, int *tokens, int n)
{
    MergeHeap h;
    MergeCand c;
    int *next, *prev, i, out;
    unsigned *ver;
    char *memory;
    size_t links = (size_t)n * sizeof(int);

    if (n < 2) {
        return n;
    }
    memory = (char *)xmalloc(3.0 * n * sizeof(MergeCand) +
                                 (double)n * (2.0 * sizeof(int) +
                                              sizeof(unsigned)),
                             "the prompt's merge queue");
    h.heap = (MergeCand *)memory;
    h.size = 0;
    next = (int *)(memory + 3 * (size_t)n * sizeof(MergeCand));
    prev = (int *)((char *)next + links);
    ver = (unsigned *)((char *)prev + links);
    for (i = 0; i < n; i++) {
        next[i] = i + 1 < n ? i + 1 : -1;
        prev[i] = i - 1;
        ver[i] = 0;
    }
    for (i = 0; i + 1 < n; i++) {
        push_pair(t, &h, tokens, ver, i, i + 1);
    }
    while (h.size > 0) {
        heap_pop(&h, &c);
        if (ver[c.left] != c.lver || ver[c.right] != c.rver ||
            next[c.left] != c.right) {
            continue; /* one of its tokens has changed since */
        }
        tokens[c.left] = c.id;
        ver[c.left]++;
        ver[c.right]++;
        next[c.left] = next[c.right];
        if (next[c.right] != -1) {
            prev[next[c.right]] = c.left;
        }
        next[c.right] = -1;
        if (prev[c.left] != -1) {
            push_pair(t, &h, tokens, ver, prev[c.left], c.left);
        }
        if (next[c.left] != -1) {
            push_pair(t, &h, tokens, ver, c.left, next[c.left]);
        }
    }
    out = 0;
    for (i = 0; i != -1; i = next[i]) {
        tokens[out++] = tokens[i];
    }
    free(memory);
    return out;
}

/* Byte-pair encodes text into tokens (room for strlen(text) + 3), as
 * llama2.c does: BOS, a " " token for the SentencePiece dummy prefix, one
 * token per UTF-8 code point (or one per byte, id = byte + 3, for code
 * points not in the vocabulary), then repeatedly the merge of adjacent
 * tokens with the best score. Returns the number of tokens. */
static int encode(Tokenizer *t, const char *text, int bos, int eos, int *tokens)
{
    char *buf = t->merge_buffer;
    size_t buf_len = 0;
    int n = 0, i;
    const char *ch;

    if (bos) {
        tokens[n++] = BOS;
    }
    if (text[0] == '\0') {
        if (eos) {
            tokens[n++] = EOS;
        }
        return n;
    }
    if (!t->sorted_ready) {
        TokenIndex *scratch =
            (TokenIndex *)xmalloc((double)t->vocab_size * sizeof(TokenIndex),
                                  "sorting the vocabulary");
        for (i = 0; i < t->vocab_size; i++) {
            t->sorted[i].str = t->vocab[i];
            t->sorted[i].id = i;
        }
        merge_sort(t->sorted, (size_t)t->vocab_size, sizeof(TokenIndex),
                   scratch, token_before);
        free(scratch);
        t->sorted_ready = 1;
    }

    i = str_lookup(t, " ");
    if (i != -1) {
        tokens[n++] = i;
    }

    for (ch = text; *ch != '\0'; ch++) {
        /* a byte that does not continue a UTF-8 sequence starts a new one */
        if (((unsigned char)*ch & 0xC0) != 0x80) {
            buf_len = 0;
        }
        buf[buf_len++] = *ch;
        buf[buf_len] = '\0';
        if (((unsigned char)ch[1] & 0xC0) == 0x80 && buf_len < 4) {
            continue;
        }
        i = str_lookup(t, buf);
        if (i != -1) {
            tokens[n++] = i;
        } else {
            size_t b;
            for (b = 0; b < buf_len; b++) {
                int id = (unsigned char)buf[b] + 3;
                if (id >= t->vocab_size) {
                    fatal(EXIT_INPUT,
                          "prompt byte 0x%02X has no token: the vocabulary has "
                          "only %d",
                          (unsigned char)buf[b], t->vocab_size);
                }
                tokens[n++] = id;
            }
        }
        buf_len = 0;
    }

    n = merge_pairs(t, tokens, n);
    if (eos) {
        tokens[n++] = EOS;
    }
    return n;
}

static int hex_digit(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}

/* The text of token `token` following `prev`: without the leading space
 * right after BOS, and "<0xHH>" byte tokens as the raw byte. */
static const char *decode(const Tokenizer *t, int prev, int token)
{
    const char *piece = t->vocab[token];
    int hi, lo;
    if (prev == BOS && piece[0] == ' ') {
        piece++;
    }
    if (piece[0] == '<' && piece[1] == '0' && piece[2] == 'x' &&
        (hi = hex_digit(piece[3])) >= 0) {
        lo = hex_digit(piece[4]);
        return (const char *)t->byte_pieces + 2 * (lo >= 0 ? hi * 16 + lo : hi);
    }
    return piece;
}

/* Where the story goes: stdout (converted to the console's code page when
 * it is a Windows console, see platform.c) and, with -o, a file as well:
 * the UTF-8 bytes llama2.c writes to stdout, opened in text mode so that
 * DOS and Windows get CR LF line ends (TYPE and Notepad need them; on
 * Unix text and binary mode are the same). */
static FILE *output_file;
static const char *output_name;

static void open_output(const char *path)
{
    output_file = fopen(path, "w");
    if (output_file == NULL) {
        fatal(EXIT_INPUT, "%s: cannot create the output file (-o)", path);
    }
    output_name = path;
}

static void out_text(const char *text)
{
    platform_print(text);
    if (output_file != NULL && fputs(text, output_file) == EOF) {
        fatal(EXIT_INPUT, "%s: cannot write the output file (-o)",
              output_name);
    }
}

static void out_flush(void)
{
    platform_flush();
    if (output_file != NULL && fflush(output_file) != 0) {
        fatal(EXIT_INPUT, "%s: cannot write the output file (-o)",
              output_name);
    }
}

static void close_output(void)
{
    if (output_file != NULL && fclose(output_file) != 0) {
        output_file = NULL;
        fatal(EXIT_INPUT, "%s: cannot write the output file (-o)",
              output_name);
    }
    output_file = NULL;
}

/* Prints a piece, except a lone byte that is neither printable nor white
 * space in the C locale (a raw control or non-ASCII byte). */
static void safe_print(const char *piece)
{
    unsigned char b = (unsigned char)piece[0];
    if (b == '\0') {
        return;
    }
    if (piece[1] == '\0' &&
        !((b >= 0x20 && b <= 0x7E) || (b >= 0x09 && b <= 0x0D))) {
        return;
    }
    out_text(piece);
}

/* ------------------------------------------------------------------------
 * The sampler
 *
 * xorshift64* exactly as llama2.c, with the 64-bit state held in two 32-bit
 * halves (unsigned long is at least 32 bits; everything is masked).
 */

#define M32 0xFFFFFFFFUL

typedef struct {
    unsigned long hi, lo;
} Rng;

/* high 32 bits of the 64-bit product of two 32-bit numbers */
static unsigned long mul_high32(unsigned long a, unsigned long b)
{
    unsigned long a0 = a & 0xFFFFUL, a1 = (a >> 16) & 0xFFFFUL;
    unsigned long b0 = b & 0xFFFFUL, b1 = (b >> 16) & 0xFFFFUL;
    unsigned long p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    unsigned long mid = (p00 >> 16) + (p01 & 0xFFFFUL) + (p10 & 0xFFFFUL);
    return (p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)) & M32;
}

static unsigned long random_u32(Rng *r)
{
    unsigned long hi = r->hi, lo = r->lo, t_hi, t_lo;
    /* state ^= state >> 12 */
    t_lo = ((lo >> 12) | (hi << 20)) & M32;
    t_hi = hi >> 12;
    lo ^= t_lo;
    hi ^= t_hi;
    /* state ^= state << 25 */
    t_hi = ((hi << 25) | (lo >> 7)) & M32;
    t_lo = (lo << 25) & M32;
    lo ^= t_lo;
    hi ^= t_hi;
    /* state ^= state >> 27 */
    t_lo = ((lo >> 27) | (hi << 5)) & M32;
    t_hi = hi >> 27;
    lo ^= t_lo;
    hi ^= t_hi;
    r->hi = hi;
    r->lo = lo;
    /* (state * 0x2545F4914F6CDD1D) >> 32, modulo 2^32 */
    return (mul_high32(lo, 0x4F6CDD1DUL) + ((lo * 0x2545F491UL) & M32) +
            ((hi * 0x4F6CDD1DUL) & M32)) & M32;
}

static float random_f32(Rng *r)
{
    return (float)(random_u32(r) >> 8) / 16777216.0f;
}

typedef struct {
    float prob;
    int index;
} ProbIndex;

typedef struct {
    int vocab_size;
    float temperature;
    float topp;
    Rng rng;
    ProbIndex *probindex; /* (vocab_size) for top-p */
    ProbIndex *scratch;   /* (vocab_size) for the merge sort */
} Sampler;

static int prob_before(const void *a, const void *b)
{
    const ProbIndex *x = (const ProbIndex *)a, *y = (const ProbIndex *)b;
    return x->prob > y->prob || (x->prob == y->prob && x->index < y->index);
}

static int sample_argmax(const float *p, int n)
{
    int i, best = 0;
    float max_p = p[0];
    for (i = 1; i < n; i++) {
        if (p[i] > max_p) {
            best = i;
            max_p = p[i];
        }
    }
    return best;
}

static int sample_mult(const float *p, int n, float coin)
{
    float cdf = 0.0f;
    int i;
    for (i = 0; i < n; i++) {
        cdf += p[i];
        if (coin < cdf) {
            return i;
        }
    }
    return n - 1;
}

/* Top-p (nucleus) sampling: draw from the smallest set of most likely
 * tokens whose probabilities add up to more than topp. Tokens below
 * (1 - topp) / (n - 1) cannot be in that set and are dropped before the
 * sort, as in llama2.c. */
static int sample_topp(Sampler *s, const float *p, float coin)
{
    int n = s->vocab_size, n0 = 0, i, last;
    float cutoff = (1.0f - s->topp) / (float)(n - 1);
    float cumulative = 0.0f, r, cdf = 0.0f;
    ProbIndex *pi = s->probindex;
    for (i = 0; i < n; i++) {
        if (p[i] >= cutoff) {
            pi[n0].index = i;
            pi[n0].prob = p[i];
            n0++;
        }
    }
    if (n0 == 0) {
        return n - 1; /* only with NaN probabilities */
    }
    merge_sort(pi, (size_t)n0, sizeof(ProbIndex), s->scratch, prob_before);
    last = n0 - 1;
    for (i = 0; i < n0; i++) {
        cumulative += pi[i].prob;
        if (cumulative > s->topp) {
            last = i;
            break;
        }
    }
    r = coin * cumulative;
    for (i = 0; i <= last; i++) {
        cdf += pi[i].prob;
        if (r < cdf) {
            return pi[i].index;
        }
    }
    return pi[last].index;
}

/* Whether sample() sorts: top-p with a temperature, as llama2.c decides. */
static int sampler_sorts(const Sampler *s)
{
    return s->temperature != 0.0f && s->topp > 0.0f && s->topp < 1.0f;
}

static int sample(Sampler *s, float *logits)
{
    int q;
    float coin;
    if (s->temperature == 0.0f) {
        return sample_argmax(logits, s->vocab_size);
    }
    for (q = 0; q < s->vocab_size; q++) {
        logits[q] /= s->temperature;
    }
    softmax(logits, s->vocab_size);
    coin = random_f32(&s->rng);
    if (!sampler_sorts(s)) {
        return sample_mult(logits, s->vocab_size, coin);
    }
    return sample_topp(s, logits, coin);
}

/* ------------------------------------------------------------------------
 * Generation and chat
 */

typedef struct {
    Transformer transformer;
    Tokenizer tokenizer;
    Sampler sampler;
    int *tokens;
    FILE *logits_file; /* -L: every forward()'s logits, float32 little-endian */
    unsigned char *logits_bytes;
} Engine;

/* Global so that everything stays reachable until exit (leak checkers). */
static Engine engine;

static float *step(int token, int pos)
{
    float *logits = forward(&engine.transformer, token, pos);
    if (engine.logits_file != NULL) {
        int n = engine.transformer.config.vocab_size, i;
        const void *data = logits;
        if (!host_is_ieee_le) {
            for (i = 0; i < n; i++) {
                put_le_float(engine.logits_bytes + 4 * i, logits[i]);
            }
            data = engine.logits_bytes;
        }
        if (fwrite(data, 4, (size_t)n, engine.logits_file) != (size_t)n) {
            fatal(EXIT_INPUT, "cannot write the logits file");
        }
    }
    return logits;
}

static int verbose;

static void report_streaming(int pos)
{
    const Stream *st = &engine.transformer.stream;
    if (st->file != NULL && pos > 0) {
        fprintf(stderr, "streamed: %.0f bytes read from disk, %.0f per token\n",
                st->bytes_read, st->bytes_read / pos);
    }
}

static void report_speed(int pos, double start)
{
    double elapsed;
    if (verbose) {
        fprintf(stderr, "forward passes: %d\n", pos);
        report_streaming(pos);
    }
    if (pos > 1) {
        elapsed = platform_seconds() - start;
        if (elapsed < 1e-3) {
            elapsed = 1e-3; /* below the resolution of clock() */
        }
        fprintf(stderr, "achieved tok/s: %f\n", (pos - 1) / elapsed);
    }
}

static void generate(const char *prompt, int steps)
{
    Transformer *t = &engine.transformer;
    int n_prompt, token, next = 0, pos = 0;
    double start = 0.0;
    int started = 0;

    /* every token stands for at most max_token_length bytes: a longer
     * prompt cannot fit the context, whatever its encoding */
    if ((double)strlen(prompt) >
        (double)t->config.seq_len * engine.tokenizer.max_token_length) {
        fatal(EXIT_USAGE,
              "the prompt is %lu bytes, more than the model's context of %d "
              "tokens can hold",
              (unsigned long)strlen(prompt), t->config.seq_len);
    }
    engine.tokens = (int *)xmalloc(((double)strlen(prompt) + 3.0) * sizeof(int),
                                   "the prompt tokens");
    n_prompt = encode(&engine.tokenizer, prompt, 1, 0, engine.tokens);
    /* the scores and the sorted vocabulary only serve encoding, which
     * generate does once: their memory (12 bytes a token on Win32, 375 KB
     * for 32000) goes back before the KV cache fills */
    free(engine.tokenizer.encoding);
    engine.tokenizer.encoding = NULL;
    engine.tokenizer.sorted = NULL;
    engine.tokenizer.scores = NULL;
    if (n_prompt > t->config.seq_len) {
        fatal(EXIT_USAGE, "the prompt is %d tokens; the model's context is %d",
              n_prompt, t->config.seq_len);
    }
    token = engine.tokens[0];
    while (pos < steps) {
        float *logits = step(token, pos);
        if (pos < n_prompt - 1) {
            next = engine.tokens[pos + 1];
        } else {
            next = sample(&engine.sampler, logits);
        }
        pos++;
        if (next == BOS) {
            break;
        }
        safe_print(decode(&engine.tokenizer, token, next));
        out_flush();
        token = next;
        if (!started) {
            start = platform_seconds();
            started = 1;
        }
    }
    out_text("\n");
    out_flush(); /* the story's last line before the tok/s line on stderr */
    report_speed(pos, start);
}

static void read_line(const char *guide, char *buffer, int size)
{
    size_t len;
    out_text(guide);
    out_flush();
    if (fgets(buffer, size, stdin) == NULL) {
        buffer[0] = '\0';
        return;
    }
    len = strlen(buffer);
    if (len > 0 && buffer[len - 1] == '\n') {
        buffer[len - 1] = '\0';
    }
    platform_input_utf8(buffer, (unsigned)size);
}

#define CHAT_TEXT 512

static void chat(const char *cli_user, const char *cli_system, int steps)
{
    static char system_prompt[CHAT_TEXT], user_prompt[CHAT_TEXT];
    static char rendered[2 * CHAT_TEXT + 64];
    int n_prompt = 0, user_idx = 0, user_turn = 1, next = 0, token, pos = 0;

    if ((cli_user != NULL && strlen(cli_user) >= CHAT_TEXT) ||
        (cli_system != NULL && strlen(cli_system) >= CHAT_TEXT)) {
        fatal(EXIT_USAGE, "chat prompts (-i, -y) are limited to %d bytes",
              CHAT_TEXT - 1);
    }
    engine.tokens = (int *)xmalloc((double)(sizeof rendered + 3) * sizeof(int),
                                   "the prompt tokens");
    while (pos < steps) {
        if (user_turn) {
            if (pos == 0) {
                if (cli_system == NULL) {
                    read_line("Enter system prompt (optional): ", system_prompt,
                              CHAT_TEXT);
                } else {
                    strcpy(system_prompt, cli_system);
                }
            }
            if (pos == 0 && cli_user != NULL) {
                strcpy(user_prompt, cli_user);
            } else {
                read_line("User: ", user_prompt, CHAT_TEXT);
            }
            if (pos == 0 && system_prompt[0] != '\0') {
                sprintf(rendered, "[INST] <<SYS>>\n%s\n<</SYS>>\n\n%s [/INST]",
                        system_prompt, user_prompt);
            } else {
                sprintf(rendered, "[INST] %s [/INST]", user_prompt);
            }
            n_prompt = encode(&engine.tokenizer, rendered, 1, 0, engine.tokens);
            user_idx = 0;
            user_turn = 0;
            out_text("Assistant: ");
        }
        if (user_idx < n_prompt) {
            token = engine.tokens[user_idx++];
        } else {
            token = next;
        }
        if (token == EOS) {
            user_turn = 1;
        }
        next = sample(&engine.sampler, step(token, pos));
        pos++;
        if (user_idx >= n_prompt && next != EOS) {
            safe_print(decode(&engine.tokenizer, token, next));
            out_flush();
        }
        if (next == EOS) {
            out_text("\n");
        }
    }
    out_text("\n");
    out_flush();
    if (verbose) {
        fprintf(stderr, "forward passes: %d\n", pos);
        report_streaming(pos);
    }
}

/* ------------------------------------------------------------------------
 * Command line
 */

#define USAGE_LINE                                                             \
    "usage: run [checkpoint] [-t temp] [-p topp] [-s seed] [-n steps] "        \
    "[-i prompt] [-z tokenizer] [-m generate|chat] [-y system_prompt] "        \
    "[-b MB] [-k f32|q8] [-o file] [-v] [-L logits] [-h]"

/* -h: what every flag means, on stdout. */
static void help(void)
{
    static const char *const lines[] = {
        "  -t temp    sampling temperature, >= 0 (0: always the likeliest "
        "token); 1.0",
        "  -p topp    top-p (nucleus) sampling, 0..1 (0 or 1: off); 0.9",
        "  -s seed    random seed, a whole number (0: the time); 0",
        "  -n steps   tokens to run, >= 0 (0: the model's context); 256",
        "  -i prompt  the prompt",
        "  -y system  chat mode's system prompt",
        "  -z file    the tokenizer; tokenizer.bin",
        "  -m mode    generate or chat; generate",
        "  -b MB      memory budget: weights that do not fit are read from "
        "disk",
        "             for every token (0: no budget, everything in memory);",
        "             default: the free memory the system reports, if any",
        "  -k cache   f32 (llama2.c's KV cache) or q8 (int8, one scale per "
        "head",
        "             and position: a quarter of the memory, not bit-exact); "
        "f32",
        "  -o file    write the story to this file as well (UTF-8)",
        "  -v         configuration, memory and weight streaming on stderr",
        "  -L file    every step's logits as float32, little-endian",
        "  without a checkpoint: MODEL.BIN and TOKENIZ.BIN next to this "
        "program"};
    size_t i;
    printf("%s\n", USAGE_LINE);
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        printf("%s\n", lines[i]);
    }
    exit(0);
}

/* A usage error: what is wrong and the usage, on one line. */
static void usage(const char *what, const char *arg)
{
    fatal(EXIT_USAGE, "%s%.200s (%s)", what, arg, USAGE_LINE);
}

/* Every bad value of a flag gets the same line: the flag, what it must
 * be, and what was given. */
static double parse_number(const char *flag, const char *text,
                           const char *range)
{
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || v != v) {
        fatal(EXIT_USAGE, "%s must be %s, not \"%.200s\"", flag, range, text);
    }
    return v;
}

/* A float flag that must lie in [lo, hi] (hi 0: no upper bound but
 * finite). */
static float parse_range(const char *flag, const char *text, double lo,
                         double hi, const char *range)
{
    double v = parse_number(flag, text, range);
    if (v < lo || (hi > lo && v > hi)
        || v > 3.4028234e38 || v < -3.4028234e38) {
        fatal(EXIT_USAGE, "%s must be %s, not \"%.200s\"", flag, range, text);
    }
    return (float)v;
}

/* A whole-number flag in [lo, hi]; `note` follows the range in the
 * message. */
static int parse_int(const char *flag, const char *text, long lo, long hi,
                     const char *note)
{
    char *end;
    long v;
    /* Out of range for long sets ERANGE; lo and hi lie within int, so a
       value between them survives the narrowing to int. */
    errno = 0;
    v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        fatal(EXIT_USAGE,
              "%s must be a whole number from %ld to %ld%s, not \"%.200s\"",
              flag, lo, hi, note, text);
    }
    return (int)v;
}

static void print_sizes(const Transformer *t, const Tokenizer *tok)
{
    const Config *c = &t->config;
    fprintf(stderr,
            "config: dim=%d hidden_dim=%d n_layers=%d n_heads=%d n_kv_heads=%d "
            "vocab_size=%d seq_len=%d classifier=%s\n",
            c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
            c->vocab_size, c->seq_len,
            c->shared_classifier ? "shared" : "separate");
    if (t->w.gs > 0) {
        fprintf(stderr, "int8: Q8_0 weights, group size %d, %s kernel\n",
                t->w.gs, q8_kernel(t->w.gs));
        if (c->hidden_dim % t->w.gs != 0) {
            fprintf(stderr,
                    "warning: group size %d does not divide hidden_dim %d; "
                    "computing as "
                    "llama2.c's runq.c does (the last %d inputs of w2 are "
                    "ignored)\n",
                    t->w.gs, c->hidden_dim, c->hidden_dim % t->w.gs);
        }
    }
    if (t->stream.file != NULL) {
        fprintf(stderr,
                "weights: streamed from disk (budget %.0f MB%s): norms%s in "
                "memory, a %.0f-byte buffer, %.0f bytes read per token\n",
                t->budget / 1048576.0,
                t->budget_reported ? ", the free memory reported" : "",
                t->stream.cls_resident ? " and classifier" : "",
                t->stream.buf_bytes, t->stream.token_bytes);
    } else {
        fprintf(stderr, "weights: in memory%s\n",
                t->budget <= 0.0        ? ""
                : t->budget_reported    ? " (within the free memory reported)"
                                        : " (within the budget)");
    }
    fprintf(stderr,
            "memory: weights %.0f bytes, run state %.0f bytes (%s KV cache "
            "for %d positions), "
            "tokenizer %.0f bytes, sampler %.0f bytes\n",
            t->weight_bytes, t->state_bytes, t->kv_q8 ? "int8" : "fp32",
            t->steps,
            (double)tok->vocab_size *
                    (sizeof(char *) + sizeof(float) + sizeof(TokenIndex) + 8) +
                2.0 * tok->max_token_length,
            sampler_sorts(&engine.sampler)
                ? 2.0 * c->vocab_size * sizeof(ProbIndex)
                : 0.0);
}

int main(int argc, char *argv[])
{
    static char model_path[1024], tokenizer_path_buf[1024];
    const char *checkpoint = NULL, *tokenizer_path = "tokenizer.bin",
               *prompt = NULL;
    const char *mode = "generate", *system_prompt = NULL, *logits_path = NULL;
    const char *output_path = NULL;
    float temperature = 1.0f, topp = 0.9f;
    int steps = 256, seed = 0, budget_mb = -1, i;
    Sampler *s = &engine.sampler;

    platform_init();
    check_host();

    i = 1;
    if (argc >= 2 && argv[1][0] != '-') {
        checkpoint = argv[1];
        i = 2;
    } else {
        platform_beside_exe(argv[0], "MODEL.BIN", model_path,
                            sizeof model_path);
        platform_beside_exe(argv[0], "TOKENIZ.BIN", tokenizer_path_buf,
                            sizeof tokenizer_path_buf);
        checkpoint = model_path;
        tokenizer_path = tokenizer_path_buf;
    }
    for (; i < argc; i += 2) {
        const char *flag = argv[i], *value;
        if (flag[0] != '-' || flag[1] == '\0' || flag[2] != '\0') {
            usage("options are one dash and one letter; unexpected argument: ",
                  flag);
        }
        if (flag[1] == 'v' || flag[1] == 'h') {
            if (flag[1] == 'h') {
                help();
            }
            verbose = 1;
            i--;
            continue;
        }
        if (i + 1 >= argc) {
            usage("missing value after ", flag);
        }
        value = argv[i + 1];
        switch (flag[1]) {
        case 't':
            temperature = parse_range(flag, value, 0.0, 0.0,
                                      "a finite number >= 0 (0: greedy)");
            break;
        case 'p':
            topp = parse_range(flag, value, 0.0, 1.0, "a number from 0 to 1");
            break;
        case 's':
            seed = parse_int(flag, value, -(long)INT_MAX - 1L, (long)INT_MAX,
                             " (0: the time)");
            break;
        case 'n':
            steps = parse_int(flag, value, 0L, (long)INT_MAX,
                              " (0: the model's context)");
            break;
        case 'i': prompt = platform_arg_utf8(value); break;
        case 'z': tokenizer_path = value; break;
        case 'm': mode = value; break;
        case 'y': system_prompt = platform_arg_utf8(value); break;
        case 'L': logits_path = value; break;
        case 'o': output_path = value; break;
        case 'b':
            budget_mb = parse_int(flag, value, 0L, 4095L,
                                  " (MB; 0: no budget)");
            break;
        case 'k':
            if (strcmp(value, "q8") == 0) {
                engine.transformer.kv_q8 = 1;
            } else if (strcmp(value, "f32") != 0) {
                fatal(EXIT_USAGE,
                      "-k must be f32 (llama2.c's KV cache) or q8 (int8), not "
                      "\"%.200s\"",
                      value);
            }
            break;
        default:
            usage("unknown option ", flag);
        }
    }
    if (strcmp(mode, "generate") != 0 && strcmp(mode, "chat") != 0) {
        fatal(EXIT_USAGE,
              "-m must be generate or chat, not \"%.200s\"", mode);
    }
    if (output_path != NULL) {
        open_output(output_path);
    }
    if (budget_mb >= 0) {
        engine.transformer.budget = budget_mb * 1048576.0;
    } else {
        engine.transformer.budget = platform_free_bytes();
        engine.transformer.budget_reported = 1;
    }

    build_transformer(&engine.transformer, checkpoint, &steps);
    fill_exp_table();
    build_tokenizer(&engine.tokenizer, tokenizer_path,
                    engine.transformer.config.vocab_size);
    s->vocab_size = engine.transformer.config.vocab_size;
    s->temperature = temperature;
    s->topp = topp;
    if (seed != 0) {
        /* atoi's int widened to llama2.c's unsigned long long: sign-extended */
        s->rng.lo = (unsigned long)seed & M32;
        s->rng.hi = seed < 0 ? M32 : 0UL;
    } else {
        s->rng.lo = (unsigned long)time(NULL) & M32;
        s->rng.hi = 0UL;
    }
    /* top-p's sort buffers (8 bytes a token each: 500 KB for 32000) only
     * when top-p runs; greedy and plain sampling never touch them, and on
     * Windows 9x an allocation is committed memory touched or not */
    if (sampler_sorts(s)) {
        s->probindex = (ProbIndex *)xmalloc(
            (double)s->vocab_size * sizeof(ProbIndex), "the sampler");
        s->scratch = (ProbIndex *)xmalloc(
            (double)s->vocab_size * sizeof(ProbIndex), "the sampler");
    }
    if (verbose) {
        print_sizes(&engine.transformer, &engine.tokenizer);
    }

    if (logits_path != NULL) {
        engine.logits_file = fopen(logits_path, "wb");
        if (engine.logits_file == NULL) {
            fatal(EXIT_INPUT, "%s: cannot create the logits file", logits_path);
        }
        engine.logits_bytes =
            (unsigned char *)xmalloc(4.0 * s->vocab_size, "the logits buffer");
    }

    if (strcmp(mode, "generate") == 0) {
        generate(prompt != NULL ? prompt : "", steps);
    } else {
        chat(prompt, system_prompt, steps);
    }

    if (engine.logits_file != NULL && fclose(engine.logits_file) != 0) {
        fatal(EXIT_INPUT, "%s: cannot write the logits file", logits_path);
    }
    engine.logits_file = NULL;
    close_output();
    free(engine.logits_bytes);
    free(engine.tokens);
    free(s->probindex);
    free(s->scratch);
    free(engine.tokenizer.encoding);
    free(engine.tokenizer.merge_buffer);
    free(engine.tokenizer.pool);
    free(engine.tokenizer.vocab);
    free(engine.transformer.s.memory);
    free(engine.transformer.w.memory);
    free(engine.transformer.stream.buf);
    if (engine.transformer.stream.file != NULL) {
        platform_close(engine.transformer.stream.file);
    }
    return 0;
}
