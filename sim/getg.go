//go:build amd64 || arm64

package sim

// getg returns the address of the calling goroutine's runtime descriptor,
// in one instruction: the scheduler tells its threads apart by it at every
// storage operation, where the goroutine's id (goid, from a traceback)
// costs microseconds. The address is only compared, never dereferenced; a
// goroutine that exits leaves its descriptor to the next one the runtime
// starts, so the scheduler forgets a thread's address when it ends.
func getg() uintptr
