/*
 * compat.h -- everything that differs between the compilers RUN.EXE is built
 * with (gcc/clang/tcc on Linux, MinGW, Borland C++ 5.02, Open Watcom, MSVC).
 *
 * The rest of the engine is plain ISO C89 and never tests a compiler macro;
 * it calls the few functions declared here (implemented in platform.c) and
 * uses the two types defined here, acc_t and wide_t.
 *
 * No 64-bit integer type is needed anywhere: the xorshift64* generator in
 * run.c works on two 32-bit halves, and the Win32 timer reads LARGE_INTEGER
 * through its HighPart/LowPart members.
 */
#ifndef RETROLLAMA_COMPAT_H
#define RETROLLAMA_COMPAT_H

/*
 * acc_t: the type of the running sums in matmul, attention and rmsnorm.
 *
 * On an x87 FPU a float is evaluated in 80-bit registers anyway
 * (FLT_EVAL_METHOD 2).  GCC in ISO mode (-std=c89) then rounds every
 * assignment to a float variable, which means a store and a reload inside
 * the innermost loop.  Declaring the accumulators long double there keeps
 * them in registers: same instruction count as the unrounded GNU mode, and
 * at least as accurate.  Everywhere else (SSE, Borland, Watcom, MSVC) the
 * accumulators are plain floats, which makes a native build sum in exactly
 * the order and precision of llama2.c's run.c.
 */
#if defined(__GNUC__) && defined(__FLT_EVAL_METHOD__)
#if __FLT_EVAL_METHOD__ == 2
typedef long double acc_t;
typedef long double wide_t;
#else
typedef float acc_t;
typedef double wide_t;
#endif
#else
typedef float acc_t;
typedef double wide_t;
#endif

/*
 * wide_t: intermediate results that need more than float precision (the
 * argument of the fast exp in run.c).  long double where gcc keeps x87
 * registers unrounded anyway, so that it costs nothing; double elsewhere.
 */

/* u32: exactly 32 bits on every target (ILP32 Windows and Linux, LP64
 * Linux); run.c checks the size at compile time. Used only to reach the bit
 * pattern of a float in the fast exp. */
typedef unsigned int u32;

/* COMPAT_WIN32: the Win32 API is there (MinGW, Borland, Watcom, MSVC). */
#if defined(_WIN32) || defined(__WIN32__) || defined(__NT__)
#define COMPAT_WIN32 1
#endif

/* COMPAT_DOS: MS-DOS with a DOS extender (Open Watcom -bt=dos). */
#if !defined(COMPAT_WIN32) && defined(__DOS__)
#define COMPAT_DOS 1
#endif

/* COMPAT_MASK_FPU(): mask all six x87 exceptions. Borland's startup code
 * leaves invalid-operation, divide-by-zero and overflow unmasked (float.h's
 * CW_DEFAULT); Watcom and MSVC get the same call for good measure. */
#if defined(__BORLANDC__) || defined(__WATCOMC__) || defined(_MSC_VER)
#include <float.h>
#define COMPAT_MASK_FPU() ((void)_control87(MCW_EM, MCW_EM))
#else
#define COMPAT_MASK_FPU() ((void)0)
#endif

/* COMPAT_ASM_INTEL: the compiler takes Intel-syntax _asm blocks (the MMX
 * int8 kernel in q8.c uses one for Borland, Watcom and MSVC; GCC builds use
 * AT&T inline assembly there instead). */
#if defined(__BORLANDC__) || defined(__WATCOMC__) || defined(_MSC_VER)
#define COMPAT_ASM_INTEL 1
#endif

/* COMPAT_PRAGMA_AUX: Open Watcom's `#pragma aux` inline code, which states
 * its argument, result and clobbered registers (q8.c's MMX kernel uses it in
 * preference to `_asm`, whose effects Watcom's optimiser does not see). */
#if defined(__WATCOMC__)
#define COMPAT_PRAGMA_AUX 1
#endif

/* Called first thing in main: masks the x87 exceptions that Borland's
 * startup code leaves enabled (overflow in exp, 0/0), so that inf and NaN
 * propagate as on every other compiler instead of killing the process. */
void platform_init(void);

/* Seconds since some fixed point, as precisely as the platform allows:
 * QueryPerformanceCounter on Win32 (GetTickCount if that is missing),
 * clock() elsewhere. Only differences of two calls are meaningful. */
double platform_seconds(void);

/* Writes into buf (size bytes) the path of `name` inside the directory that
 * holds the running program (GetModuleFileName on Win32, argv[0] elsewhere);
 * just `name` when that directory is unknown or the path would not fit. */
void platform_beside_exe(const char *argv0, const char *name, char *buf,
                         unsigned size);

/* The physical memory free for this program in bytes (GlobalMemoryStatus
 * on Win32, DPMI on MS-DOS), or -1 when the platform does not say: the
 * default memory budget (run.c's -b). */
double platform_free_bytes(void);

/* Text out: platform_print writes UTF-8 text to stdout, converted to the
 * console's code page when stdout is a Windows or DOS console (characters
 * it lacks become '?'); to a file or pipe it goes byte for byte.  Call
 * platform_flush where run.c would call fflush(stdout). */
void platform_print(const char *utf8);
void platform_flush(void);

/* Text in: a command-line argument converted from the system's code page
 * (Windows: ANSI, DOS: OEM) to UTF-8 -- the argument itself where no
 * conversion is needed or possible; and a line read from stdin, converted
 * in place from the console's input code page when stdin is a console. */
const char *platform_arg_utf8(const char *arg);
void platform_input_utf8(char *line, unsigned size);

/* Large files, for weights streamed from disk every token: offsets are
 * doubles (Win32 seeks with SetFilePointer's high DWORD, so files of 2 to
 * 4 GB work there).  platform_seek returns 0 on failure, platform_read the
 * bytes read, platform_file_size -1 when unknown. */
typedef struct PlatformFile PlatformFile;
PlatformFile *platform_open(const char *path);
int platform_seek(PlatformFile *f, double offset);
unsigned long platform_read(PlatformFile *f, void *buf, unsigned long n);
double platform_file_size(PlatformFile *f);
void platform_close(PlatformFile *f);

#endif /* RETROLLAMA_COMPAT_H */
