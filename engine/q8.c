/*
 * q8.c -- int8 (Q8_0) kernels: quantize, dequantize, matmul (see q8.h).
 *
 * Two implementations of the one hot loop, the integer dot product of a
 * group of weights with a group of activations:
 *
 *  - portable C89: int8 times int16 products summed in `long` (at least 32
 *    bits), unrolled by four into two sums.  On a Pentium (P5) an integer
 *    multiply is slow, but it is still cheaper than converting bytes to
 *    floats, and the sums are exact, as runq.c's int32 sums are.
 *
 *  - MMX, when RL_MMX is defined: per 8 weights, one 8-byte load, two
 *    unpacks and two arithmetic shifts sign-extend the bytes to 16-bit
 *    words, two pmaddwd multiply them with the activation words and add
 *    pairs into 32-bit lanes, two paddd accumulate.  Compiled from
 *      GCC / MinGW / clang, only when the compiler targets MMX (__MMX__,
 *        i.e. -march=pentium-mmx, pentium2, k6...): on 32-bit x86, GCC
 *        inline assembly for group sizes that are multiples of 32 (the
 *        common case, tuned for instruction count), <mmintrin.h>
 *        intrinsics for the other multiples of 8.  mmintrin.h is not C89
 *        (vector types, long long), but as a system header it is exempt
 *        from -pedantic-errors, and __asm__ is a reserved-name keyword, so
 *        this file still compiles with -std=c89 -pedantic-errors -Werror.
 *      Open Watcom: the same loop as a `#pragma aux` function, where
 *        compat.h defines COMPAT_PRAGMA_AUX; tested under Wine against the
 *        portable kernel.
 *      Borland C++: an _asm block with Intel mnemonics, compiled where
 *        compat.h defines COMPAT_ASM_INTEL (only compat.h names
 *        compilers).  UNTESTED here (Borland is not installed): its 5.02
 *        built-in assembler may not know MMX, in which case build without
 *        RL_MMX (the target's YAML decides).
 *    With RL_MMX on any other compiler, or without __MMX__ under GCC, the
 *    portable kernel is used and q8_kernel() says so.
 *
 * MMX registers are the x87 registers renamed, so `emms` must run before
 * the next float instruction: the matmul computes the integer dots of a
 * block of rows, then runs emms once, then does that block's float work.
 */
#include "compat.h"
#include "q8.h"

#if defined(RL_MMX) && defined(__GNUC__) && defined(__MMX__)
#include <mmintrin.h>
#define Q8_MMX_GCC 1
#elif defined(RL_MMX) && defined(COMPAT_PRAGMA_AUX)
#define Q8_MMX_AUX 1
#elif defined(RL_MMX) && defined(COMPAT_ASM_INTEL)
#define Q8_MMX_ASM 1
#endif

/* scale_sum runs once per row: worth inlining where the compiler can. */
#if defined(__GNUC__)
#define Q8_INLINE __inline__
#else
#define Q8_INLINE
#endif

/* Integer dots of up to this many (row, group) pairs are held at once:
 * 2 KB of stack, and one emms per block. */
#define Q8_BLOCK 512

/* ------------------------------------------------------------------------
 * Quantize and dequantize
 */

void q8_quantize(short *q, float *s, const float *x, int n, int gs)
{
    int ng = n / gs, g, i;
    for (g = 0; g < ng; g++) {
        const float *xg = x + (long)g * gs;
        short *qg = q + (long)g * gs;
        float wmax = 0.0f, scale;
        for (i = 0; i < gs; i++) {
            float a = xg[i] < 0.0f ? -xg[i] : xg[i];
            if (a > wmax)
                wmax = a;
        }
        scale = wmax / 127.0f;
        s[g] = scale;
        if (scale == 0.0f) {
            for (i = 0; i < gs; i++)
                qg[i] = 0;
            continue;
        }
        for (i = 0; i < gs; i++) {
            /* C89 has no round(): add a half to the magnitude in double
             * (exact for a float below 2^24) and truncate. */
            float v = xg[i] / scale;
            double r = v;
            /* |r| <= 127 for finite x; NaN or infinity (an activation
             * that overflowed) would make the conversion undefined */
            if (!(r >= -127.0 && r <= 127.0)) {
                r = r > 0.0 ? 127.0 : r < 0.0 ? -127.0 : 0.0;
            }
            qg[i] = (short)(r < 0.0 ? -(long)(0.5 - r) : (long)(r + 0.5));
        }
    }
}

void q8_dequantize(float *out, const signed char *q, const float *s, long start,
                   int n, int gs)
{
    int i, k;
    if (start % gs == 0 && n % gs == 0) {
        /* whole groups (every row of a table): one scale per group, no
         * division per value */
        const signed char *qg = q + start;
        const float *sg = s + start / gs;
        for (i = 0; i < n; i += gs, sg++)
            for (k = 0; k < gs; k++)
                out[i + k] = qg[i + k] * *sg;
        return;
    }
    for (i = 0; i < n; i++)
        out[i] = q[start + i] * s[(start + i) / gs];
}

/* ------------------------------------------------------------------------
 * The integer dot product of one group
 */

/* Portable: four products per step into two sums, then the tail. */
static long dot_c(const signed char *w, const short *x, int gs)
{
    long a = 0, b = 0;
    int k = 0;
    for (; k + 4 <= gs; k += 4) {
        a += w[k] * x[k] + w[k + 2] * x[k + 2];
        b += w[k + 1] * x[k + 1] + w[k + 3] * x[k + 3];
    }
    for (; k < gs; k++)
        a += w[k] * x[k];
    return a + b;
}

#if defined(Q8_MMX_GCC)
/* gs a multiple of 8.  The loads are unaligned, which MMX allows. */
static long dot_mmx(const signed char *w, const short *x, int gs)
{
    __m64 acc = _mm_setzero_si64();
    int k;
    for (k = 0; k < gs; k += 8) {
        __m64 b = *(const __m64 *)(w + k);
        __m64 lo = _mm_srai_pi16(_mm_unpacklo_pi8(b, b), 8);
        __m64 hi = _mm_srai_pi16(_mm_unpackhi_pi8(b, b), 8);
        acc = _mm_add_pi32(acc, _mm_madd_pi16(lo, *(const __m64 *)(x + k)));
        acc = _mm_add_pi32(acc, _mm_madd_pi16(hi, *(const __m64 *)(x + k + 4)));
    }
    acc = _mm_add_pi32(acc, _mm_srli_si64(acc, 32));
    return _mm_cvtsi64_si32(acc);
}
#define Q8_EMMS() _mm_empty()

#if defined(__i386__)
#define Q8_MMX_ROW32 1
/* The hot path, hand-scheduled for instruction count (the benchmark's
 * measure): ng groups of gs values, gs a multiple of 32, one 32-value
 * chunk per loop trip.  Unpacking into a register whose old bytes land in
 * the low half of each word and are then shifted out by psraw saves the
 * copy that _mm_unpacklo_pi8(b, b) needs; the 32 products are added as a
 * tree, then into the group's sum (mm7).  One index register addresses
 * both the bytes (w + i) and the words (x + 2i).  About 1.35 instructions
 * per multiply-add, against 1.75 for the intrinsics loop above.  32-bit x86
 * only (long is the 4 bytes movd stores). */
static void dots_mmx32(long *iv, const signed char *w, const short *x, int ng,
                       int gs)
{
    long i = 0, end;
    long *stop = iv + ng;
    if (ng <= 0)
        return;
    __asm__ __volatile__(
        "1:\n\t"
        "pxor %%mm7, %%mm7\n\t"
        "leal (%[i],%[gs]), %[end]\n"
        "2:\n\t"
        "punpcklbw (%[w],%[i]), %%mm0\n\t"
        "punpckhbw (%[w],%[i]), %%mm1\n\t"
        "punpcklbw 8(%[w],%[i]), %%mm2\n\t"
        "punpckhbw 8(%[w],%[i]), %%mm3\n\t"
        "psraw $8, %%mm0\n\t"
        "psraw $8, %%mm1\n\t"
        "psraw $8, %%mm2\n\t"
        "psraw $8, %%mm3\n\t"
        "pmaddwd (%[x],%[i],2), %%mm0\n\t"
        "pmaddwd 8(%[x],%[i],2), %%mm1\n\t"
        "pmaddwd 16(%[x],%[i],2), %%mm2\n\t"
        "pmaddwd 24(%[x],%[i],2), %%mm3\n\t"
        "paddd %%mm1, %%mm0\n\t"
        "paddd %%mm3, %%mm2\n\t"
        "punpcklbw 16(%[w],%[i]), %%mm4\n\t"
        "punpckhbw 16(%[w],%[i]), %%mm5\n\t"
        "punpcklbw 24(%[w],%[i]), %%mm1\n\t"
        "punpckhbw 24(%[w],%[i]), %%mm3\n\t"
        "psraw $8, %%mm4\n\t"
        "psraw $8, %%mm5\n\t"
        "psraw $8, %%mm1\n\t"
        "psraw $8, %%mm3\n\t"
        "pmaddwd 32(%[x],%[i],2), %%mm4\n\t"
        "pmaddwd 40(%[x],%[i],2), %%mm5\n\t"
        "pmaddwd 48(%[x],%[i],2), %%mm1\n\t"
        "pmaddwd 56(%[x],%[i],2), %%mm3\n\t"
        "paddd %%mm4, %%mm0\n\t"
        "paddd %%mm5, %%mm2\n\t"
        "paddd %%mm1, %%mm0\n\t"
        "paddd %%mm3, %%mm2\n\t"
        "paddd %%mm0, %%mm7\n\t"
        "paddd %%mm2, %%mm7\n\t"
        "addl $32, %[i]\n\t"
        "cmpl %[end], %[i]\n\t"
        "jne 2b\n\t"
        "movq %%mm7, %%mm0\n\t"
        "psrlq $32, %%mm0\n\t"
        "paddd %%mm0, %%mm7\n\t"
        "movd %%mm7, (%[iv])\n\t"
        "addl $4, %[iv]\n\t"
        "cmpl %[stop], %[iv]\n\t"
        "jne 1b\n\t"
        : [iv] "+r"(iv), [i] "+r"(i), [end] "=&r"(end)
        : [w] "r"(w), [x] "r"(x), [gs] "r"((long)gs), [stop] "g"(stop)
        : "memory", "cc", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6",
          "mm7");
}

/* 8 products of w[i+wo..] and x[i+wo..] (xo = 2 wo bytes into x): the bytes
 * unpacked into the high halves of words (whatever the registers held
 * below them is shifted out by psraw), multiplied and added pairwise by
 * pmaddwd.  The order is for the Pentium II's 4-1-1 decoders: each
 * load-and-operate instruction (two uops, decoder 0 only) is followed by
 * one-uop instructions the other two decoders take in the same cycle, so
 * that decoding (4 cycles per 8 products) keeps pace with the shifter port
 * the unpacks and shifts share.  Q8_CHUNK0 starts a group's sum in acc,
 * Q8_CHUNK adds to it (a, b scratch). */
#define Q8_CHUNK0(wo, xo, xo8, acc, b) \
    "punpcklbw " #wo "(%[w],%[i]), %%" #acc "\n\t" \
    "punpckhbw " #wo "(%[w],%[i]), %%" #b "\n\t" \
    "psraw $8, %%" #acc "\n\t" \
    "psraw $8, %%" #b "\n\t" \
    "pmaddwd " #xo "(%[x],%[i],2), %%" #acc "\n\t" \
    "pmaddwd " #xo8 "(%[x],%[i],2), %%" #b "\n\t" \
    "paddd %%" #b ", %%" #acc "\n\t"
#define Q8_CHUNK(wo, xo, xo8, acc, a, b) \
    "punpcklbw " #wo "(%[w],%[i]), %%" #a "\n\t" \
    "punpckhbw " #wo "(%[w],%[i]), %%" #b "\n\t" \
    "psraw $8, %%" #a "\n\t" \
    "psraw $8, %%" #b "\n\t" \
    "pmaddwd " #xo "(%[x],%[i],2), %%" #a "\n\t" \
    "pmaddwd " #xo8 "(%[x],%[i],2), %%" #b "\n\t" \
    "paddd %%" #b ", %%" #a "\n\t" \
    "paddd %%" #a ", %%" #acc "\n\t"

/* 32 products of w[i..i+31] and x[i..i+31] into the two 32-bit lanes of
 * mm0 (mm1 and mm3-mm7 are scratch).  The scratch registers are chosen so
 * that the unpacks' reads of their old contents (a real dependency for
 * the CPU, though psraw discards those bytes) do not chain one loop trip
 * to the next longer than the ports take anyway. */
#define Q8_GROUP_MM0 \
    Q8_CHUNK0(0, 0, 8, mm0, mm6) \
    Q8_CHUNK(8, 16, 24, mm0, mm7, mm4) \
    Q8_CHUNK(16, 32, 40, mm0, mm7, mm3) \
    Q8_CHUNK(24, 48, 56, mm0, mm1, mm5)

/* Group size exactly 32 (what a 15M or 42M model gets): two groups per
 * loop trip, no inner loop, and the two horizontal sums share one
 * punpckldq/punpckhdq/paddd and one 8-byte store.  About 1.1 instructions
 * and, on a Pentium II, 0.55 cycles per multiply-add.  An odd last group is
 * done on its own. */
static void dots_mmx32_pairs(long *iv, const signed char *w, const short *x,
                             int ng)
{
    long i = 0;
    long *stop = iv + (ng & ~1);
    if (ng >= 2) {
        __asm__ __volatile__("1:\n\t"
                             /* group A: w[i..i+31] into mm0 */
                             Q8_GROUP_MM0
                             /* group B: w[i+32..i+63] into mm4 */
                             Q8_CHUNK0(32, 64, 72, mm4, mm6)
                             Q8_CHUNK(40, 80, 88, mm4, mm1, mm2)
                             Q8_CHUNK(48, 96, 104, mm4, mm6, mm5)
                             Q8_CHUNK(56, 112, 120, mm4, mm3, mm5)
                             /* [A.lo+A.hi, B.lo+B.hi] -> iv[0], iv[1] */
                             "movq %%mm0, %%mm1\n\t"
                             "punpckldq %%mm4, %%mm0\n\t"
                             "punpckhdq %%mm4, %%mm1\n\t"
                             "paddd %%mm1, %%mm0\n\t"
                             "movq %%mm0, (%[iv])\n\t"
                             "addl $64, %[i]\n\t"
                             "addl $8, %[iv]\n\t"
                             "cmpl %[stop], %[iv]\n\t"
                             "jne 1b\n\t"
                             : [iv] "+r"(iv), [i] "+r"(i)
                             : [w] "r"(w), [x] "r"(x), [stop] "g"(stop)
                             : "memory", "cc", "mm0", "mm1", "mm2", "mm3",
                               "mm4", "mm5", "mm6", "mm7");
    }
    if (ng & 1) {
        __asm__ __volatile__(
            Q8_GROUP_MM0
            "movq %%mm0, %%mm1\n\t"
            "psrlq $32, %%mm1\n\t"
            "paddd %%mm1, %%mm0\n\t"
            "movd %%mm0, (%[iv])\n\t"
            :
            : [iv] "r"(iv), [i] "r"(i), [w] "r"(w), [x] "r"(x)
            : "memory", "mm0", "mm1", "mm3", "mm4", "mm5", "mm6", "mm7");
    }
}
#endif
#elif defined(Q8_MMX_AUX)
/* The same loop for Open Watcom, as a `#pragma aux` function: the pragma
 * names the registers the arguments arrive in, the one the result leaves
 * in and those the code changes, so the optimiser works around it.  (An
 * `_asm` block does not tell Watcom that it assigns the result or reads the
 * arguments: with -ox it returned garbage and crashed.)  gs is a multiple of
 * 8 and at least 8. */
long dot_mmx(const signed char *w, const short *x, int gs);
#pragma aux dot_mmx = \
    "pxor mm7, mm7" \
    "q8_top:" \
    "movq mm0, [esi]" \
    "movq mm1, mm0" \
    "punpcklbw mm0, mm0" \
    "punpckhbw mm1, mm1" \
    "psraw mm0, 8" \
    "psraw mm1, 8" \
    "pmaddwd mm0, [edi]" \
    "pmaddwd mm1, [edi+8]" \
    "paddd mm7, mm0" \
    "paddd mm7, mm1" \
    "add esi, 8" \
    "add edi, 16" \
    "sub ecx, 8" \
    "jnz q8_top" \
    "movq mm0, mm7" \
    "psrlq mm0, 32" \
    "paddd mm7, mm0" \
    "movd eax, mm7" \
    parm [esi] [edi] [ecx] value [eax] modify exact [eax esi edi ecx];
void q8_emms(void);
#pragma aux q8_emms = "emms" modify exact [];
#define Q8_EMMS() q8_emms()
#elif defined(Q8_MMX_ASM)
/* The same loop for Borland C++ (untested: see the top of the file).
 * gs is a multiple of 8 and at least 8. */
static long dot_mmx(const signed char *w, const short *x, int gs)
{
    long r;
    _asm {
        mov esi, w
        mov edi, x
        mov ecx, gs
        pxor mm7, mm7
    q8_top:
        movq mm0, [esi]
        movq mm1, mm0
        punpcklbw mm0, mm0
        punpckhbw mm1, mm1
        psraw mm0, 8
        psraw mm1, 8
        pmaddwd mm0, [edi]
        pmaddwd mm1, [edi + 8]
        paddd mm7, mm0
        paddd mm7, mm1
        add esi, 8
        add edi, 16
        sub ecx, 8
        jnz q8_top
        movq mm0, mm7
        psrlq mm0, 32
        paddd mm7, mm0
        movd r, mm7
    }
    return r;
}
#define Q8_EMMS() _asm { emms }
#endif

#if defined(Q8_MMX_GCC) || defined(Q8_MMX_AUX) || defined(Q8_MMX_ASM)
#define Q8_HAVE_MMX 1
#else
#define Q8_EMMS() ((void)0)
#endif

/* The dots of `rows` consecutive rows (n values apart) times x, ng groups
 * each, into iv (rows * ng).  No float instruction may run in here while
 * the MMX kernel is in use. */
static void dot_rows(long *iv, const signed char *w, const short *x, int rows,
                     long n, int ng, int gs)
{
    int r, g;
    const signed char *wr = w;
#ifdef Q8_MMX_ROW32
    if (gs == 32) {
        for (r = 0; r < rows; r++, wr += n, iv += ng)
            dots_mmx32_pairs(iv, wr, x, ng);
        return;
    }
    if (gs % 32 == 0) {
        for (r = 0; r < rows; r++, wr += n, iv += ng)
            dots_mmx32(iv, wr, x, ng, gs);
        return;
    }
#endif
#ifdef Q8_HAVE_MMX
    if (gs % 8 == 0) {
        for (r = 0; r < rows; r++, wr += n)
            for (g = 0; g < ng; g++)
                *iv++ = dot_mmx(wr + (long)g * gs, x + (long)g * gs, gs);
        return;
    }
#endif
    for (r = 0; r < rows; r++, wr += n)
        for (g = 0; g < ng; g++)
            *iv++ = dot_c(wr + (long)g * gs, x + (long)g * gs, gs);
}

void q8_dot_groups(long *iv, const signed char *w, const short *x, int ngroups,
                   int gs)
{
    dot_rows(iv, w, x, 1, (long)ngroups * gs, ngroups, gs);
    Q8_EMMS();
}

const char *q8_kernel(int gs)
{
#ifdef Q8_HAVE_MMX
    if (gs % 8 == 0)
        return "mmx";
#endif
    (void)gs;
    return "portable";
}

/* ------------------------------------------------------------------------
 * Matmul
 */

/* runq.c's  val += ((float)ival) * w_scale * x_scale  over ng groups, in
 * order, continuing the sum `val`.  |ival| <= gs * 128 * 127 is below 2^24
 * for gs <= 1032, so the conversion to float is exact there and is made
 * to acc_t instead: on the x87 in ISO C mode a conversion to float costs a
 * store and a reload, one to long double nothing.  The
 * loop is unrolled by two (a llama2 row has few groups, so loop overhead
 * counts) but keeps one sum, so the order of additions stays runq.c's. */
static Q8_INLINE acc_t scale_sum(acc_t val, const long *iv, const float *ws,
                                 const float *xs, int ng, int gs)
{
    int g = 0;
    if (gs <= 1032) {
        for (; g + 2 <= ng; g += 2) {
            val += (acc_t)iv[g] * ws[g] * xs[g];
            val += (acc_t)iv[g + 1] * ws[g + 1] * xs[g + 1];
        }
        if (g < ng)
            val += (acc_t)iv[g] * ws[g] * xs[g];
        return val;
    }
    for (; g < ng; g++)
        val += (float)iv[g] * ws[g] * xs[g];
    return val;
}

void q8_matmul(float *out, const short *xq, const float *xs,
               const signed char *wq, const float *ws, int n, int d, int gs)
{
    long iv[Q8_BLOCK];
    int ng = n / gs, i, r, rows;
    /* a row's scales start at row * n / gs: row * ng when gs divides n
     * (always, for a llama2 model), which spares an integer division (~40
     * cycles) per row */
    int whole = n % gs == 0;
    if (ng <= Q8_BLOCK) {
        /* Blocks of whole rows: integer dots, one emms, then the floats. */
        int per = ng > 0 ? Q8_BLOCK / ng : Q8_BLOCK;
        for (i = 0; i < d; i += rows) {
            const long *v = iv;
            rows = d - i < per ? d - i : per;
            dot_rows(iv, wq + (long)i * n, xq, rows, n, ng, gs);
            Q8_EMMS();
            for (r = 0; r < rows; r++) {
                const float *wsr = whole ? ws + (long)(i + r) * ng
                                         : ws + ((long)(i + r) * n) / gs;
                out[i + r] = (float)scale_sum(0.0f, v, wsr, xs, ng, gs);
                v += ng;
            }
        }
        return;
    }
    /* Rows longer than a block (n / gs > Q8_BLOCK): each row in pieces. */
    for (i = 0; i < d; i++) {
        const signed char *wr = wq + (long)i * n;
        const float *wsr = ws + ((long)i * n) / gs;
        acc_t val = 0.0f;
        int g0, m;
        for (g0 = 0; g0 < ng; g0 += m) {
            m = ng - g0 < Q8_BLOCK ? ng - g0 : Q8_BLOCK;
            dot_rows(iv, wr + (long)g0 * gs, xq + (long)g0 * gs, 1, n, m, gs);
            Q8_EMMS();
            val = scale_sum(val, iv, wsr + g0, xs + g0, m, gs);
        }
        out[i] = (float)val;
    }
}
