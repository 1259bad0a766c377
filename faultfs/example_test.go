package faultfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"syscall"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/faultfs"
)

// runRecovery stands for a program's recovery: here it says what survived
// of the log.
func runRecovery(img *faultfs.FS) {
	b, err := engine.ReadFile(img, "/wal/000001.log")
	if err != nil {
		fmt.Println("recovery:", err)
		return
	}
	fmt.Printf("recovery: %d bytes, second record %v\n", len(b), len(b) > 4096 && bytes.Equal(b[4096:], bytes.Repeat([]byte("r"), 100)))
}

// The package doc's first example: a file written and synced, then a write
// left pending; one crash state, then every one (its size and its data
// each survive or not: four states, two of which read the same); the three
// of them ext4 can leave (not the size without the data); then a fault
// injected.
func Example() {
	record := bytes.Repeat([]byte("r"), 100)
	var seed int64 = 1

	ops := new(faultfs.Log)
	fsys := faultfs.New(faultfs.Options{Observe: ops.Observe})
	engine.MkdirAllDurable(fsys, "/wal", 0o755)
	f, _ := engine.Create(fsys, "/wal/000001.log")
	f.WriteAt(record, 0)
	f.Sync()                // data and size durable
	fsys.SyncDir("/wal")    // the name durable
	f.WriteAt(record, 4096) // pending: a crash may keep it or lose it

	// One crash state:
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.AllSubsets, Seed: 7})
	runRecovery(img)

	// Every crash state the rules allow, at most 10 000 of them:
	p := fsys.Pending(engine.SectorSize)
	for c := range p.Choices(faultfs.AllSubsets, 10_000, seed) {
		runRecovery(p.Clone(c, faultfs.Tail{}))
	}

	// Those ext4 mounted data=ordered can leave (rule 18): a size never
	// outlives the data it covers.
	e := fsys.PendingUnder(faultfs.Ext4Ordered, 0)
	for c := range e.Choices(faultfs.AllSubsets, 0, seed) {
		runRecovery(e.Clone(c, faultfs.Tail{}))
	}

	// Media faults: the third write to a log fails with ENOSPC.
	rules := faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob("/wal/*.log"), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
		Fault: faultfs.Error(syscall.ENOSPC),
	})
	fsys.SetInjector(rules)
	for i := range 3 {
		_, err := f.WriteAt(record, int64(8192+i*100))
		fmt.Println("write:", err, errors.Is(err, faultfs.ErrInjected))
	}
	if len(rules.Unfired()) > 0 {
		log.Fatal("the fault was never injected")
	}
	fmt.Println(len(ops.Ops()), "operations observed")
	// Output:
	// recovery: 4196 bytes, second record true
	// recovery: 100 bytes, second record false
	// recovery: 4196 bytes, second record false
	// recovery: 100 bytes, second record false
	// recovery: 4196 bytes, second record true
	// recovery: 100 bytes, second record false
	// recovery: 100 bytes, second record false
	// recovery: 4196 bytes, second record true
	// write: <nil> false
	// write: <nil> false
	// write: write /wal/000001.log: faultfs: injected fault: no space left on device true
	// 12 operations observed
}

// The package doc's media example: a persistent-memory mount, a store and
// a persist; what stays pending.
func ExampleMount() {
	fsys := faultfs.New(faultfs.Options{Mounts: []faultfs.Mount{
		{Dir: "/mnt/pmem", Medium: engine.PMem},
		{Dir: "/dev/shm", Medium: engine.SharedMemory},
	}})
	f, _ := engine.Create(fsys, "/mnt/pmem/pool")
	r, _ := fsys.Map(f, 1<<20) // r.Medium() == engine.PMem
	r.Store64(0, 42)
	engine.Persist(r, 0, 8) // this line durable, no other
	r.Store64(64, 7)        // the next line: pending
	p := fsys.Pending(0)    // 64-byte lines on pmem, 4 KiB pages elsewhere
	fmt.Println(r.Medium() == engine.PMem)
	for _, u := range p.Data {
		fmt.Println("pending:", u.Path, u.Off, u.Len)
	}
	// Output:
	// true
	// pending: /mnt/pmem/pool 64 64
}

// The package doc's full-disk example: a capacity, an Allocate that does
// not fit, and a store to a hole of the mapping on the full disk.
func ExampleFS_SetCapacity() {
	fsys := faultfs.New(faultfs.Options{})
	fsys.MkdirAll("/data", 0o755)
	f, _ := engine.Create(fsys, "/data/pool")
	b := []byte("a store")

	fsys.SetCapacity("/data", 1<<20)    // the disk holding /data: 1 MiB of blocks
	err := engine.Allocate(f, 0, 4<<20) // ENOSPC: f has what fitted, in order
	fmt.Println("allocate:", errors.Is(err, syscall.ENOSPC))
	r, _ := fsys.Map(f, 8<<20)   // the extension is a hole
	_, err = r.WriteAt(b, 6<<20) // errors.Is(err, faultfs.ErrSIGBUS)
	fmt.Println("store to a hole:", errors.Is(err, faultfs.ErrSIGBUS))
	_, err = r.WriteAt(b, 512<<10)
	fmt.Println("store to an allocated page:", err)
	used, capacity := fsys.Space("/data")
	fmt.Println(used, capacity)
	// Output:
	// allocate: true
	// store to a hole: true
	// store to an allocated page: <nil>
	// 1048576 1048576
}

// The package doc's process example: a lock of a simulated process,
// released when it is killed; the fingerprints of crash images.
func ExampleFS_View() {
	fsys := faultfs.New(faultfs.Options{})
	fsys.MkdirAll("/db", 0o755)

	p1 := fsys.View(1)
	l, err := p1.Lock("/db/LOCK", engine.Exclusive)
	if err != nil {
		log.Fatal(err)
	}
	rl := p1.(faultfs.RecordLocker) // fcntl's byte-range locks, for the mount
	err = rl.RecordLock("/db/LOCK", faultfs.RecordLock{Owner: 1, Pid: 1, End: faultfs.RecordEOF, Exclusive: true})
	if err != nil {
		log.Fatal(err)
	}
	fsys.Mark(1, "invoke put k1") // an Op of kind OpMark, with its Index
	_, err = fsys.View(2).Lock("/db/LOCK", engine.Exclusive)
	fmt.Println("process 2:", errors.Is(err, engine.ErrLocked))
	holder, held, _ := fsys.TestRecordLock("/db/LOCK", faultfs.RecordLock{Owner: 2, End: 9})
	fmt.Println("bytes 0-9 held by pid", holder.Pid, held)
	fsys.ReleaseLocks(1) // process 1 was killed
	_, err = fsys.View(2).Lock("/db/LOCK", engine.Exclusive)
	fmt.Println("process 2 after the kill:", err)
	_, held, _ = fsys.TestRecordLock("/db/LOCK", faultfs.RecordLock{Owner: 2, End: 9})
	fmt.Println("bytes 0-9 held after the kill:", held)
	_ = l

	seen := map[faultfs.Fingerprint]bool{}
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
	seen[img.Fingerprint()] = true // the same crash image twice is checked once
	again := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
	fmt.Println("seen before:", seen[again.Fingerprint()])
	// Output:
	// process 2: true
	// bytes 0-9 held by pid 1 true
	// process 2 after the kill: <nil>
	// bytes 0-9 held after the kill: false
	// seen before: true
}

// The package doc's example of the other calls: fdatasync, an append to a
// log opened with O_APPEND and O_DSYNC, durable when it returns, and a
// hard link, durable after SyncDir of its directory.
func ExampleFS_Link() {
	fsys := faultfs.New(faultfs.Options{})
	engine.MkdirAllDurable(fsys, "/wal", 0o755)
	engine.MkdirAllDurable(fsys, "/db", 0o755)
	f, _ := engine.Create(fsys, "/db/checkpoint.tmp")
	f.WriteAt([]byte("state"), 0)
	record := []byte("record")

	engine.Datasync(f) // as Sync: data and size
	w, _ := fsys.OpenFile("/wal/log", os.O_WRONLY|os.O_CREATE|os.O_APPEND|engine.O_DSYNC, 0o644)
	fsys.SyncDir("/wal")
	engine.Append(w, record)                          // at the end, durable when it returns
	fsys.Link("/db/checkpoint.tmp", "/db/checkpoint") // EEXIST if it exists
	fsys.SyncDir("/db")                               // the new name durable

	err := fsys.Link("/db/checkpoint.tmp", "/db/checkpoint")
	fmt.Println("link again:", errors.Is(err, fs.ErrExist))
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})
	for _, name := range []string{"/wal/log", "/db/checkpoint"} {
		b, err := engine.ReadFile(img, name)
		fmt.Printf("after a power failure, %s: %q %v\n", name, b, err)
	}
	// Output:
	// link again: true
	// after a power failure, /wal/log: "record" <nil>
	// after a power failure, /db/checkpoint: "state" <nil>
}

// The package doc's example of Wrap: the same rules on real files, the
// third write to a log failing with EIO.
func ExampleWrap() {
	dir, err := os.MkdirTemp("", "wrap-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	fsys := faultfs.Wrap(engine.OSFS{}, faultfs.NewRules(faultfs.Rule{
		When:  faultfs.And(faultfs.PathGlob(filepath.Join(dir, "*.wal")), faultfs.OpKinds(faultfs.OpWrite), faultfs.OnIndex(2)),
		Fault: faultfs.Error(syscall.EIO),
	}))
	f, _ := engine.Create(fsys, filepath.Join(dir, "1.wal"))
	defer f.Close()
	for i := range 3 {
		_, err := f.WriteAt([]byte("entry"), int64(i*5))
		fmt.Println("write:", errors.Is(err, syscall.EIO), errors.Is(err, faultfs.ErrInjected))
	}
	// Output:
	// write: false false
	// write: false false
	// write: true true
}

// The package doc's image example: a crash image as plain data, and the
// file system rebuilt from it.
func ExampleFromImage() {
	fsys := faultfs.New(faultfs.Options{})
	f, _ := engine.Create(fsys, "/log")
	f.WriteAt([]byte("record"), 0)
	f.Sync()
	fsys.SyncDir("/")
	img := fsys.CrashClone(faultfs.CrashOptions{Mode: faultfs.LoseAll})

	saved := img.Image()
	again, err := faultfs.FromImage(saved) // ErrImage for one no file system holds
	b, _ := engine.ReadFile(again, "/log")
	fmt.Println(err, again.Fingerprint() == img.Fingerprint(), string(b))
	// Output:
	// <nil> true record
}
