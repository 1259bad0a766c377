package wal

import (
	"cmp"
	"errors"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/crashsim/crashsim/engine"
)

// Files a writer leaves behind. A crash while a file is written with
// engine.WriteFileAtomic leaves its temporary, name.tmp: a checkpoint's
// (WriteCheckpoint, Publish) or a torn tail's being set aside (Resume,
// OpenRecordLog). Repairs set files aside, name.torn and
// name.<offset>.torn, for a look after the fact. The writer that opens a
// log, holding its lock, removes the temporaries — only the names this
// package writes, so that the directory may hold other files — and keeps
// the set-aside files under a retention: a count, not an age, so that it
// needs no clock and the laboratory replays it.

// tmpExt ends the name of a file engine.WriteFileAtomic is writing.
const tmpExt = ".tmp"

// setAside is a file set aside by a repair, and where it came from.
type setAside struct {
	name     string
	seq, off uint64 // segment (0 in a record log) and offset (0: the whole file)
}

// parseAside parses the name of a file set aside from the file base:
// base.torn, or base.<offset in hex>.torn.
func parseAside(name, base string) (off uint64, ok bool) {
	rest, ok := strings.CutPrefix(name, base)
	if !ok {
		return 0, false
	}
	rest, ok = strings.CutSuffix(rest, tornExt)
	switch {
	case !ok:
		return 0, false
	case rest == "":
		return 0, true
	case rest[0] != '.' || len(rest) > 17 || strings.TrimLeft(rest[1:], "0123456789abcdef") != "":
		return 0, false
	}
	off, err := strconv.ParseUint(rest[1:], 16, 64)
	return off, err == nil
}

// tidyDir removes from dir the temporaries and the files set aside that
// belong to a log: aside parses a name as a file set aside (as
// parseAside does, for the right file), temporary says whether a name is
// a temporary. Of the files set aside, the keep from the latest positions
// stay (all, if keep is negative). The caller holds the log's lock and
// syncs dir after (a removal lost in a crash is done again by the next).
func tidyDir(fsys engine.FS, dir string, keep int, aside func(name string) (setAside, bool), temporary func(name string) bool) error {
	des, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept []setAside
	var remove []string
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		if temporary(de.Name()) {
			remove = append(remove, de.Name())
		} else if a, ok := aside(de.Name()); ok {
			kept = append(kept, a)
		}
	}
	if keep >= 0 && len(kept) > keep {
		slices.SortFunc(kept, func(a, b setAside) int {
			return cmp.Or(cmp.Compare(b.seq, a.seq), cmp.Compare(b.off, a.off), strings.Compare(a.name, b.name))
		})
		for _, a := range kept[keep:] {
			remove = append(remove, a.name)
		}
	}
	for _, name := range remove {
		if err := fsys.Remove(path.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// tidyWAL tidies a WAL directory: the temporaries of checkpoints and of
// tails set aside, and the files set aside, keeping keep of them.
func tidyWAL(fsys engine.FS, dir string, keep int) error {
	return tidyDir(fsys, dir, keep, walAside, func(name string) bool {
		name, ok := strings.CutSuffix(name, tmpExt)
		if !ok {
			return false
		}
		_, checkpoint := parseSeq(name, checkpointExt)
		_, aside := walAside(name)
		return checkpoint || aside
	})
}

// walAside parses the name of a file set aside from a segment.
func walAside(name string) (setAside, bool) {
	if len(name) < 16+len(segmentExt) {
		return setAside{}, false
	}
	seq, ok := parseSeq(name[:16+len(segmentExt)], segmentExt)
	if !ok {
		return setAside{}, false
	}
	off, ok := parseAside(name, name[:16+len(segmentExt)])
	return setAside{name, seq, off}, ok
}

// tidyRecordLog tidies the files of the record log name: the temporaries
// of tails set aside, and the files set aside, keeping keep of them.
// name.torn and name.<hex>.torn are the log's own (it writes them, and
// would overwrite another file of that name): no other record log in the
// directory may be named name.<hex>.
func tidyRecordLog(fsys engine.FS, name string, keep int) error {
	base := path.Base(name)
	aside := func(n string) (setAside, bool) {
		off, ok := parseAside(n, base)
		return setAside{n, 0, off}, ok
	}
	return tidyDir(fsys, path.Dir(name), keep, aside, func(n string) bool {
		n, ok := strings.CutSuffix(n, tmpExt)
		if !ok {
			return false
		}
		off, ok := parseAside(n, base)
		return ok && off != 0 // only a cut tail is written through a temporary
	})
}

// retention returns the retention an option asks for.
func retention(opt int) int {
	if opt == 0 {
		return DefaultTornRetention
	}
	return opt
}
