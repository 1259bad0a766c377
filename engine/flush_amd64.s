#include "textflag.h"

// func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL leaf+0(FP), AX
	MOVL sub+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// The three flush loops write back every 64-byte line that overlaps
// [p, p+n). They need n > 0: the first line is flushed before the test.

// func flushCLWB(p unsafe.Pointer, n uintptr)
TEXT ·flushCLWB(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), BX
	ADDQ AX, BX
	ANDQ $-64, AX
clwb:
	CLWB (AX)
	ADDQ $64, AX
	CMPQ AX, BX
	JB   clwb
	RET

// func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSHOPT(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), BX
	ADDQ AX, BX
	ANDQ $-64, AX
clflushopt:
	CLFLUSHOPT (AX)
	ADDQ $64, AX
	CMPQ AX, BX
	JB   clflushopt
	RET

// func flushCLFLUSH(p unsafe.Pointer, n uintptr)
TEXT ·flushCLFLUSH(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), AX
	MOVQ n+8(FP), BX
	ADDQ AX, BX
	ANDQ $-64, AX
clflush:
	CLFLUSH (AX)
	ADDQ $64, AX
	CMPQ AX, BX
	JB   clflush
	RET

// func sfence()
TEXT ·sfence(SB), NOSPLIT, $0-0
	SFENCE
	RET
