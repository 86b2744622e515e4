/* winstart.c -- the program entry for MinGW builds that must run on a
 * Pentium, 486 or K6.
 *
 * Debian's prebuilt MinGW startup (crt2.o, libmingw32) contains CMOV, a
 * Pentium Pro instruction, whatever -march the program itself is built for.
 * Linking with -nostartfiles leaves it out; this file provides what is then
 * missing, and nothing else:
 *
 *   mainCRTStartup             the entry point (-Wl,-e,_mainCRTStartup): get
 *                              argc/argv from msvcrt.dll, run main, exit.
 *   _pei386_runtime_relocator  MinGW's pseudo-relocation pass; referenced by
 *                              some library objects, never needed by the
 *                              engine (it imports no data from DLLs).
 *   __main                     GCC calls it first thing in main() to run
 *                              constructors.  libmingw32's version registers
 *                              its destructor list with a pseudo-relocated
 *                              call to atexit, which jumps into the import
 *                              table when the relocator above does nothing:
 *                              C has no constructors, so ours is empty.
 *
 * What the default startup did and this one does not: no TLS callbacks, no
 * SEH filter, no _fpreset (the FPU keeps the control word the OS gave the
 * process), no C++ constructors.  The engine needs none of them.
 *
 * Build: every engine source, this file and msvcrtfn.c (which keeps two
 * more P6-only MinGW library functions out), linked against msvcrt only:
 *   i686-w64-mingw32-gcc -O2 -march=pentium -mfpmath=387 -fno-math-errno
 *     -funsafe-math-optimizations -D__USE_MINGW_ANSI_STDIO=0 -nostartfiles
 *     -Wl,-e,_mainCRTStartup -s  (sources)  -lmsvcrt -lkernel32
 * toolchain/audit checks the result has no instruction beyond the CPU.
 */

#include <stdlib.h>

/* msvcrt.dll, every version since Visual C++ 4.2.  Old versions return
 * nothing (void), newer ones 0 or -1, so the result is not used: argv is
 * checked instead. */
extern int __getmainargs(int *argc, char ***argv, char ***envp,
                         int expand_wildcards, int *startup_info);

extern int main(int argc, char **argv);

void _pei386_runtime_relocator(void);

void _pei386_runtime_relocator(void)
{
}

void __main(void);

void __main(void)
{
}

void mainCRTStartup(void);

void mainCRTStartup(void)
{
    int argc = 0;
    char **argv = NULL;
    char **envp = NULL;
    int startup_info = 0;  /* _startupinfo: only its new-handler mode field */

    __getmainargs(&argc, &argv, &envp, 0, &startup_info);
    if (argv == NULL) {
        exit(255);  /* msvcrt could not build the argument vector */
    }
    exit(main(argc, argv));
}
