// Package libpmem binds the few functions of PMDK's libpmem (Debian package
// libpmem-dev, 1.12) that the side-by-side benchmarks call. Each benchmarked
// operation is one cgo call, so the peer pays one crossing per operation and
// no more.
package libpmem

/*
#cgo pkg-config: libpmem
#include <libpmem.h>
#include <stdlib.h>
#include <string.h>

static int copy_msync(void *dst, const void *src, size_t n) {
	memcpy(dst, src, n);
	return pmem_msync(dst, n);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Mapping is a file mapped by pmem_map_file.
type Mapping struct {
	addr   unsafe.Pointer
	len    int
	IsPMem bool
}

// Map creates (or opens) path with length bytes and maps it.
func Map(path string, length int) (*Mapping, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var mapped C.size_t
	var isPMem C.int
	addr, err := C.pmem_map_file(cpath, C.size_t(length), C.PMEM_FILE_CREATE, 0o666, &mapped, &isPMem)
	if addr == nil {
		return nil, fmt.Errorf("libpmem: pmem_map_file %s: %v", path, err)
	}
	return &Mapping{addr: addr, len: int(mapped), IsPMem: isPMem != 0}, nil
}

// Len returns the mapped length.
func (m *Mapping) Len() int { return m.len }

// MemcpyPersist copies src to off with pmem_memcpy_persist: stores, cache-line
// flushes and a fence, the persistent-memory path.
func (m *Mapping) MemcpyPersist(off int, src []byte) {
	C.pmem_memcpy_persist(unsafe.Add(m.addr, off), unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src)))
}

// MemcpyMsync copies src to off and makes it durable with pmem_msync, the
// path libpmem applications take when pmem_is_pmem is false.
func (m *Mapping) MemcpyMsync(off int, src []byte) error {
	if C.copy_msync(unsafe.Add(m.addr, off), unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src))) != 0 {
		return fmt.Errorf("libpmem: pmem_msync failed")
	}
	return nil
}

// Close unmaps the file.
func (m *Mapping) Close() error {
	if C.pmem_unmap(m.addr, C.size_t(m.len)) != 0 {
		return fmt.Errorf("libpmem: pmem_unmap failed")
	}
	return nil
}
