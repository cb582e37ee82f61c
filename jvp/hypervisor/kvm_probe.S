/* JVP's KVM probe: a boot sector that enters 32-bit protected mode and executes IRET, the instruction
   nested KVM fails to emulate on some hosts ("KVM internal error. Suberror: 1 / emulation failure").
   Assembled with: as --32 -o p.o kvm_probe.S && ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o p.bin p.o
   The bytes live in kvm_probe.py (tests/unit/test_kvm_probe.py checks they match this source). */
.code16
.globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7c00, %sp
    lgdt gdtr
    mov %cr0, %eax
    or $1, %al
    mov %eax, %cr0
    ljmpl $0x08, $pm32
.code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov %ax, %es
    mov $0x7000, %esp
    mov $0x18, %ax
    ltr %ax
    pushfl
    pushl $0x08
    pushl $after
    iret
after:
    /* IRET worked: triple-fault on purpose (empty IDT) so the machine resets; with on_reboot=destroy
       the domain shuts off, which the prober reads as success. */
    lidt null_idt
    int $3
1:  hlt
    jmp 1b
null_idt:
    .word 0
    .long 0
.p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    /* 32-bit TSS at 0x6000 limit 0x67 */
    .word 0x0067
    .word 0x6000
    .byte 0x00
    .byte 0x89
    .byte 0x00
    .byte 0x00
gdtr:
    .word gdtr - gdt - 1
    .long gdt
.org 510
.word 0xaa55
