// Package fuzzinput reads a fuzzer's bytes as a stream of small values,
// for the fuzz targets that turn those bytes into operations.
//
// # Usage
//
//	in := fuzzinput.New(data)
//	for !in.Empty() {
//		op, n := in.Byte(), int(in.Uint16())
//		payload := in.Bytes(n)
//		...
//	}
//
// # Implementation notes
//
// Past the end of the bytes every value reads as zero and Bytes returns
// what is left, so a target never has to check lengths: a short input is
// a shorter sequence of operations, not an error.
package fuzzinput

// Input is the rest of a fuzzer's bytes.
type Input struct{ b []byte }

// New returns an Input that reads data.
func New(data []byte) *Input { return &Input{data} }

// Empty reports whether every byte has been read.
func (in *Input) Empty() bool { return len(in.b) == 0 }

// Byte reads one byte.
func (in *Input) Byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

// Uint16 reads two bytes, little-endian.
func (in *Input) Uint16() uint16 { return uint16(in.Byte()) | uint16(in.Byte())<<8 }

// Uint32 reads four bytes, little-endian.
func (in *Input) Uint32() uint32 { return uint32(in.Uint16()) | uint32(in.Uint16())<<16 }

// Uint64 reads eight bytes, little-endian.
func (in *Input) Uint64() uint64 { return uint64(in.Uint32()) | uint64(in.Uint32())<<32 }

// Bytes reads n bytes, or what is left if fewer. The result aliases the
// fuzzer's data.
func (in *Input) Bytes(n int) []byte {
	n = min(n, len(in.b))
	b := in.b[:n]
	in.b = in.b[n:]
	return b
}

// Rest reads every byte that is left.
func (in *Input) Rest() []byte { return in.Bytes(len(in.b)) }

// GoFuzz is the body of a go-fuzz entry point over several targets: the
// first byte of data picks one, the rest is its input. It returns -1 for
// empty data (go-fuzz's "do not add to the corpus"), 1 otherwise, and
// panics with the error of a target whose property failed.
func GoFuzz(targets []func([]byte) error, data []byte) int {
	if len(data) == 0 {
		return -1
	}
	if err := targets[int(data[0])%len(targets)](data[1:]); err != nil {
		panic(err)
	}
	return 1
}
