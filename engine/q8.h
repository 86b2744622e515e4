/*
 * q8.h -- int8 (Q8_0) kernels for llama2.c's "version 2" checkpoints.
 *
 * A Q8_0 tensor is a run of signed 8-bit values and one float scale per
 * group of `gs` consecutive values: value i stands for q[i] * s[i / gs].
 * Weights come that way from the file; activations are quantized the same
 * way right before each matmul, so that a matmul is integer multiply-adds
 * summed per group (exactly, in at least 32 bits) and one float multiply
 * per group.  The arithmetic is llama2.c's runq.c, operation for operation.
 *
 * Activations are kept as `short` (their values are int8, -127..127): the
 * MMX kernel multiplies 16-bit words, and widening the activation once per
 * matmul is cheaper than widening it once per row.  The portable kernel
 * reads them the same way.
 *
 * Which kernel is compiled is chosen at build time: define RL_MMX to use
 * MMX (pmaddwd) on a CPU baseline that has it (Pentium MMX, Pentium II, K6);
 * without it, or on a compiler with no MMX support below, the portable C89
 * kernel is used.  See q8.c.
 */
#ifndef RETROLLAMA_Q8_H
#define RETROLLAMA_Q8_H

/* Quantize the first (n / gs) * gs values of x: per group, scale = max|x| /
 * 127 and q = round(x / scale), halves away from zero as C99's round().
 * A group of zeros gets scale 0 and values 0. */
void q8_quantize(short *q, float *s, const float *x, int n, int gs);

/* out[i] = q[start + i] * s[(start + i) / gs] for i < n: one row of a
 * tensor dequantized (the embedding lookup), the rest left alone. */
void q8_dequantize(float *out, const signed char *q, const float *s, long start,
                   int n, int gs);

/* out (d) = W (d rows of n, int8 values wq, scales ws) times x (n values xq,
 * scales xs), as runq.c's matmul: row i starts at value i*n; it sums its
 * n / gs full groups, group j as (float)(integer dot) * ws[(i*n)/gs + j]
 * * xs[j], in order.  (When gs does not divide n that is runq.c's reading,
 * flaws included: the tail of each row is skipped.) */
void q8_matmul(float *out, const short *xq, const float *xs,
               const signed char *wq, const float *ws, int n, int d, int gs);

/* The integer dot products of `ngroups` consecutive groups of gs values:
 * iv[g] = sum over k < gs of w[g*gs + k] * x[g*gs + k].  Exposed for tests. */
void q8_dot_groups(long *iv, const signed char *w, const short *x, int ngroups,
                   int gs);

/* "mmx" or "portable": which kernel this build uses for group size gs (the
 * MMX kernels need a multiple of 8), for -v. */
const char *q8_kernel(int gs);

#endif /* RETROLLAMA_Q8_H */
