// Package libpmemobj binds the few functions of PMDK's libpmemobj (Debian
// package libpmemobj-dev, 1.12) that the side-by-side benchmarks of
// engine/tx call. PMDK's transactions are macros around setjmp
// (TX_BEGIN/TX_END), which Go cannot call, so each benchmarked operation —
// a whole transaction, or an atomic allocation and free — is one C helper
// in the preamble and one cgo call: the peer pays one crossing per
// operation and no more.
package libpmemobj

/*
#cgo pkg-config: libpmemobj libpmem
#include <libpmemobj.h>
#include <libpmem.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

// The benchmark pool's root: the objects a transaction updates.
struct bench_root {
	PMEMoid objs[1];
};

static PMEMoid bench_root_oid(PMEMobjpool *pop, size_t nobjs) {
	return pmemobj_root(pop, sizeof(PMEMoid) * nobjs);
}

// alloc_objects allocates n objects of size bytes, zeroed, and stores them
// in the root.
static int alloc_objects(PMEMobjpool *pop, size_t n, size_t size) {
	PMEMoid root = bench_root_oid(pop, n);
	struct bench_root *r = pmemobj_direct(root);
	for (size_t i = 0; i < n; i++) {
		if (pmemobj_zalloc(pop, &r->objs[i], size, 0) != 0)
			return -1;
	}
	return 0;
}

static struct bench_root *bench_root(PMEMobjpool *pop, size_t nobjs) {
	return pmemobj_direct(bench_root_oid(pop, nobjs));
}

// tx_update overwrites object i with 64 bytes in a transaction: the undo
// snapshot of the range, the store, the commit. r is the root, looked up
// once (pmemobj_root takes a lock).
static int tx_update(PMEMobjpool *pop, struct bench_root *r, size_t i, const void *src, size_t n) {
	PMEMoid oid = r->objs[i];
	int ret = 0;
	TX_BEGIN(pop) {
		pmemobj_tx_add_range(oid, 0, n);
		memcpy(pmemobj_direct(oid), src, n);
	} TX_ONABORT {
		ret = -1;
	} TX_END
	return ret;
}

// alloc_free allocates n bytes and frees them, each an atomic operation,
// the handle in volatile memory.
static int alloc_free(PMEMobjpool *pop, size_t n) {
	PMEMoid oid;
	if (pmemobj_alloc(pop, &oid, n, 0, NULL, NULL) != 0)
		return -1;
	pmemobj_free(&oid);
	return 0;
}

// tx_alloc_free allocates n bytes and frees them in one transaction.
static int tx_alloc_free(PMEMobjpool *pop, size_t n) {
	int ret = 0;
	TX_BEGIN(pop) {
		PMEMoid oid = pmemobj_tx_alloc(n, 0);
		pmemobj_tx_free(oid);
	} TX_ONABORT {
		ret = -1;
	} TX_END
	return ret;
}

static int root_is_pmem(PMEMobjpool *pop, size_t nobjs) {
	return pmem_is_pmem(pmemobj_direct(bench_root_oid(pop, nobjs)), 64);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Pool is an open pmemobj pool whose root holds Objects objects.
type Pool struct {
	pop     *C.PMEMobjpool
	root    *C.struct_bench_root // in the pool's mapping, not Go memory
	Objects int
}

// Create creates a pool file of size bytes at path.
func Create(path, layout string, size int64) (*Pool, error) {
	cpath, clayout := C.CString(path), C.CString(layout)
	defer C.free(unsafe.Pointer(cpath))
	defer C.free(unsafe.Pointer(clayout))
	pop, err := C.pmemobj_create(cpath, clayout, C.size_t(size), 0o666)
	if pop == nil {
		return nil, fmt.Errorf("libpmemobj: pmemobj_create %s: %v: %s", path, err, C.GoString(C.pmemobj_errormsg()))
	}
	return &Pool{pop: pop}, nil
}

// AllocObjects allocates n zeroed objects of size bytes and keeps them in
// the root.
func (p *Pool) AllocObjects(n, size int) error {
	if C.alloc_objects(p.pop, C.size_t(n), C.size_t(size)) != 0 {
		return fmt.Errorf("libpmemobj: allocating %d objects: %s", n, C.GoString(C.pmemobj_errormsg()))
	}
	p.Objects = n
	p.root = C.bench_root(p.pop, C.size_t(n))
	return nil
}

// IsPMem reports whether libpmem treats the pool's memory as persistent
// memory (flushes, never msync).
func (p *Pool) IsPMem() bool { return C.root_is_pmem(p.pop, C.size_t(max(p.Objects, 1))) != 0 }

// Update overwrites object i with src in a transaction.
func (p *Pool) Update(i int, src []byte) error {
	if i < 0 || i >= p.Objects {
		return fmt.Errorf("libpmemobj: object %d of %d", i, p.Objects)
	}
	if C.tx_update(p.pop, p.root, C.size_t(i), unsafe.Pointer(unsafe.SliceData(src)), C.size_t(len(src))) != 0 {
		return fmt.Errorf("libpmemobj: transaction aborted")
	}
	return nil
}

// AllocFree allocates n bytes and frees them, outside a transaction.
func (p *Pool) AllocFree(n int) error {
	if C.alloc_free(p.pop, C.size_t(n)) != 0 {
		return fmt.Errorf("libpmemobj: pmemobj_alloc: %s", C.GoString(C.pmemobj_errormsg()))
	}
	return nil
}

// TxAllocFree allocates n bytes and frees them in one transaction.
func (p *Pool) TxAllocFree(n int) error {
	if C.tx_alloc_free(p.pop, C.size_t(n)) != 0 {
		return fmt.Errorf("libpmemobj: transaction aborted")
	}
	return nil
}

// Close closes the pool.
func (p *Pool) Close() { C.pmemobj_close(p.pop) }
