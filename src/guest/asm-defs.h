/* asm-defs.h - constants shared by the runtime's assembly and C files (boot.c checks them against abi.h). */
#ifndef HL_GUEST_ASM_DEFS_H
#define HL_GUEST_ASM_DEFS_H

/* GDT selectors: the host enters with CS 0x08 and data 0x10, so keep them. */
#define HL__SEL_CODE 0x08
#define HL__SEL_DATA 0x10
#define HL__SEL_TSS 0x18

/* The version note; abi.h spells these with C suffixes that the assembler
 * does not accept, so boot.c asserts that both agree. */
#define HL__NOTE_TYPE_ABI 0x484c0001
#define HL__NOTE_ABI_VERSION 1

/* Size of the FXSAVE area kept on the system-call stack. */
#define HL__FXSAVE_SIZE 512

#endif
