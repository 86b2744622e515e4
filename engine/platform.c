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

#elif defined(__DOS__)

/* MS-DOS (Open Watcom, 32-bit flat model under a DOS extender, where the
 * first megabyte is addressable as it is in real mode).  clock() there
 * counts the BIOS tick: 18.2 Hz, 55 ms steps, too coarse for a run of a few
 * seconds.  Every PC has the 8253/8254 timer whose channel 0 makes that
 * tick: it counts down 65536 input clocks of 1193182 Hz per tick, so the
 * BIOS tick count (0040:006C) plus the counter gives 0.84 us steps.  The
 * BIOS programs channel 0 in mode 3 (square wave), where the counter runs
 * down twice per tick; mode 2 (rate generator) with the same divisor
 * counts down once and raises IRQ 0 at the same rate, so the time of day
 * is unaffected.  The mode is switched on the first call and set back at
 * exit. */
#include <conio.h>
#include <stdlib.h>

#define PIT_HZ 1193182.0
#define PIT_CONTROL 0x43
#define PIT_COUNTER0 0x40
#define PIC_COMMAND 0x20
#define BIOS_TICKS_PER_DAY 1573040.0 /* 0x1800B0: the count wraps at midnight */
#define BIOS_TICKS (*(volatile unsigned long *)0x46CUL)

static int pit_mode2;

static void pit_restore(void)
{
    outp(PIT_CONTROL, 0x36); /* channel 0, low then high byte, mode 3 */
    outp(PIT_COUNTER0, 0);
    outp(PIT_COUNTER0, 0); /* divisor 0 means 65536 */
}

static void pit_setup(void)
{
    outp(PIT_CONTROL, 0x34); /* channel 0, low then high byte, mode 2 */
    outp(PIT_COUNTER0, 0);
    outp(PIT_COUNTER0, 0);
    pit_mode2 = 1;
    atexit(pit_restore);
}

double platform_seconds(void)
{
    static double last, day_offset;
    unsigned long ticks;
    unsigned count, done;
    int pending;
    double now;

    if (!pit_mode2) {
        pit_setup();
    }
    do {
        ticks = BIOS_TICKS;
        outp(PIT_CONTROL, 0x00); /* latch channel 0's count */
        count = (unsigned)inp(PIT_COUNTER0);
        count |= (unsigned)inp(PIT_COUNTER0) << 8;
        outp(PIC_COMMAND, 0x0A); /* next read: interrupt request register */
        pending = inp(PIC_COMMAND) & 1;
    } while (ticks != BIOS_TICKS);
    done = (65536U - count) & 0xFFFFU; /* count 0 reads as 65536 */
    if (pending && done < 32768U) {
        ticks++; /* the counter wrapped; IRQ 0 has not counted it yet */
    }
    now = ((double)ticks * 65536.0 + (double)done) / PIT_HZ + day_offset;
    if (now + 43200.0 < last) {
        day_offset += BIOS_TICKS_PER_DAY * 65536.0 / PIT_HZ;
        now += BIOS_TICKS_PER_DAY * 65536.0 / PIT_HZ;
    }
    last = now;
    return now;
}

/* argv[0] is the full path DOS loaded the program from, as C:\DIR\RUN.EXE. */
void platform_beside_exe(const char *argv0, const char *name, char *buf,
                         unsigned size)
{
    size_t dirlen = 0, i;
    if (argv0 != NULL) {
        for (i = 0; argv0[i] != '\0'; i++) {
            if (argv0[i] == '\\' || argv0[i] == '/' || argv0[i] == ':') {
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
