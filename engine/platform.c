/*
 * platform.c -- the engine's only contact with the operating system beyond
 * stdio: an interval timer, the directory of the running program, the free
 * memory, large files read piece by piece, and text in the system's code
 * page (the engine itself works in UTF-8, as llama2.c's tokenizer does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "compat.h"

#ifdef COMPAT_WIN32
#include <windows.h>
#endif
#ifdef COMPAT_DOS
#include <conio.h>
#include <io.h>
#include <i86.h>
#endif

void platform_init(void)
{
    COMPAT_MASK_FPU();
}

/* ------------------------------------------------------------------------
 * UTF-8 <-> code points, for the code-page conversions below.  Our own
 * small codec instead of MultiByteToWideChar(CP_UTF8): Windows 95 has no
 * CP_UTF8 there (it came with Windows 98 and NT4), and MS-DOS has no API
 * at all.  Code points above U+FFFF become '?' on every code page we
 * convert to, so UTF-16 surrogates are never needed.
 */

/* Decodes one UTF-8 sequence at s (n bytes available): the code point and
 * its length in *len; 0 in *len if the sequence is incomplete (more bytes
 * may come), -1 for a byte that starts no valid sequence (length 1). */
static long utf8_decode(const unsigned char *s, size_t n, int *len)
{
    long cp;
    int need, i;
    if (s[0] < 0x80) {
        *len = 1;
        return s[0];
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        need = 2;
        cp = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        need = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        *len = 1;
        return -1;
    }
    for (i = 1; i < need; i++) {
        if ((size_t)i >= n) {
            *len = 0;
            return -1;
        }
        if ((s[i] & 0xC0) != 0x80) {
            *len = 1;
            return -1;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *len = need;
    if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
        return -1;
    }
    return cp;
}

/* Writes code point cp as UTF-8 at out (room for 4); returns the length. */
static int utf8_encode(long cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The two code-page hooks every platform below provides: text in the
 * input code page (command line, or console input when `console`) to
 * UTF-8 in a new allocation (NULL if there is no memory), and code point
 * cp as bytes of the console's output code page at out (room for 8;
 * returns how many), '?' where it has none. */
static char *cp_text_to_utf8(const char *text, int console);
static int cp_from_unicode(long cp, char *out);

#ifndef COMPAT_WIN32
/* For the single-byte code pages: each byte through a table. */
static char *bytes_to_utf8(const char *text, long (*to_unicode)(unsigned char))
{
    size_t n = strlen(text), i, o = 0;
    unsigned char *out = (unsigned char *)malloc(4 * n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        o += (size_t)utf8_encode(to_unicode((unsigned char)text[i]), out + o);
    }
    out[o] = '\0';
    return (char *)out;
}
#endif

/* ------------------------------------------------------------------------
 * Console output: UTF-8 in, the console's code page out.  A token may end
 * inside a UTF-8 sequence (llama2.c's byte tokens), so up to three bytes
 * wait here for the rest of their character.
 */

static int console_out = -1; /* unknown yet */
static unsigned char pending[4];
static size_t pending_len;

static int stdout_is_console(void);

static void console_write(const unsigned char *s, size_t n)
{
    char buf[256];
    size_t k = 0;
    while (n > 0) {
        int len;
        long cp = utf8_decode(s, n, &len);
        if (len == 0) {
            break; /* incomplete: keep it for the next call */
        }
        if (cp < 0) {
            buf[k++] = '?';
        } else {
            k += (size_t)cp_from_unicode(cp, buf + k);
        }
        if (k + 8 > sizeof buf) {
            fwrite(buf, 1, k, stdout);
            k = 0;
        }
        s += len;
        n -= (size_t)len;
    }
    fwrite(buf, 1, k, stdout);
    memcpy(pending, s, n);
    pending_len = n;
}

void platform_print(const char *text)
{
    unsigned char joined[8];
    size_t n = strlen(text);
    if (console_out < 0) {
        console_out = stdout_is_console();
    }
    if (!console_out) {
        fputs(text, stdout);
        return;
    }
    /* complete a character left over from the last call first */
    while (pending_len > 0 && n > 0) {
        int len;
        size_t take = n < 4 - pending_len ? n : 4 - pending_len;
        memcpy(joined, pending, pending_len);
        memcpy(joined + pending_len, text, take);
        utf8_decode(joined, pending_len + take, &len);
        if (len == 0 && take == n) {
            memcpy(pending + pending_len, text, take);
            pending_len += take;
            return;
        }
        if (len == 0 || (size_t)len <= pending_len) {
            /* broken sequence: one '?' for its first byte, then retry */
            fputc('?', stdout);
            memmove(pending, pending + 1, --pending_len);
            continue;
        }
        console_write(joined, (size_t)len);
        text += (size_t)len - pending_len;
        n -= (size_t)len - pending_len;
        pending_len = 0;
    }
    console_write((const unsigned char *)text, n);
}

void platform_flush(void)
{
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * Large files: opened, positioned and read with offsets held in doubles,
 * so that a model file of 2 to 4 GB (the FAT32 limit) can be streamed by
 * a 32-bit program whose C library's fseek stops at 2 GB.
 */

#ifdef COMPAT_WIN32

struct PlatformFile {
    HANDLE h;
};

PlatformFile *platform_open(const char *path)
{
    PlatformFile *f;
    HANDLE h = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        return NULL;
    }
    f = (PlatformFile *)malloc(sizeof *f);
    if (f == NULL) {
        CloseHandle(h);
        return NULL;
    }
    f->h = h;
    return f;
}

/* SetFilePointer with the high DWORD: Windows 95 has no SetFilePointerEx. */
int platform_seek(PlatformFile *f, double offset)
{
    LONG high = (LONG)(offset / 4294967296.0);
    DWORD low = (DWORD)(offset - (double)high * 4294967296.0);
    DWORD r = SetFilePointer(f->h, (LONG)low, &high, FILE_BEGIN);
    return !(r == 0xFFFFFFFFUL && GetLastError() != NO_ERROR);
}

unsigned long platform_read(PlatformFile *f, void *buf, unsigned long n)
{
    DWORD got = 0;
    if (!ReadFile(f->h, buf, (DWORD)n, &got, NULL)) {
        return 0;
    }
    return (unsigned long)got;
}

double platform_file_size(PlatformFile *f)
{
    DWORD high = 0, low = GetFileSize(f->h, &high);
    if (low == 0xFFFFFFFFUL && GetLastError() != NO_ERROR) {
        return -1.0;
    }
    return (double)high * 4294967296.0 + (double)low;
}

void platform_close(PlatformFile *f)
{
    CloseHandle(f->h);
    free(f);
}

#else

struct PlatformFile {
    FILE *f;
};

PlatformFile *platform_open(const char *path)
{
    PlatformFile *f = (PlatformFile *)malloc(sizeof *f);
    if (f == NULL) {
        return NULL;
    }
    f->f = fopen(path, "rb");
    if (f->f == NULL) {
        free(f);
        return NULL;
    }
    return f;
}

/* fseek takes a long: offsets beyond it are refused (a 32-bit C library
 * without large-file support could not have opened such a file anyway). */
int platform_seek(PlatformFile *f, double offset)
{
    if (offset < 0.0 || offset >= 9.0e18 ||
        (sizeof(long) < 8 && offset > 2147483647.0)) {
        return 0;
    }
    return fseek(f->f, (long)offset, SEEK_SET) == 0;
}

unsigned long platform_read(PlatformFile *f, void *buf, unsigned long n)
{
    return (unsigned long)fread(buf, 1, (size_t)n, f->f);
}

double platform_file_size(PlatformFile *f)
{
    long size;
    if (fseek(f->f, 0L, SEEK_END) != 0 || (size = ftell(f->f)) < 0) {
        return -1.0;
    }
    return (double)size;
}

void platform_close(PlatformFile *f)
{
    fclose(f->f);
    free(f);
}

#endif

/* ------------------------------------------------------------------------
 * Per platform: timer, program directory, free memory, code pages
 */

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

/* GlobalMemoryStatus (every Win32 release; the Ex version is not on 9x):
 * the physical memory free right now. */
double platform_free_bytes(void)
{
    MEMORYSTATUS ms;
    ms.dwLength = sizeof ms;
    GlobalMemoryStatus(&ms);
    return ms.dwAvailPhys > 0 ? (double)ms.dwAvailPhys : -1.0;
}

/* The command line comes in the ANSI code page (CP_ACP), console input in
 * the console's input code page (GetConsoleCP), console output goes out in
 * GetConsoleOutputCP.  MultiByteToWideChar / WideCharToMultiByte with those
 * code pages work on every Win32 release, double-byte ones (932, 936...)
 * included; UTF-8 is our own codec above, UTF-16 surrogates joined here. */
static char *cp_text_to_utf8(const char *text, int console)
{
    UINT cp = console ? GetConsoleCP() : CP_ACP;
    int n = (int)strlen(text), w, i, o = 0;
    WCHAR *wide;
    unsigned char *out;
    if (n == 0) {
        out = (unsigned char *)malloc(1);
        if (out != NULL) {
            out[0] = '\0';
        }
        return (char *)out;
    }
    wide = (WCHAR *)malloc(sizeof(WCHAR) * (size_t)n);
    out = (unsigned char *)malloc(3 * (size_t)n + 1);
    w = wide != NULL && out != NULL
            ? MultiByteToWideChar(cp, 0, text, n, wide, n)
            : 0;
    if (w <= 0) {
        free(wide);
        free(out);
        return NULL;
    }
    for (i = 0; i < w; i++) {
        long c = wide[i];
        if (c >= 0xD800 && c <= 0xDBFF && i + 1 < w && wide[i + 1] >= 0xDC00 &&
            wide[i + 1] <= 0xDFFF) {
            c = 0x10000L + ((c - 0xD800L) << 10) + (wide[i + 1] - 0xDC00L);
            i++;
        } else if (c >= 0xD800 && c <= 0xDFFF) {
            c = '?';
        }
        o += utf8_encode(c, out + o);
    }
    out[o] = '\0';
    free(wide);
    return (char *)out;
}

static int cp_from_unicode(long cp, char *out)
{
    WCHAR w = (WCHAR)cp;
    BOOL lossy = FALSE;
    int n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    n = cp > 0xFFFF ? 0
                    : WideCharToMultiByte(GetConsoleOutputCP(), 0, &w, 1, out,
                                          8, "?", &lossy);
    if (n <= 0) {
        out[0] = '?';
        return 1;
    }
    return n;
}

static int stdout_is_console(void)
{
    DWORD mode;
    return GetConsoleMode(GetStdHandle(STD_OUTPUT_HANDLE), &mode) != 0;
}

static int stdin_is_console(void)
{
    DWORD mode;
    return GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mode) != 0;
}

#elif defined(COMPAT_DOS)

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

/* DPMI function 0500h (every DOS extender Watcom supports provides it):
 * the first DWORD of its 48-byte answer is the largest free block. */
double platform_free_bytes(void)
{
    static unsigned long info[12];
    union REGS r;
    struct SREGS sr;
    memset(&sr, 0, sizeof sr);
    memset(&r, 0, sizeof r);
    segread(&sr);
    r.x.eax = 0x0500;
    r.x.edi = (unsigned int)info;
    int386x(0x31, &r, &r, &sr);
    if (r.x.cflag || info[0] == 0 || info[0] == 0xFFFFFFFFUL) {
        return -1.0;
    }
    return (double)info[0];
}

/* MS-DOS text is in the OEM code page: 437 (US) unless built with
 * -DRL_CP850 (multilingual Latin 1).  The upper halves, as Unicode. */
#ifdef RL_CP850
static const unsigned short oem_upper[128] = {
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7,
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5,
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,
    0x00FF, 0x00D6, 0x00DC, 0x00F8, 0x00A3, 0x00D8, 0x00D7, 0x0192,
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA,
    0x00BF, 0x00AE, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x00C1, 0x00C2, 0x00C0,
    0x00A9, 0x2563, 0x2551, 0x2557, 0x255D, 0x00A2, 0x00A5, 0x2510,
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x00E3, 0x00C3,
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x00A4,
    0x00F0, 0x00D0, 0x00CA, 0x00CB, 0x00C8, 0x0131, 0x00CD, 0x00CE,
    0x00CF, 0x2518, 0x250C, 0x2588, 0x2584, 0x00A6, 0x00CC, 0x2580,
    0x00D3, 0x00DF, 0x00D4, 0x00D2, 0x00F5, 0x00D5, 0x00B5, 0x00FE,
    0x00DE, 0x00DA, 0x00DB, 0x00D9, 0x00FD, 0x00DD, 0x00AF, 0x00B4,
    0x00AD, 0x00B1, 0x2017, 0x00BE, 0x00B6, 0x00A7, 0x00F7, 0x00B8,
    0x00B0, 0x00A8, 0x00B7, 0x00B9, 0x00B3, 0x00B2, 0x25A0, 0x00A0
};
#else
static const unsigned short oem_upper[128] = {
    0x00C7, 0x00FC, 0x00E9, 0x00E2, 0x00E4, 0x00E0, 0x00E5, 0x00E7,
    0x00EA, 0x00EB, 0x00E8, 0x00EF, 0x00EE, 0x00EC, 0x00C4, 0x00C5,
    0x00C9, 0x00E6, 0x00C6, 0x00F4, 0x00F6, 0x00F2, 0x00FB, 0x00F9,
    0x00FF, 0x00D6, 0x00DC, 0x00A2, 0x00A3, 0x00A5, 0x20A7, 0x0192,
    0x00E1, 0x00ED, 0x00F3, 0x00FA, 0x00F1, 0x00D1, 0x00AA, 0x00BA,
    0x00BF, 0x2310, 0x00AC, 0x00BD, 0x00BC, 0x00A1, 0x00AB, 0x00BB,
    0x2591, 0x2592, 0x2593, 0x2502, 0x2524, 0x2561, 0x2562, 0x2556,
    0x2555, 0x2563, 0x2551, 0x2557, 0x255D, 0x255C, 0x255B, 0x2510,
    0x2514, 0x2534, 0x252C, 0x251C, 0x2500, 0x253C, 0x255E, 0x255F,
    0x255A, 0x2554, 0x2569, 0x2566, 0x2560, 0x2550, 0x256C, 0x2567,
    0x2568, 0x2564, 0x2565, 0x2559, 0x2558, 0x2552, 0x2553, 0x256B,
    0x256A, 0x2518, 0x250C, 0x2588, 0x2584, 0x258C, 0x2590, 0x2580,
    0x03B1, 0x00DF, 0x0393, 0x03C0, 0x03A3, 0x03C3, 0x00B5, 0x03C4,
    0x03A6, 0x0398, 0x03A9, 0x03B4, 0x221E, 0x03C6, 0x03B5, 0x2229,
    0x2261, 0x00B1, 0x2265, 0x2264, 0x2320, 0x2321, 0x00F7, 0x2248,
    0x00B0, 0x2219, 0x00B7, 0x221A, 0x207F, 0x00B2, 0x25A0, 0x00A0
};
#endif

static long oem_to_unicode(unsigned char b)
{
    return b < 0x80 ? (long)b : (long)oem_upper[b - 0x80];
}

static char *cp_text_to_utf8(const char *text, int console)
{
    (void)console;
    return bytes_to_utf8(text, oem_to_unicode);
}

static int cp_from_unicode(long cp, char *out)
{
    int i;
    out[0] = '?';
    if (cp < 0x80) {
        out[0] = (char)cp;
    }
    for (i = 0; cp >= 0x80 && i < 128; i++) {
        if ((long)oem_upper[i] == cp) {
            out[0] = (char)(0x80 + i);
        }
    }
    return 1;
}

static int stdout_is_console(void)
{
    return isatty(fileno(stdout));
}

static int stdin_is_console(void)
{
    return isatty(fileno(stdin));
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

/* Unknown here: with no -b the model is read into memory whole. */
double platform_free_bytes(void)
{
    return -1.0;
}

/* POSIX systems of today speak UTF-8: no conversion at all (these two are
 * never reached: stdout and stdin never count as consoles here). */
static long latin1_to_unicode(unsigned char b)
{
    return b;
}

static char *cp_text_to_utf8(const char *text, int console)
{
    (void)console;
    return bytes_to_utf8(text, latin1_to_unicode);
}

static int cp_from_unicode(long cp, char *out)
{
    out[0] = (char)(cp < 0x100 ? cp : '?');
    return 1;
}

static int stdout_is_console(void)
{
    return 0;
}

static int stdin_is_console(void)
{
    return 0;
}

#define COMPAT_UTF8_ALREADY 1

#endif

/* ------------------------------------------------------------------------
 * Text coming in
 */

const char *platform_arg_utf8(const char *arg)
{
#ifdef COMPAT_UTF8_ALREADY
    return arg;
#else
    char *u = cp_text_to_utf8(arg, 0);
    return u != NULL ? u : arg;
#endif
}

void platform_input_utf8(char *line, unsigned size)
{
    char *u;
    if (!stdin_is_console()) {
        return;
    }
    u = cp_text_to_utf8(line, 1);
    if (u == NULL) {
        return;
    }
    if (strlen(u) < size) {
        strcpy(line, u);
    } else {
        /* cut at a character boundary */
        size_t n = size - 1;
        while (n > 0 && ((unsigned char)u[n] & 0xC0) == 0x80) {
            n--;
        }
        memcpy(line, u, n);
        line[n] = '\0';
    }
    free(u);
}
