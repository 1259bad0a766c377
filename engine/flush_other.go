//go:build !amd64

package engine

import "unsafe"

// cacheFlush is false: there is no cache-line flush in assembly for this
// architecture, so a PMem mapping is flushed like a MappedFile (Flush
// remembers the pages, Drain msyncs them): slower, but durable.
const cacheFlush = false

// flushLines and sfence are never called when cacheFlush is false.
func flushLines(p unsafe.Pointer, n uintptr) {}
func sfence()                                {}
