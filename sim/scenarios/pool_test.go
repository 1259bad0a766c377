package scenarios

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/crashsim/crashsim/internal/txbug"
	"github.com/crashsim/crashsim/models"
	"github.com/crashsim/crashsim/sim"
	"pgregory.net/rapid"
)

// heavy reports whether the heavier explorations run (make test-heavy).
func heavy() bool { return os.Getenv("CRASHSIM_HEAVY") == "1" }

// poolScenarios returns the registered pool scenarios, correct or buggy.
func poolScenarios(t *testing.T, buggy bool) []*sim.Scenario {
	var out []*sim.Scenario
	for _, sc := range All() {
		if strings.HasPrefix(sc.Name, "pool-") && sc.Buggy() == buggy {
			out = append(out, sc)
		}
	}
	if len(out) < 3 {
		t.Fatalf("%d pool scenarios (buggy %v)", len(out), buggy)
	}
	return out
}

// TestPoolRecoveryCrashes: the correct pool scenarios under every fault
// model and strategy, each recovery also crashed at each of its own crash
// points and recovered again: zero violations, so recovery (the log's
// rollback, the heap's reopening, Check) is idempotent when interrupted.
// The CI run samples a few states per crash point, at one crash;
// CRASHSIM_HEAVY=1 explores up to the simulator's default, more seeds, and
// the program going on after each recovery (crash depth 2).
func TestPoolRecoveryCrashes(t *testing.T) {
	seeds, maxStates, depth := []uint64{0}, 4, 1
	if heavy() {
		seeds, maxStates, depth = []uint64{0, 1, 2, 3}, 0, 0 // and the program going on after each recovery
	}
	for _, sc := range poolScenarios(t, false) {
		every(sc, func(o sim.Options) {
			if !heavy() && o.Strategy != sim.Subsets && o.Strategy != sim.KeepAll {
				return // drop-all and prefixes: the heavy run, and TestCorrectScenariosPass
			}
			for _, seed := range seeds {
				o.Seed, o.MaxStates, o.RecoveryCrashes, o.CrashDepth = seed, maxStates, true, depth
				res := sim.Check(t, sc, o)
				if res != nil && res.Explored == 0 {
					t.Errorf("%s %v/%v: explored nothing", sc.Name, o.Fault, o.Strategy)
				}
			}
		})
	}
}

// TestPoolBugVariantsCaught: each deliberate mistake of the commit
// protocol is caught under power failures (it is invisible to a process
// crash, which loses nothing), with the problem the mistake causes; each
// mistake of the layout upgrade is caught under power failures and process
// crashes alike (a crash between two transactions, or inside the copy of
// a header, needs no lost store), and so is a pool mapped without its
// blocks (a death by SIGBUS on a full disk needs none either), and a
// recovery that trusts a redo log's header (a process killed while it
// wrote the lines of a log over an older one leaves that one's header
// beside new lines). Each at one crash; pool-bug-epoch-reused needs two
// (TestDepthTwoBugs).
func TestPoolBugVariantsCaught(t *testing.T) {
	type variant struct {
		bug          txbug.Bug
		processCrash bool // a process crash shows the mistake too
	}
	want := map[string]variant{
		"pool-bug-write-before-log":  {txbug.WriteBeforeLog, false},
		"pool-bug-retire-early":      {txbug.RetireEarly, false},
		"pool-bug-publish-unflushed": {txbug.PublishUnflushed, false},
		"pool-bug-header-in-place":   {txbug.HeaderInPlace, true},
		"pool-bug-upgrade-split":     {txbug.UpgradeSplit, true},
		"pool-bug-sparse-map":        {txbug.SparseMap, true},
		"pool-bug-redo-one-slot":     {txbug.RedoOneSlot, false},
		"pool-bug-redo-unchecked":    {txbug.RedoUnchecked, true},
		"pool-bug-redo-word-alone":   {txbug.RedoWordAlone, true},
		// A concurrency bug, whatever the crash: a reader returns half a
		// transaction.
		"pool-bug-view-uncommitted": {txbug.ViewUnlocked, true},
	}

	for _, sc := range poolScenarios(t, true) {
		if sc.Name == "pool-bug-epoch-reused" {
			continue
		}
		v, ok := want[sc.Name]
		if !ok {
			t.Errorf("unexpected pool bug variant %s", sc.Name)
			continue
		}
		delete(want, sc.Name)
		res, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, MaxStates: 64, CrashDepth: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.RunError != "" {
			t.Errorf("%s: the workload failed: %s", sc.Name, res.RunError)
		}
		if len(res.Violations) == 0 {
			t.Errorf("%s: not caught", sc.Name)
			continue
		}
		// A process crash keeps the page cache and the caches: the same
		// workload is correct then, so the violations are the mistake's —
		// unless the mistake is one a process crash shows.
		res, err = sim.Explore(sc, sim.Options{Fault: sim.ProcessCrash, CrashDepth: 1})
		if err != nil || (len(res.Violations) != 0) != v.processCrash {
			t.Errorf("%s under a process crash: %v, %d violations, want some: %v", sc.Name, err, len(res.Violations), v.processCrash)
		}
	}
	for name := range want {
		t.Errorf("bug variant %s is not registered", name)
	}
}

// mapTxs generates transactions of puts and deletes on a few keys, as the
// model sees them.
func mapTxs() *rapid.Generator[[]poolTx] {
	op := rapid.Custom(func(t *rapid.T) any {
		k := fmt.Sprintf("k%d", rapid.IntRange(0, 5).Draw(t, "key"))
		if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
			return models.KVDelete{Key: k}
		}
		return models.KVPut{Key: k, Value: rapid.StringMatching(`[a-z]{0,60}`).Draw(t, "value")}
	})
	tx := rapid.Custom(func(t *rapid.T) poolTx { return poolTx(rapid.SliceOfN(op, 1, 4).Draw(t, "ops")) })
	return rapid.SliceOfN(tx, 1, 5)
}

// rapidMap is the map scenario on file with the transactions txs.
func rapidMap(file string, txs []poolTx) *sim.Scenario {
	return poolMapWith("pool-map-rapid", "rapid-generated transactions on a pool's hash map", file, txbug.None,
		func(*sim.Env) []poolTx { return txs })
}

// TestPoolRapidWorkloads: rapid-generated transactions on the map, in
// persistent memory and in a mapped file, explored under a drawn fault
// model and strategy; a failure would be shrunk by rapid to a minimal
// workload. The CI run explores a few generated workloads (rapid's
// examples, each continued after 4 of its recoveries at crash depth 2);
// CRASHSIM_HEAVY=1 runs rapid.Check, with shrinking, at the default 16.
func TestPoolRapidWorkloads(t *testing.T) {
	explore := func(tb sim.TB, file string, txs []poolTx, o sim.Options) {
		if !o.Strategy.Applies(o.Fault) {
			o.Strategy = sim.KeepAll
		}
		res := sim.Check(tb, rapidMap(file, txs), o)
		if res != nil && res.Explored == 0 {
			tb.Errorf("explored nothing")
		}
	}
	if heavy() {
		rapid.Check(t, func(rt *rapid.T) {
			explore(rt, rapid.SampledFrom([]string{poolPMemFile, poolDiskFile}).Draw(rt, "file"), mapTxs().Draw(rt, "txs"), sim.Options{
				Fault:           rapid.SampledFrom([]sim.Fault{sim.ProcessCrash, sim.PowerFailure}).Draw(rt, "fault"),
				Strategy:        rapid.SampledFrom(sim.Strategies).Draw(rt, "strategy"),
				Seed:            rapid.Uint64().Draw(rt, "seed"),
				MaxStates:       16,
				RecoveryCrashes: rapid.Bool().Draw(rt, "recovery crashes"),
			})
		})
		return
	}
	gen := mapTxs()
	for i := range 8 {
		txs := gen.Example(i)
		file := []string{poolPMemFile, poolDiskFile}[i%2]
		explore(t, file, txs, sim.Options{Fault: sim.PowerFailure, Strategy: sim.Subsets, Seed: uint64(i), MaxStates: 8, MaxChains: 4})
	}
}
