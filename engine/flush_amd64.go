package engine

import "unsafe"

// Implemented in flush_amd64.s.
func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)
func flushCLWB(p unsafe.Pointer, n uintptr)
func flushCLFLUSHOPT(p unsafe.Pointer, n uintptr)
func flushCLFLUSH(p unsafe.Pointer, n uintptr)
func sfence()

// flushLines writes back the cache lines overlapping [p, p+n), n > 0, with
// the best instruction the CPU has, picked once here rather than tested on
// every Flush. CLWB keeps the line cached, so a load right after a persist
// does not miss; CLFLUSHOPT evicts it; CLFLUSH evicts it and is ordered with
// every other store, hence the order of preference.
//
// cacheFlush is false only if CPUID reports none of the three (a hypervisor
// hiding CLFLUSH); PMem mappings are then flushed with msync, like
// MappedFile, rather than with an instruction that would fault.
var flushLines, flushName, cacheFlush = pickFlush()

func pickFlush() (func(unsafe.Pointer, uintptr), string, bool) {
	if maxLeaf, _, _, _ := cpuid(0, 0); maxLeaf >= 7 {
		_, ebx, _, _ := cpuid(7, 0)
		if ebx&(1<<24) != 0 {
			return flushCLWB, "clwb", true
		}
		if ebx&(1<<23) != 0 {
			return flushCLFLUSHOPT, "clflushopt", true
		}
	}
	if _, _, _, edx := cpuid(1, 0); edx&(1<<19) != 0 {
		return flushCLFLUSH, "clflush", true
	}
	return nil, "msync", false
}
