/* Semihosting, the timer and the counter-based random numbers used by the device program. */
#include "device.h"

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void host_write(const char *text) { semihost(SYS_WRITE0, text); }

void host_exit(int code)
{
    static uint32_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint32_t)code;
    semihost(SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

static char line[16 + 8 * 9 + 2]; /* one output line: label + up to 8 hex words */

static char *put_hex(char *p, uint32_t v)
{
    for (int s = 28; s >= 0; s -= 4) *p++ = "0123456789abcdef"[(v >> s) & 0xF];
    return p;
}

static char *put_label(const char *label)
{
    char *p = line;
    while (*label && p < line + 15) *p++ = *label++;
    return p;
}

void write_uint(const char *label, uint32_t value)
{
    char *p = put_label(label);
    *p++ = ' ';
    p = put_hex(p, value);
    *p++ = '\n';
    *p = 0;
    host_write(line);
}

void write_floats(const char *label, const float *x, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 8) {
        char *p = put_label(label);
        for (uint32_t j = i; j < n && j < i + 8; j++) {
            union { float f; uint32_t u; } bits = {x[j]};
            *p++ = ' ';
            p = put_hex(p, bits.u);
        }
        *p++ = '\n';
        *p = 0;
        host_write(line);
    }
}

/* CMSDK APB timer 0 of the MPS2 board: a 32-bit down-counter at the 25 MHz peripheral clock. */
#define TIMER0_CTRL (*(volatile uint32_t *)0x40000000u)
#define TIMER0_VALUE (*(volatile uint32_t *)0x40000004u)
#define TIMER0_RELOAD (*(volatile uint32_t *)0x40000008u)

void timer_start(void)
{
    TIMER0_CTRL = 0;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1;
}

uint32_t timer_ticks(void) { return 0xFFFFFFFFu - TIMER0_VALUE; }

/* A 32-bit integer hash (Chris Wellons' "lowbias32"): uniform(stream, i) in [0, 1), exactly
 * representable in float32 (24 random bits). */
static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

float uniform(uint32_t stream, uint32_t i)
{
    return (float)(mix(mix(stream) ^ i) >> 8) * (1.0f / 16777216.0f);
}
