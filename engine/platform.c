/*
 * platform.c -- the engine's only contact with the operating system beyond
 * stdio: an interval timer and the directory of the running program.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "compat.h"

#ifdef COMPAT_WIN32
#include <windows.h>
#endif

void platform_init(void)
{
    COMPAT_MASK_FPU();
}

#ifdef COMPAT_WIN32

/* QueryPerformanceCounter is exported by KERNEL32 since Windows 95 and
 * ticks at about 1.19 MHz there; GetTickCount (55 ms steps on 9x) is the
 * fallback for a machine without a performance counter. */
double platform_seconds(void)
{
    LARGE_INTEGER count, freq;
    if (QueryPerformanceFrequency(&freq) && QueryPerformanceCounter(&count)) {
        double f = (double)freq.HighPart * 4294967296.0 + (double)freq.LowPart;
        double c =
            (double)count.HighPart * 4294967296.0 + (double)count.LowPart;
        if (f > 0.0) {
            return c / f;
        }
    }
    return (double)GetTickCount() / 1000.0;
}

void platform_beside_exe(const char *argv0, const char *name, char *buf,
                         unsigned size)
{
    char path[MAX_PATH + 1];
    DWORD n = GetModuleFileNameA(NULL, path, MAX_PATH);
    const char *dir = path;
    size_t dirlen, i;

    if (n == 0 || n >= MAX_PATH) {
        dir = argv0 != NULL ? argv0 : "";
    } else {
        path[n] = '\0';
    }
    dirlen = 0;
    for (i = 0; dir[i] != '\0'; i++) {
        if (dir[i] == '\\' || dir[i] == '/' || dir[i] == ':') {
            dirlen = i + 1;
        }
    }
    if (dirlen + strlen(name) + 1 > size) {
        dirlen = 0;
    }
    memcpy(buf, dir, dirlen);
    strcpy(buf + dirlen, name);
}

#else

double platform_seconds(void)
{
    return (double)clock() / (double)CLOCKS_PER_SEC;
}

void platform_beside_exe(const char *argv0, const char *name, char *buf,
                         unsigned size)
{
    size_t dirlen = 0, i;
    if (argv0 != NULL) {
        for (i = 0; argv0[i] != '\0'; i++) {
            if (argv0[i] == '/') {
                dirlen = i + 1;
            }
        }
    }
    if (dirlen + strlen(name) + 1 > size) {
        dirlen = 0;
    }
    if (dirlen > 0) {
        memcpy(buf, argv0, dirlen);
    }
    strcpy(buf + dirlen, name);
}

#endif
