package fuzz

import (
	"encoding/binary"
	"testing"
)

func patch(word uint16, v uint64) []byte {
	b := binary.LittleEndian.AppendUint16(nil, word)
	return binary.LittleEndian.AppendUint64(b, v)
}

func TestSampleOpens(t *testing.T) {
	if err := Metadata(nil); err != nil {
		t.Fatal(err)
	}
}

func FuzzMetadata(f *testing.F) {
	f.Add([]byte{})
	f.Add(patch(0, 0))             // the heap's magic
	f.Add(patch(1, 1000))          // the zone count
	f.Add(patch(2, 3))             // zone 0's offset
	f.Add(patch(504, 7))           // zone 0's magic
	f.Add(patch(506, 1<<50))       // zone 0's size
	f.Add(patch(512, 3|200<<8))    // the first page-table entry: a run of a bad class
	f.Add(patch(512, 1|1<<40))     // a free block too long
	f.Add(patch(1016, ^uint64(0))) // the first page
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Metadata(data); err != nil {
			t.Fatal(err)
		}
	})
}
