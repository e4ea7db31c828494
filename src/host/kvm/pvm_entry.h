/* pvm_entry.h - where the kvm-pvm entry code and its resume block live in guest memory (shared by kvm.c and pvm_entry.S). */
#ifndef HL_PVM_ENTRY_H
#define HL_PVM_ENTRY_H

/*
 * On kvm-pvm the backend adds one memory slot of its own at guest-physical
 * 0, three pages, never part of a snapshot:
 *   page 0  backs GPA 0, which kvm-pvm reads when the guest writes
 *           MSR_PVM_FEATURES (the value carries a guest-physical address in
 *           bits 12 and up); not mapped in the guest's page tables
 *   page 1  the entry code (pvm_entry.S), mapped read + execute
 *   page 2  the resume block and a small stack, mapped read/write, no exec
 * The backend rewrites pages 1 and 2 before every entry and clears page 2
 * after it, so nothing a guest leaves there reaches a later request.
 */
#define HL__PVM_SLOT_PAGES 3
#define HL__PVM_CODE_GPA 0x1000
#define HL__PVM_CODE_VA 0x1000
#define HL__PVM_DATA_VA 0x2000

/* The resume block: byte offsets in page 2. */
#define HL__PVM_RB_RIP 0
#define HL__PVM_RB_RSP 8
#define HL__PVM_RB_RFLAGS 16
#define HL__PVM_RB_RAX 24
#define HL__PVM_RB_RBX 32
#define HL__PVM_RB_RCX 40
#define HL__PVM_RB_RDX 48
#define HL__PVM_RB_RSI 56
#define HL__PVM_RB_RDI 64
#define HL__PVM_RB_RBP 72
#define HL__PVM_RB_R8 80
#define HL__PVM_RB_R9 88
#define HL__PVM_RB_R10 96
#define HL__PVM_RB_R11 104
#define HL__PVM_RB_R12 112
#define HL__PVM_RB_R13 120
#define HL__PVM_RB_R14 128
#define HL__PVM_RB_R15 136
#define HL__PVM_RB_STAR 144
#define HL__PVM_RB_LSTAR 152
#define HL__PVM_RB_STACK_TOP 4096

#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
/* Guest-writable; bit 0: SYSCALL from user mode enters CPL 0 natively. */
#define MSR_PVM_FEATURES 0x4b564d10
/* Host-readable; reads 0x4d5650 ("PVM") on kvm-pvm, unknown elsewhere. */
#define MSR_PVM_ID 0x4b564d11
#define PVM_ID_VALUE 0x4d5650

#endif
