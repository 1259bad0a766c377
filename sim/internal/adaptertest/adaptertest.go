// Package adaptertest is a user's storage adapter, for the tests of
// sim.Scenario.Adapters: a log of length-prefixed records that its
// callers use instead of engine.FS, so that every storage call of theirs
// sits behind a frame of this package. Create forgets to sync the
// directory, the bug the tests look for.
package adaptertest

import (
	"encoding/binary"
	"os"

	"github.com/crashsim/crashsim/engine"
)

// Log is a file of length-prefixed records.
type Log struct {
	f   engine.File
	end int64
}

// Create creates the log file name: its directory entry is never made
// durable.
func Create(fsys engine.FS, name string) (*Log, error) {
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return &Log{f: f}, nil
}

// Append writes one record at the end of the log.
func (l *Log) Append(rec []byte) error {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(rec)))
	b = append(b, rec...)
	n, err := l.f.WriteAt(b, l.end)
	l.end += int64(n)
	return err
}

// Sync makes the records durable.
func (l *Log) Sync() error { return l.f.Sync() }

// Close closes the file.
func (l *Log) Close() error { return l.f.Close() }
