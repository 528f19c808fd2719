/* Reset for the Cortex-M4F: enable the FPU, clear .bss, paint the stack, run main(), report the
 * deepest stack use and exit through semihosting. */
#include <stdint.h>

#include "device.h"

#define STACK_PAINT 0xDEADBEEFu
#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

extern uint32_t __bss_start, __bss_end, __stack_bottom, __stack_top;
int main(void);
void reset_handler(void);

static void fault_handler(void)
{
    host_write("FAULT\n");
    host_exit(3);
}

/* Initial stack pointer, reset, NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".vectors"), used)) static const void *const vectors[] = {
    &__stack_top, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
};

void reset_handler(void)
{
    /* CP10 and CP11 full access: the FPU is off at reset and the first VFP instruction would fault. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");

    for (uint32_t *p = &__bss_start; p < &__bss_end; p++) *p = 0;

    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &__stack_bottom; p < (uint32_t *)(sp - 32); p++) *p = STACK_PAINT;

    int rc = main();

    uint32_t *p = &__stack_bottom;
    while (p < &__stack_top && *p == STACK_PAINT) p++;
    write_uint("stack", (uint32_t)((uint8_t *)&__stack_top - (uint8_t *)p));
    host_exit(rc);
}
