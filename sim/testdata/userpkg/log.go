// Package userpkg is a user's own storage code, checked with crashsim
// from its own tests: sim's end-to-end test of replay (sim/gotest_test.go)
// runs go test on it as a user would, and runs the replay commands it
// prints.
package userpkg

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path"

	"github.com/crashsim/crashsim/engine"
)

// Log is a file of length-prefixed records.
type Log struct {
	f   engine.File
	end int64
}

// Open creates the log file name, durably.
func Open(fsys engine.FS, name string) (*Log, error) {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		f.Close()
		return nil, err
	}
	return &Log{f: f}, nil
}

// Append writes one record to the page cache.
func (l *Log) Append(rec []byte) error {
	frame := binary.LittleEndian.AppendUint32(nil, uint32(len(rec)))
	frame = append(frame, rec...)
	if _, err := l.f.WriteAt(frame, l.end); err != nil {
		return err
	}
	l.end += int64(len(frame))
	return nil
}

// Sync makes every appended record durable.
func (l *Log) Sync() error { return l.f.Sync() }

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }

// ReadAll returns the records of the log name up to the first incomplete
// one.
func ReadAll(fsys engine.FS, name string) ([][]byte, error) {
	b, err := engine.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var recs [][]byte
	for off := 0; off+4 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+4+n > len(b) {
			break
		}
		recs = append(recs, b[off+4:off+4+n])
		off += 4 + n
	}
	return recs, err
}
