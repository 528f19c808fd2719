/* What the device program needs from its surroundings: semihosting output and exit, the cycle
 * timer, and the deterministic "sensor" and "radio" that feed it (the Python driver reproduces
 * the same numbers with numpy). */
#ifndef TINYDTL_DEVICE_H
#define TINYDTL_DEVICE_H
#include <stdint.h>

void host_write(const char *text);           /* semihosting SYS_WRITE0 */
void host_exit(int code);                     /* semihosting SYS_EXIT_EXTENDED */
void write_uint(const char *label, uint32_t value);
void write_floats(const char *label, const float *x, uint32_t n);

void timer_start(void);                       /* CMSDK APB timer 0, counting at 25 MHz */
uint32_t timer_ticks(void);                   /* ticks since timer_start() */

float uniform(uint32_t stream, uint32_t i);   /* counter-based: the same number for (stream, i) */

#endif
