// Package mylog stands for a user's own storage code in the examples of the
// README and of package sim: a log of records in one file, written through
// engine.FS, that the laboratory checks without knowing anything of it.
//
// # Usage
//
//	w, err := mylog.Open(fsys, "/data/log")
//	err = w.AppendAndSync([]byte("a"))    // durable when it returns
//	err = w.Append([]byte("b"))           // in the page cache
//	err = w.Sync()                        // now durable too
//	records, err := mylog.ReadAll(fsys, "/data/log")
//
// # Implementation notes
//
// A record is a frame: its length (u32), the CRC-32C of the length and the
// payload (u32), and the payload; integers are little-endian. A crash may
// tear the last frames written; reading stops at the first frame that does
// not check, which a torn or zero-filled tail never does (the checksum of a
// zero length is not zero), and Open appends after the last one that does.
// Records are never empty, so that a frame of zeros is never a record.
package mylog

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/crashsim/crashsim/engine"
)

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Log is an open log, for appending.
type Log struct {
	f   engine.File
	end int64 // where the next frame goes
}

// Open opens the log in name, creating it and its directory durably if it
// does not exist. Appends go after the last intact record.
func Open(fsys engine.FS, name string) (*Log, error) {
	if err := engine.MkdirAllDurable(fsys, path.Dir(name), 0o755); err != nil {
		return nil, err
	}
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// The new name must survive a crash before any record is acknowledged.
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		f.Close()
		return nil, err
	}
	end := int64(0)
	if err := scan(f, func(rec []byte, next int64) { end = next }); err != nil {
		f.Close()
		return nil, err
	}
	return &Log{f: f, end: end}, nil
}

// Append writes rec after the last record. Nothing is durable when it
// returns; a process crash keeps it (it is in the page cache).
func (l *Log) Append(rec []byte) error {
	if len(rec) == 0 {
		return errors.New("mylog: empty record")
	}
	b := make([]byte, frameHeader+len(rec))
	binary.LittleEndian.PutUint32(b, uint32(len(rec)))
	copy(b[frameHeader:], rec)
	sum := crc32.Update(crc32.Checksum(b[:4], castagnoli), castagnoli, rec)
	binary.LittleEndian.PutUint32(b[4:], sum)
	if _, err := l.f.WriteAt(b, l.end); err != nil {
		return err
	}
	l.end += int64(len(b))
	return nil
}

// Sync makes every record appended so far durable.
func (l *Log) Sync() error { return l.f.Sync() }

// AppendAndSync appends rec and makes it durable.
func (l *Log) AppendAndSync(rec []byte) error {
	if err := l.Append(rec); err != nil {
		return err
	}
	return l.Sync()
}

// Close closes the log's file. It makes nothing durable.
func (l *Log) Close() error { return l.f.Close() }

// ReadAll returns the intact records of the log in name, in order; a log
// that does not exist has none.
func ReadAll(fsys engine.FS, name string) ([][]byte, error) {
	f, err := engine.Open(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var records [][]byte
	err = scan(f, func(rec []byte, next int64) { records = append(records, rec) })
	return records, err
}

// scan calls fn with each intact record of f and the offset after it.
func scan(f engine.File, fn func(rec []byte, next int64)) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return err
	}
	off := 0
	for len(b)-off >= frameHeader {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		sum := binary.LittleEndian.Uint32(b[off+4:])
		if n == 0 || n > len(b)-off-frameHeader {
			break
		}
		rec := b[off+frameHeader : off+frameHeader+n]
		if crc32.Update(crc32.Checksum(b[off:off+4], castagnoli), castagnoli, rec) != sum {
			break
		}
		off += frameHeader + n
		fn(rec, int64(off))
	}
	return nil
}
