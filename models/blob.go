package models

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Blob-store inputs. A blob store (engine/shm) gives each append a handle
// of its own choosing; a history records the handle an append returned as
// part of its input, since only the operation's return tells it, and the
// model checks that no two appends got the same one. Handles and blobs
// are strings: a handle's text, the blob's bytes or a digest of them.
type (
	// BlobAppend stores Blob, and returned Handle. Its output is nil.
	BlobAppend struct{ Handle, Blob string }
	// BlobResolve reads the blob of Handle; its output is a BlobValue.
	BlobResolve struct{ Handle string }
	// BlobAck marks the blob of Handle consumed; its output reports
	// whether there was one.
	BlobAck struct{ Handle string }
)

// BlobValue is the output of BlobResolve: the blob, and whether the handle
// named one.
type BlobValue struct {
	Blob string
	OK   bool
}

// BlobEntry is what the blob store holds for a handle.
type BlobEntry struct {
	Blob  string
	Acked bool
}

// blobDuplicate is the output of an append whose handle another append
// already returned: no store may do that, and no history records it.
type blobDuplicate struct{ Handle string }

func (d blobDuplicate) String() string { return "duplicate handle " + d.Handle }

// BlobStore models a store of immutable blobs named by handles: an append
// returns a handle no other append returned, a resolve of it returns the
// blob, an acknowledgement marks it consumed (a second one changes
// nothing). Its state is a map[string]BlobEntry from handle to entry,
// which Apply copies before changing. Freeing — blobs that vanish after
// their acknowledgement and a decay, or their TTL — is not modelled: a
// history that runs a cleaner cannot be judged by it.
func BlobStore() Model {
	return Model{
		Name: "blob-store",
		Init: func() any { return map[string]BlobEntry{} },
		Apply: func(state, input any) (any, any) {
			s := state.(map[string]BlobEntry)
			switch in := input.(type) {
			case BlobAppend:
				if _, dup := s[in.Handle]; dup {
					return s, blobDuplicate{in.Handle}
				}
				next := maps.Clone(s)
				next[in.Handle] = BlobEntry{Blob: in.Blob}
				return next, nil
			case BlobResolve:
				e, ok := s[in.Handle]
				return s, BlobValue{Blob: e.Blob, OK: ok}
			case BlobAck:
				e, ok := s[in.Handle]
				if !ok || e.Acked {
					return s, ok
				}
				next := maps.Clone(s)
				next[in.Handle] = BlobEntry{Blob: e.Blob, Acked: true}
				return next, true
			}
			panic(fmt.Sprintf("models: blob-store: unknown input %T", input))
		},
		Equal: func(a, b any) bool { return maps.Equal(a.(map[string]BlobEntry), b.(map[string]BlobEntry)) },
		Diff: func(want, got any) string {
			w, g := want.(map[string]BlobEntry), got.(map[string]BlobEntry)
			var diffs []string
			for _, h := range slices.Sorted(maps.Keys(w)) {
				ge, ok := g[h]
				switch {
				case !ok:
					diffs = append(diffs, fmt.Sprintf("%s missing", h))
				case ge.Blob != w[h].Blob:
					diffs = append(diffs, fmt.Sprintf("%s differs: %s", h, diffBytes([]byte(w[h].Blob), []byte(ge.Blob))))
				case ge.Acked != w[h].Acked:
					diffs = append(diffs, fmt.Sprintf("%s acknowledged %v, want %v", h, ge.Acked, w[h].Acked))
				}
			}
			for _, h := range slices.Sorted(maps.Keys(g)) {
				if _, ok := w[h]; !ok {
					diffs = append(diffs, fmt.Sprintf("%s unexpected", h))
				}
			}
			return strings.Join(diffs, "; ")
		},
		DescribeInput: func(input any) string {
			switch in := input.(type) {
			case BlobAppend:
				return fmt.Sprintf("append(%s) = %s", short([]byte(in.Blob)), in.Handle)
			case BlobResolve:
				return fmt.Sprintf("resolve(%s)", in.Handle)
			case BlobAck:
				return fmt.Sprintf("ack(%s)", in.Handle)
			}
			return fmt.Sprint(input)
		},
		DescribeState: func(state any) string {
			s := state.(map[string]BlobEntry)
			acked := 0
			for _, e := range s {
				if e.Acked {
					acked++
				}
			}
			return fmt.Sprintf("%d blobs, %d acknowledged", len(s), acked)
		},
	}
}
