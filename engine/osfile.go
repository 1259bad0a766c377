package engine

import "os"

// osFile is a File of OSFS. It is an *os.File, so that every error is the
// one package os returns, plus the open flags, which Map needs and which
// *os.File does not keep.
type osFile struct {
	*os.File
	flag int
}

var _ File = (*osFile)(nil)

// writable reports whether the file was opened O_RDWR, which a shared
// writable mapping needs.
func (f *osFile) writable() bool {
	return f.flag&(os.O_RDONLY|os.O_WRONLY|os.O_RDWR) == os.O_RDWR
}
