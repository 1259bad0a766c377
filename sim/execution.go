package sim

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/models"
)

// Saved executions: what a run saves of its recorded execution beside its
// results (Options.SaveExecution, Result.Execution), so that a replay
// rebuilds a violation's crash image from the file (RunSavedReplay)
// instead of running the workload again — which a real process, not
// deterministic, may not do the same way twice.

// The errors of ReadExecution and DecodeExecution.
var (
	// ErrExecutionTruncated is returned for a file that ends before its
	// header or its body does.
	ErrExecutionTruncated = errors.New("sim: saved execution truncated")
	// ErrExecutionCorrupt is returned for a file that is no saved
	// execution (its magic), or whose checksum, body or images do not
	// hold together.
	ErrExecutionCorrupt = errors.New("sim: saved execution corrupt")
	// ErrExecutionVersion is returned for a saved execution of a format
	// version this build does not read.
	ErrExecutionVersion = errors.New("sim: saved execution of another version")
	// ErrNotSaved is returned by RunSavedReplay when the saved execution
	// holds no state of the replay id.
	ErrNotSaved = errors.New("sim: state not in the saved execution")
)

// ExecutionMagic and ExecutionVersion begin a saved execution's file.
const (
	ExecutionMagic   = "CRSIMEXE"
	ExecutionVersion = 1
	// ExecutionExt is the extension of a saved execution's file.
	ExecutionExt = ".crashexec"
	// maxExecutionBody bounds the inflated body a reader accepts, so that
	// a header cannot make it allocate without end.
	maxExecutionBody = 1 << 32
)

// Execution is the recorded execution of one run that its violations
// depend on: for each violation, the crash image the workload's crash
// left (of the first crash, for a chain), and the history of the
// workload's operations up to that crash, which the check judges the
// recovered state against. Nothing else of the workload is needed to
// rebuild and judge the state: recovery, which is code, runs again.
type Execution struct {
	Scenario string
	States   []SavedState
	// Unsaved lists the violations whose state could not be saved, and
	// why (in the saving run only: the file does not hold them).
	Unsaved []string
}

// SavedState is one violation's saved crash state.
type SavedState struct {
	// ID is the violation's replay id, in its text form.
	ID string
	// Violation is the violation as the run reported it; a saved replay
	// reports its Kept, Lost, BreaksOn and NotOn, which need the crash
	// point's pending units (not saved), and judges the rest again.
	Violation Violation
	// Inputs are the model's inputs of the operations the workload
	// invoked before the crash, gob-encoded ([]any), and Durable how many
	// of them were acknowledged durable.
	Inputs  []byte
	Durable int
	// Died is the death of a process of the workload since the crash
	// point before, or "" (see pointWork.died).
	Died string
	// Fingerprint is the crash image's faultfs fingerprint, which the
	// image rebuilt from the file must have.
	Fingerprint faultfs.Fingerprint
	Image       *faultfs.Image
}

// WriteExecution writes e to the file name, as EncodeExecution does.
func WriteExecution(name string, e *Execution) error {
	b, err := EncodeExecution(e)
	if err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}

// ReadExecution reads the saved execution in the file name.
func ReadExecution(name string) (*Execution, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	e, err := DecodeExecution(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, name)
	}
	return e, nil
}

// EncodeExecution returns the bytes of e's file:
//
//	offset  size  field
//	0       8     ExecutionMagic "CRSIMEXE"
//	8       2     ExecutionVersion (1)
//	10      2     0 (reserved)
//	12      8     N, the length of the compressed body
//	20      8     the length of the body once inflated
//	28      4     CRC-32C (Castagnoli) of the compressed body
//	32      4     CRC-32C of bytes 0 to 32, the header
//	36      N     body, DEFLATE-compressed (compress/flate); the file ends there
//
// Integers are little-endian. The header's own checksum tells a file cut
// short (ErrExecutionTruncated) from one whose length field is damaged.
//
// The body, every integer an unsigned varint (encoding/binary) and every
// string or byte string its length as one followed by its bytes:
//
//	body    = scenario:str  blocks:n  block{blocks}  states:n  state{states}
//	block   = 4096 bytes: a distinct block of some image that is not all zeros
//	state   = id:str  violation:str (JSON of Violation)  inputs:str (gob of []any)
//	          durable:n  died:str  fingerprint:16 bytes  image
//	image   = mounts:n  mount{mounts}  ids:n  nodes:n  node{nodes}
//	mount   = dir:str  medium:n  capacity:n (bytes)
//	node    = path:str  id:n  mode:n (io/fs.FileMode)  mnt:n  pinned:n  size:n
//	          held:n  (index:n  ref:n){held}
//
// ref 0 is a block of zeros, ref k the k-th block of the body's table: a
// block that several images (or places) hold is stored once, which keeps a
// run's file near the size of its largest image plus what its violations'
// images change. A file's holes hold no block. Nodes are as
// faultfs.Image orders them.
func EncodeExecution(e *Execution) ([]byte, error) {
	var w payloadWriter
	w.str(e.Scenario)
	refs := map[string]uint64{}
	var table [][]byte
	for _, s := range e.States {
		for _, n := range s.Image.Nodes {
			for _, b := range n.Blocks {
				if b.Data != nil && refs[string(b.Data)] == 0 {
					table = append(table, b.Data)
					refs[string(b.Data)] = uint64(len(table))
				}
			}
		}
	}
	w.uint(uint64(len(table)))
	for _, b := range table {
		w.buf.Write(b)
	}
	w.uint(uint64(len(e.States)))
	for _, s := range e.States {
		v, err := json.Marshal(s.Violation)
		if err != nil {
			return nil, fmt.Errorf("sim: saving the violation of %s: %w", s.ID, err)
		}
		w.str(s.ID)
		w.str(string(v))
		w.str(string(s.Inputs))
		w.uint(uint64(s.Durable))
		w.str(s.Died)
		w.buf.Write(s.Fingerprint[:])
		img := s.Image
		w.uint(uint64(len(img.Mounts)))
		for _, m := range img.Mounts {
			w.str(m.Dir)
			w.uint(uint64(m.Medium))
			w.uint(uint64(m.Capacity))
		}
		w.uint(img.IDs)
		w.uint(uint64(len(img.Nodes)))
		for _, n := range img.Nodes {
			w.str(n.Path)
			w.uint(n.ID)
			w.uint(uint64(n.Mode))
			w.uint(uint64(n.Mnt))
			w.uint(uint64(n.Pinned))
			w.uint(uint64(n.Size))
			w.uint(uint64(len(n.Blocks)))
			for _, b := range n.Blocks {
				w.uint(uint64(b.Index))
				if b.Data == nil {
					w.uint(0)
				} else {
					w.uint(refs[string(b.Data)])
				}
			}
		}
	}
	var out bytes.Buffer
	out.Write(make([]byte, headerLen))
	zw, err := flate.NewWriter(&out, flate.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(w.buf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	b := out.Bytes()
	copy(b, ExecutionMagic)
	binary.LittleEndian.PutUint16(b[8:], ExecutionVersion)
	binary.LittleEndian.PutUint64(b[12:], uint64(len(b)-headerLen))
	binary.LittleEndian.PutUint64(b[20:], uint64(w.buf.Len()))
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[headerLen:], castagnoli))
	binary.LittleEndian.PutUint32(b[32:], crc32.Checksum(b[:32], castagnoli))
	return b, nil
}

// headerLen is the length of a saved execution's header.
const headerLen = 36

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DecodeExecution parses the bytes of a saved execution's file (see
// EncodeExecution), checks them, and rebuilds each state's image to check
// it against its fingerprint. A short file is ErrExecutionTruncated, one
// of another version ErrExecutionVersion, anything else wrong
// ErrExecutionCorrupt; it never panics.
func DecodeExecution(b []byte) (*Execution, error) {
	corrupt := func(format string, args ...any) (*Execution, error) {
		return nil, fmt.Errorf("%w: %s", ErrExecutionCorrupt, fmt.Sprintf(format, args...))
	}
	if len(b) < headerLen {
		if len(b) < len(ExecutionMagic) && string(b) != ExecutionMagic[:len(b)] || len(b) >= len(ExecutionMagic) && string(b[:8]) != ExecutionMagic {
			return corrupt("no saved execution (it begins %q)", b[:min(len(b), 8)])
		}
		return nil, fmt.Errorf("%w: %d bytes, shorter than the header's %d", ErrExecutionTruncated, len(b), headerLen)
	}
	if string(b[:8]) != ExecutionMagic {
		return corrupt("no saved execution (magic %q, want %q)", b[:8], ExecutionMagic)
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != ExecutionVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrExecutionVersion, v, ExecutionVersion)
	}
	if crc32.Checksum(b[:32], castagnoli) != binary.LittleEndian.Uint32(b[32:]) {
		return corrupt("header checksum mismatch")
	}
	n, size := binary.LittleEndian.Uint64(b[12:]), binary.LittleEndian.Uint64(b[20:])
	switch have := uint64(len(b) - headerLen); {
	case have < n:
		return nil, fmt.Errorf("%w: %d bytes of a body of %d", ErrExecutionTruncated, have, n)
	case have > n:
		return corrupt("%d bytes after the body", have-n)
	}
	if crc32.Checksum(b[headerLen:], castagnoli) != binary.LittleEndian.Uint32(b[28:]) {
		return corrupt("body checksum mismatch")
	}
	if size > maxExecutionBody {
		return corrupt("body of %d bytes", size)
	}
	var body bytes.Buffer
	got, err := io.Copy(&body, io.LimitReader(flate.NewReader(bytes.NewReader(b[headerLen:])), int64(size)+1))
	if err != nil || uint64(got) != size {
		return corrupt("the body inflates to %d bytes, not %d (%v)", got, size, err)
	}
	e, err := decodeBody(body.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExecutionCorrupt, err)
	}
	return e, nil
}

func decodeBody(b []byte) (*Execution, error) {
	r := payloadReader{b: b}
	e := &Execution{Scenario: r.str()}
	blocks := r.count(faultfs.BlockSize)
	table := make([][]byte, blocks)
	for i := range table {
		table[i] = r.bytes(faultfs.BlockSize)
	}
	states := r.count(1)
	for range states {
		s := SavedState{ID: r.str()}
		v := r.str()
		s.Inputs = []byte(r.str())
		s.Durable = int(r.uint())
		s.Died = r.str()
		copy(s.Fingerprint[:], r.bytes(len(s.Fingerprint)))
		img := &faultfs.Image{}
		for range r.count(3) {
			img.Mounts = append(img.Mounts, faultfs.Mount{Dir: r.str(), Medium: mediumOf(r.uint()), Capacity: int64(r.uint())})
		}
		img.IDs = r.uint()
		for range r.count(7) {
			n := faultfs.ImageNode{Path: r.str(), ID: r.uint(), Mode: fs.FileMode(r.uint()), Mnt: int(r.uint()), Pinned: uint8(r.uint()), Size: int64(r.uint())}
			for range r.count(2) {
				ib := faultfs.ImageBlock{Index: int64(r.uint())}
				ref := r.uint()
				switch {
				case ref > uint64(len(table)):
					r.fail("block ref %d of %d", ref, len(table))
				case ref > 0:
					ib.Data = table[ref-1]
				}
				n.Blocks = append(n.Blocks, ib)
			}
			img.Nodes = append(img.Nodes, n)
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := json.Unmarshal([]byte(v), &s.Violation); err != nil {
			return nil, fmt.Errorf("the violation of %s: %w", s.ID, err)
		}
		if s.Durable < 0 {
			return nil, fmt.Errorf("%s: %d operations durable", s.ID, s.Durable)
		}
		// The image must be one a file system holds, and the one saved.
		fsys, err := faultfs.FromImage(img)
		if err != nil {
			return nil, fmt.Errorf("the image of %s: %w", s.ID, err)
		}
		if fp := fsys.Fingerprint(); fp != s.Fingerprint {
			return nil, fmt.Errorf("the image of %s has fingerprint %s, not the saved %s", s.ID, fp, s.Fingerprint)
		}
		s.Image = img
		e.States = append(e.States, s)
	}
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d bytes after the last state", len(r.b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	return e, nil
}

// mediumOf is the medium numbered u; FromImage takes one it does not know
// as a disk.
func mediumOf(u uint64) engine.Medium {
	if u > math.MaxUint8 {
		return engine.MappedFile
	}
	return engine.Medium(u)
}

type payloadWriter struct{ buf bytes.Buffer }

func (w *payloadWriter) uint(u uint64) { w.buf.Write(binary.AppendUvarint(nil, u)) }

func (w *payloadWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.buf.WriteString(s)
}

// payloadReader reads a body; its first error sticks, and every read after
// it returns zeros.
type payloadReader struct {
	b   []byte
	off int
	err error
}

func (r *payloadReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d of the body: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *payloadReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	u, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.off += n
	return u
}

func (r *payloadReader) bytes(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("%d bytes wanted, %d left", n, len(r.b)-r.off)
		return make([]byte, max(n, 0))
	}
	out := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return out
}

func (r *payloadReader) str() string {
	n := r.uint()
	if n > uint64(len(r.b)-r.off) {
		r.fail("a string of %d bytes, %d left", n, len(r.b)-r.off)
		return ""
	}
	return string(r.bytes(int(n)))
}

// count reads a count of items of at least min bytes each, refusing one
// the bytes left cannot hold, so that no count makes it allocate more than
// the body's size.
func (r *payloadReader) count(min int) int {
	n := r.uint()
	if n > uint64((len(r.b)-r.off)/min) {
		r.fail("%d items of at least %d bytes, %d bytes left", n, min, len(r.b)-r.off)
		return 0
	}
	return int(n)
}

// encodeInputs gob-encodes the model inputs of a history, registering
// their types first, so that this process can encode them; a process that
// decodes them must know them too: models' types are registered below,
// and a model input of a program's own type needs gob.Register there.
func encodeInputs(inputs []any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil { // gob.Register panics on a name clash
			err = fmt.Errorf("%v", r)
		}
	}()
	for _, in := range inputs {
		if in != nil {
			gob.Register(in)
		}
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(inputs); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeInputs decodes what encodeInputs encoded.
func decodeInputs(b []byte) (inputs []any, err error) {
	err = gob.NewDecoder(bytes.NewReader(b)).Decode(&inputs)
	return inputs, err
}

func init() {
	// The inputs of package models' models, which a replaying process
	// decodes without having run any workload.
	for _, in := range []any{models.LogAppend{}, models.KVPut{}, models.KVDelete{}, models.KVGet{},
		models.RegisterWrite{}, models.BlobAppend{}, models.BlobResolve{}, models.BlobAck{}} {
		gob.Register(in)
	}
}
