package scenarios

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// The file append log: frames appended to one file and fsynced.
//
//	+-----------+-----------+-------------------+
//	| len (u32) | crc (u32) | payload (len B)   |   correct variant
//	+-----------+-----------+-------------------+
//	| len (u32) | payload (len B)               |   bug variant: no CRC
//	+-----------+-------------------------------+
//
// Recovery reads frames until one is incomplete or, with a CRC, until one
// does not check: a torn tail is the end of the log. Payloads are 700
// bytes, so frames cross 512-byte sectors and 4 KiB blocks.
const (
	fileLogDir     = "/data"
	fileLogFile    = "/data/log"
	fileLogAppends = 6
	fileLogPayload = 700
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func init() {
	register(
		func() *sim.Scenario {
			return fileLog("file-log", "append length+CRC framed records to a file and fsync; recovery stops at a torn tail", true)
		},
		func() *sim.Scenario {
			return fileLog("file-log-bug-no-crc", "BUG: frames carry no CRC, so recovery reads a torn tail as a record", false)
		},
	)
}

func fileLog(name, doc string, crc bool) *sim.Scenario {
	hdr := 4
	if crc {
		hdr = 8
	}
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: models.Log(),
		Run: func(env *sim.Env) error {
			if err := env.FS.MkdirAll(fileLogDir, 0o755); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/"); err != nil {
				return err
			}
			f, err := env.FS.OpenFile(fileLogFile, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := env.FS.SyncDir(fileLogDir); err != nil {
				return err
			}
			end := int64(0)
			for range fileLogAppends {
				rec := make([]byte, fileLogPayload)
				for j := range rec {
					rec[j] = byte('A' + env.Rand.IntN(26))
				}
				env.Invoke(models.LogAppend{Record: rec})
				frame := make([]byte, hdr+len(rec))
				binary.LittleEndian.PutUint32(frame, uint32(len(rec)))
				if crc {
					binary.LittleEndian.PutUint32(frame[4:], crc32.Checksum(rec, castagnoli))
				}
				copy(frame[hdr:], rec)
				if _, err := f.WriteAt(frame, end); err != nil {
					return err
				}
				end += int64(len(frame))
				if err := f.Sync(); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			b, err := engine.ReadFile(env.FS, fileLogFile)
			if errors.Is(err, fs.ErrNotExist) {
				return [][]byte(nil), nil
			}
			if err != nil {
				return nil, err
			}
			var recs [][]byte
			for off := 0; off+hdr <= len(b); {
				n := int(binary.LittleEndian.Uint32(b[off:]))
				if n == 0 || off+hdr+n > len(b) {
					break // end of the log, or a torn frame
				}
				payload := b[off+hdr : off+hdr+n]
				if crc && binary.LittleEndian.Uint32(b[off+4:]) != crc32.Checksum(payload, castagnoli) {
					break // a torn tail
				}
				recs = append(recs, payload)
				off += hdr + n
			}
			return recs, nil
		},
	}
}
