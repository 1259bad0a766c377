package wal

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path"
	"slices"
	"sort"

	"github.com/crashsim/crashsim/engine"
)

// Checkpoint is a snapshot of a state S that reflects the entries of a
// WAL with ids 1..Through: recovery starts from it and replays only the
// entries after Through.
type Checkpoint[S any] struct {
	// Path is the checkpoint's file.
	Path string
	// Through is the id of the last entry the state reflects.
	Through uint64
	// State is the snapshot.
	State S
}

// checkpointHeaderSize is the size of a checkpoint file's header.
const checkpointHeaderSize = 40

// The checkpoint file, named by Through (16 hex digits and ".checkpoint"):
//
//	0                 8         12        16              24              32       36       40
//	+-----------------+---------+---------+---------------+---------------+--------+--------+------------------+
//	| magic "crashckp"| version | flags   | through       | length        | zero   | crc32c | state            |
//	|                 | u32 = 1 | u32 = 0 | u64           | u64           | u32    | u32    | (length bytes)   |
//	+-----------------+---------+---------+---------------+---------------+--------+--------+------------------+
//
// The checksum covers bytes [0, 36) and the state, so the bytes are a
// function of (state's encoding, through) alone: the same state gives the
// same file, as long as the codec is deterministic. The file is written
// with engine.WriteFileAtomic, so a crash leaves the old file or the new
// one, whole, and the new one is durable when WriteCheckpoint returns.
func encodeCheckpoint[S any](codec Codec[S], state S, through uint64) ([]byte, error) {
	b := make([]byte, checkpointHeaderSize, checkpointHeaderSize+256)
	b, err := codec.Append(b, state)
	if err != nil {
		return nil, fmt.Errorf("wal: encode checkpoint: %w", err)
	}
	copy(b[0:8], CheckpointMagic)
	le.PutUint32(b[8:], Version)
	le.PutUint64(b[16:], through)
	le.PutUint64(b[24:], uint64(len(b)-checkpointHeaderSize))
	sum := crc32.Update(crc32.Checksum(b[:36], castagnoli), castagnoli, b[checkpointHeaderSize:])
	le.PutUint32(b[36:], sum)
	return b, nil
}

// decodeCheckpoint checks a checkpoint file's bytes and returns the entry
// id it covers through and its state's encoding. Errors are an
// errHeader reason (corruption) or wrap ErrVersion.
func decodeCheckpoint(b []byte) (through uint64, state []byte, err error) {
	if len(b) < checkpointHeaderSize {
		return 0, nil, errHeader(fmt.Sprintf("%d bytes, shorter than the header", len(b)))
	}
	n := le.Uint64(b[24:])
	if n != uint64(len(b)-checkpointHeaderSize) {
		return 0, nil, errHeader(fmt.Sprintf("state length %d in a file of %d bytes", n, len(b)))
	}
	sum := crc32.Update(crc32.Checksum(b[:36], castagnoli), castagnoli, b[checkpointHeaderSize:])
	switch {
	case le.Uint32(b[36:]) != sum:
		return 0, nil, errHeader(fmt.Sprintf("checksum %08x, want %08x", le.Uint32(b[36:]), sum))
	case string(b[0:8]) != CheckpointMagic:
		return 0, nil, errHeader(fmt.Sprintf("magic %q, want %q", b[0:8], CheckpointMagic))
	case le.Uint32(b[8:]) != Version:
		return 0, nil, fmt.Errorf("%w: version %d (this package reads %d)", ErrVersion, le.Uint32(b[8:]), Version)
	case le.Uint32(b[12:]) != 0:
		return 0, nil, errHeader("reserved header fields are not zero")
	}
	return le.Uint64(b[16:]), b[checkpointHeaderSize:], nil
}

func checkpointName(through uint64) string { return fmt.Sprintf("%016x%s", through, checkpointExt) }

// WriteCheckpoint writes state, which reflects the entries 1..through of
// the WAL in dir, as a checkpoint file in dir, and returns its path. It is
// durable when WriteCheckpoint returns (temporary file, fsync, rename,
// directory fsync). Publish does this and more: use it to let the WAL
// drop the segments the checkpoint covers. A crash while it runs may leave
// the temporary file, name.tmp, which the next New or Resume of the WAL in
// dir removes: write checkpoints into a WAL's directory from the process
// that holds it, as Publish does.
func WriteCheckpoint[S any](fsys engine.FS, dir string, codec Codec[S], state S, through uint64) (string, error) {
	if through == 0 {
		return "", fmt.Errorf("wal: checkpoint: %w: it covers no entry (through 0)", fs.ErrInvalid)
	}
	b, err := encodeCheckpoint(codec, state, through)
	if err != nil {
		return "", err
	}
	name := path.Join(dir, checkpointName(through))
	if err := engine.WriteFileAtomic(fsys, name, b, 0o644); err != nil {
		return "", fmt.Errorf("wal: write checkpoint: %w", err)
	}
	return name, nil
}

// ReadCheckpoint reads and checks the checkpoint file name. A file that
// does not check is an error wrapping ErrCorrupt (or ErrVersion); a state
// the codec cannot decode is the codec's error, wrapped.
func ReadCheckpoint[S any](fsys engine.FS, name string, codec Codec[S]) (Checkpoint[S], error) {
	var zero Checkpoint[S]
	b, err := engine.ReadFile(fsys, name)
	if err != nil {
		return zero, fmt.Errorf("wal: read checkpoint: %w", err)
	}
	through, enc, err := decodeCheckpoint(b)
	if errors.Is(err, ErrVersion) {
		return zero, fmt.Errorf("%w: %s", err, name)
	}
	if err != nil {
		return zero, corrupt(name, 0, 0, "%v", err)
	}
	if want, ok := parseSeq(path.Base(name), checkpointExt); ok && want != through {
		return zero, corrupt(name, 0, 16, "covers entries through %d, its name says %d", through, want)
	}
	state, err := codec.Decode(enc)
	if err != nil {
		return zero, fmt.Errorf("wal: decode checkpoint %s: %w", name, err)
	}
	return Checkpoint[S]{Path: name, Through: through, State: state}, nil
}

// checkpoints returns the checkpoint files of dir, by what they cover,
// latest first.
func checkpoints(fsys engine.FS, dir string) ([]string, error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type ck struct {
		through uint64
		name    string
	}
	var cks []ck
	for _, de := range des {
		if through, ok := parseSeq(de.Name(), checkpointExt); ok && de.Type().IsRegular() {
			cks = append(cks, ck{through, path.Join(dir, de.Name())})
		}
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].through > cks[j].through })
	names := make([]string, len(cks))
	for i, c := range cks {
		names[i] = c.name
	}
	return names, nil
}

// LatestCheckpoint returns the checkpoint of dir that covers the most
// entries among those that check, skipping any that is corrupt (a later
// recovery still finds out if the log no longer holds what an older one
// needs). ok is false if there is none. A checkpoint of another version,
// or whose state the codec cannot decode, is an error, not skipped. A
// checkpoint removed between the listing and its reading (beside a
// writer, by a Publish that wrote a newer one) makes it list again.
func LatestCheckpoint[S any](fsys engine.FS, dir string, codec Codec[S]) (ck Checkpoint[S], ok bool, err error) {
	names, err := checkpoints(fsys, dir)
	if err != nil {
		return ck, false, fmt.Errorf("wal: checkpoints: %w", err)
	}
	for i := 0; i < len(names); i++ {
		ck, err := ReadCheckpoint(fsys, names[i], codec)
		if errors.Is(err, fs.ErrNotExist) {
			fresh, lerr := checkpoints(fsys, dir)
			if lerr != nil {
				return ck, false, fmt.Errorf("wal: checkpoints: %w", lerr)
			}
			if slices.Contains(fresh, names[i]) {
				return ck, false, err // still listed: not a removal
			}
			names, i = fresh, -1
			continue
		}
		if errors.Is(err, ErrCorrupt) {
			continue
		}
		return ck, err == nil, err
	}
	return ck, false, nil
}
