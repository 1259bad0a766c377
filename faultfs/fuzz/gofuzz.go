//go:build gofuzz

package fuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	// The instrumentation go-fuzz-build links in; imported here so that
	// go mod tidy keeps its module, which go-fuzz-build needs.
	_ "github.com/dvyukov/go-fuzz/go-fuzz-dep"
)

// Fuzz is the go-fuzz entry point: it decodes data into steps, runs them
// on faultfs and on the OS, and panics on the first difference.
func Fuzz(data []byte) int {
	steps := Decode(data)
	if len(steps) == 0 {
		return -1
	}
	dir := workDir()
	if err := os.RemoveAll(dir); err != nil {
		panic(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		panic(err)
	}
	if err := Compare(steps, dir); err != nil {
		panic(err)
	}
	return 1
}

var (
	dirOnce sync.Once
	dir     string
)

// workDir returns this process's directory for the OS side, under
// TempRoot. go-fuzz kills its workers without warning, so each worker uses
// one directory named after its pid, and removes those of dead workers.
func workDir() string {
	dirOnce.Do(func() {
		root := TempRoot()
		dead, _ := filepath.Glob(filepath.Join(root, "faultfs-gofuzz-*"))
		for _, d := range dead {
			pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "faultfs-gofuzz-"))
			if err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
				os.RemoveAll(d)
			}
		}
		dir = filepath.Join(root, fmt.Sprintf("faultfs-gofuzz-%d", os.Getpid()))
	})
	return dir
}
