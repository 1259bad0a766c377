package scenarios

import (
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"

	"github.com/crashsim/crashsim/engine"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// A Durinn-style bug (Gorjiara et al., "Durinn: Adversarial Memory and
// Thread Interleaving for Detecting Durable Linearizability Bugs", OSDI
// 2022): a lock-free counter in persistent memory whose linearization
// point — the atomic add, visible to every thread at once — comes before
// its durability point, the flush after it. A reader that returns what it
// loaded before that flush lets a crash take back a value a client has
// seen. The correct counter persists what a reader read before the read
// returns (the link-and-persist pattern: whoever observes a value makes it
// durable), so every value any client saw is durable.
//
// The prefix property cannot see the bug: it numbers one client's
// operations and judges durability by their markers, and the writer's
// marker comes after its own flush, which is right. Durable
// linearizability judges the readers' outputs too.
const (
	pmemCounterPath    = "/pmem/counter"
	pmemCounterAdds    = 3
	pmemCounterReaders = 2
	pmemCounterReads   = 2 // per reader
)

func init() {
	register(
		func() *sim.Scenario {
			return pmemCounter("pmem-counter", "a writer adds to a counter in persistent memory with atomic adds, each persisted before it returns, while two readers load it and persist what they read before returning; judged by durable linearizability", true)
		},
		func() *sim.Scenario {
			return pmemCounter("pmem-counter-bug-read-unpersisted", "BUG (Durinn-style): readers return the counter as loaded, before the writer's flush: a value visible before it is durable, which a crash takes back after a client saw it", false)
		},
	)
}

func pmemCounter(name, doc string, persistReads bool) *sim.Scenario {
	return &sim.Scenario{
		Name:   name,
		Doc:    doc,
		Faults: []sim.Fault{sim.PowerFailure},
		Model:  models.Counter(),
		Check:  sim.DurableLinearizability,
		Run: func(env *sim.Env) error {
			f, err := env.FS.OpenFile(pmemCounterPath, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			r, err := env.FS.Map(f, 64)
			if err != nil {
				return err
			}
			defer r.Close()
			if err := f.Sync(); err != nil {
				return err
			}
			if err := env.FS.SyncDir("/pmem"); err != nil {
				return err
			}
			writer := env.Go(func(env *sim.Env) error {
				for range pmemCounterAdds {
					env.Invoke(models.CounterAdd{Delta: 1})
					v, err := r.Add64(0, 1)
					if err != nil {
						return err
					}
					if err := engine.Persist(r, 0, 8); err != nil {
						return err
					}
					env.Return(v)
					env.DurableAll()
				}
				return nil
			})
			threads := []*sim.Thread{writer}
			for range pmemCounterReaders {
				threads = append(threads, env.Go(func(env *sim.Env) error {
					for range pmemCounterReads {
						env.Invoke(models.CounterRead{})
						v, err := r.Load64(0)
						if err != nil {
							return err
						}
						if persistReads {
							if err := engine.Persist(r, 0, 8); err != nil {
								return err
							}
						}
						env.Return(v)
					}
					return nil
				}))
			}
			for _, t := range threads {
				if err := t.Wait(); err != nil {
					return err
				}
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			f, err := engine.Open(env.FS, pmemCounterPath)
			if errors.Is(err, fs.ErrNotExist) {
				return uint64(0), nil
			}
			if err != nil {
				return nil, err
			}
			defer f.Close()
			b := make([]byte, 8) // a file whose size was lost reads as zero
			if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
				return nil, err
			}
			return binary.LittleEndian.Uint64(b), nil
		},
	}
}
