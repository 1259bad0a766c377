//go:build !amd64 && !arm64

package sim

// getg identifies the calling goroutine: by its id here, which costs a
// traceback (see getg.go for the architectures with the fast one).
func getg() uintptr { return uintptr(goid()) }
