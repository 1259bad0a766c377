package scenarios

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/crashsim/crashsim/engine/tx"
	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
)

// pool-words, pool-words-file: transactions that change one word of the
// root, which commit without a log where no log recovery would replay
// holds the word, between transactions that change several. A pool of
// format 6 (engine/tx redo.go) logs a one-word change of a word the
// newest logs hold as a word log, and the next one retires the older log
// and commits without one: the script reaches each case — a word in the
// newest log, in the older one, in an inert word log, in none — on each
// medium. The model is a KV map from a word's name ("w0" to "w3") to its
// value, absent while it is 0.

// wordsRoot is the root of pool-words.
type wordsRoot struct {
	Words [4]int64
}

// wordsScript is pool-words' transactions: the first and the last word
// each changes, inclusive.
var wordsScript = [][2]int{
	{0, 1}, {1, 1}, {1, 1}, {1, 1}, {3, 3},
	{1, 3}, {0, 0}, {2, 2}, {2, 2},
	{0, 3}, {3, 3}, {0, 1}, {0, 0}, {0, 0}, {1, 1},
}

func init() {
	register(
		func() *sim.Scenario {
			return poolWords("pool-words", "transactions changing one word of a pool's root, committed without a log, between transactions changing several, in persistent memory", poolPMemFile)
		},
		func() *sim.Scenario {
			return poolWords("pool-words-file", "transactions changing one word of a pool's root between transactions changing several, in a file mapped through the page cache (msync)", poolDiskFile)
		},
		func() *sim.Scenario {
			return poolWordsBug("pool-bug-redo-word-alone", "BUG: a pool's recovery replays a word log with no older log, over the one-word commits made since", poolPMemFile, txbug.RedoWordAlone)
		},
	)
}

func poolWords(name, doc, file string) *sim.Scenario {
	return poolWordsBug(name, doc, file, txbug.None)
}

// poolWordsBug is pool-words with a bug of recovery: the workload runs
// the correct protocol, so that it writes the word logs the bug
// mistreats, and recovery opens the pool with the bug.
func poolWordsBug(name, doc, file string, bug txbug.Bug) *sim.Scenario {
	return &sim.Scenario{
		Name:  name,
		Doc:   doc,
		Model: poolKV(),
		Run: func(env *sim.Env) error {
			if err := makePoolDir(env, file); err != nil {
				return err
			}
			p, err := tx.Create[poolTag, wordsRoot](env.FS, file, poolOptions(env, txbug.None))
			if err != nil {
				return err
			}
			defer p.Close()
			root := p.Root()
			for i, s := range wordsScript {
				var ops poolTx
				for w := s[0]; w <= s[1]; w++ {
					ops = append(ops, models.KVPut{Key: fmt.Sprintf("w%d", w), Value: fmt.Sprint(i + 1)})
				}
				env.Invoke(ops)
				if err := p.Update(func(t *tx.Tx[poolTag]) error {
					r, err := root.Get(t)
					if err != nil {
						return err
					}
					for w := s[0]; w <= s[1]; w++ {
						r.Words[w] = int64(i + 1)
					}
					return root.Set(t, r)
				}); err != nil {
					return err
				}
				env.Return(nil)
				env.DurableAll()
			}
			return nil
		},
		Recover: func(env *sim.Env) (any, error) {
			state := map[string]string{}
			o := &tx.Options{Rand: envReader{env}}
			if bug != txbug.None {
				txbug.Set(o, bug)
			}
			p, err := tx.Open[poolTag, wordsRoot](env.FS, file, o)
			if errors.Is(err, fs.ErrNotExist) {
				return state, nil
			}
			if err != nil {
				return state, err
			}
			defer p.Close()
			if err := p.Check(); err != nil {
				return state, err
			}
			root := p.Root()
			err = p.View(func(t *tx.Tx[poolTag]) error {
				r, err := root.Get(t)
				if err != nil {
					return err
				}
				for w, v := range r.Words {
					if v != 0 {
						state[fmt.Sprintf("w%d", w)] = fmt.Sprint(v)
					}
				}
				return nil
			})
			return state, err
		},
	}
}
