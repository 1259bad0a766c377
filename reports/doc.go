// Package reports renders the results of crash explorations: the one
// result type, [sim.Result], as a terminal table, as JSON for CI, and as a
// self-contained HTML page with a timeline of each run's crash points.
//
// # Usage
//
// Collect the results of [sim.Explore], one per (scenario, fault model,
// strategy), and hand them to the renderers in the order they should be
// shown (grouped by scenario):
//
//	var results []*sim.Result
//	for _, name := range []string{"pmem-log", "pmem-log-bug-count-first"} {
//		sc, _ := scenarios.Lookup(name)
//		r, err := sim.Explore(sc, sim.Options{Fault: sim.PowerFailure})
//		if err != nil {
//			log.Fatal(err)
//		}
//		results = append(results, r)
//	}
//	reports.Table(w, results)                 // one row per result
//	reports.Violations(w, results, 3)         // details, 3 per result at most
//	reports.Profiles(w, results)              // where the violations reproduce
//	reports.JSON(f, results)                  // for CI, and for ReadJSON
//	reports.HTML(page, results)               // one page, no network
//
// [ReadJSON] reads what [JSON] wrote, so a saved run can be rendered again
// (`crashsim report out.json --html out.html`). The shards of a run
// (sim.Options.Shard) are merged before they are rendered, with
// [sim.MergeRuns]: `crashsim report shard-*.json` does that.
//
// Each violation says on which file-system profiles it reproduces
// (sim.Violation.BreaksOn and NotOn; faultfs rule 18): its text, its JSON
// and its section of the page say so, and [Profiles] (for the page,
// [ProfileRows]) adds up each scenario's violations per profile — the
// demo's profile table.
//
// Culprits (issue 10 section 4). Each violation names the unit it blames
// (sim.Violation.Culprit) with its source line — "culprit: lost … at
// file:line" in the text, a line of its section on the page, the field in
// the JSON — and a crash point with several causes has a violation for
// each. A run's warnings of barriers the workload misused (sim.Warning: a
// Sync retried after it failed, a barrier's error ignored) come before
// its violations in the text ([Violations] writes them all, whatever its
// max), as notes above the timeline on the page, and in the JSON. A unit
// of a recovery that crashed (sim.Unit.Recovery) is numbered in that
// recovery's trace and tags no event of the workload's excerpt.
//
// [Verdict] gives a result's verdict word: a correct scenario gets "pass"
// or "FAIL"; a bug variant ([sim.Result.Buggy], "-bug-" in the name) is
// expected to be caught, so it gets "caught" when the run found a
// violation and "not seen" when it did not — no failure, since one fault
// model may not expose it; [Table] shows "MISSED" when no run of it in the
// table caught it and none of them is a shard (when one is, "not seen":
// the other shards judged the rest of its states, and may have caught
// it). A run whose workload itself failed gets "ERROR". [Good] says
// whether a verdict is no failure.
// [Outcomes] judges each scenario over all its runs: a correct scenario
// must pass every run, a bug variant be caught by at least one (a missing
// fsync is invisible to a process crash), and no run may fail to run; a
// bug variant no run caught is missed, or only not seen when some runs
// are shards, by the same rule as the table's. The HTML summary and
// `crashsim demo` both judge this way.
//
// # Implementation notes
//
// Table. The columns are scenario, fault, strategy, crash points, states
// explored/total, unique images, continued, recoveries, violations, time
// and verdict; continued is, for a run at crash depth 2 or more
// (docs/DESIGN.md F4), the crash states whose recovery the program went
// on from and, in brackets, the crash states of those continuations
// judged ("16 (1004)"; a footnote says so), and "-" for a run of one crash;
// a power failure's fault names its profile, "power (posix)" (a result
// written before profiles has none: "power").
// A state total that saturated (StatesExact false) is shown as "≥N" (two
// significant figures, as 1.8e19, once it is large): it is
// a lower bound and must not read as the size of the state space. A run a
// budget stopped early gets a "*" after its verdict and one footnote per
// reason under the table; run errors are listed under it in full. The
// scenario and a repeated fault are written only on the first row of a
// scenario's group, by hand rather than with tablewriter's cell merging,
// which would also join equal numbers of two runs of one combination (two
// shards) and hide that they are two runs. A shard other than the whole
// run is shown next to the strategy for the same reason.
//
// JSON. The field order is sim.Result's declaration order (encoding/json
// keeps it), and nil lists are written as [] so consumers never see null
// for "none". Fault and Strategy are not in the JSON (they are typed);
// their names are, and ReadJSON parses them back with [sim.ParseFault] and
// [sim.ParseStrategy]. ReadJSON accepts an array of results or a single
// result object; anything else — invalid JSON, a trailing second value,
// null entries, an unknown fault, strategy or profile name — is an error
// wrapping [ErrFormat], never a partial result. A result without a profile
// was written before profiles and reads as it was.
//
// Profiles. A row per scenario with judged violations, in the order of its
// first result, a column per profile of faultfs.Profiles (weakest first):
// "breaks" where every violation of the scenario reproduces, "-" where
// none does, "k of n" between. A violation of a result written before
// profiles says nothing and counts nowhere.
//
// HTML. One page built with html/template, so every string from a result
// (scenario names, problems, paths, notes) is escaped in its context; the
// template is embedded and parsed at init, so a broken template fails every
// test rather than one report. Inline CSS and a few lines of script (open
// the violation a timeline mark links to, hide passing runs, copy a replay
// command); nothing is fetched, so the page works from a CI artifact store
// or a mail attachment. The output is a pure function of the results (no
// timestamp), so two runs with the same seed give the same page.
//
// The timeline has one mark per crash point in trace order, green without
// a violation and red with one; a mark's height grows with the log of the
// states explored there, and its tooltip gives the crash point, the trace
// operation and explored/total states. Past 400 crash points consecutive
// points share a mark (red if any failed), so a long workload's page stays
// small while a single failing point stays visible. A red mark links to
// the first violation at that point. Each violation shows its problem,
// expected versus observed, kept and lost units, the trace excerpt with
// barriers (sim.Event.IsBarrier) and the crash point highlighted and the
// operations that made a kept or lost unit tagged, and the replay command.
// At most 50 violations per result are written out; the JSON has them all.
//
// Epochs. A violation that needed more than one crash (sim.Violation.Chain)
// or a continuation that could not go on (Liveness) spans several lives of
// the program: its mark on the timeline is hatched, and its section shows
// them in a row — the workload to its crash, a recovery, each continuation
// to its crash or its failure, and what the last recovery found — with the
// trace excerpt of each later epoch (the recovery's operations, then the
// continuation's, numbered in that machine's trace). The kept and lost
// units are the last crash's, tagged in its excerpt only. The result's
// facts give its crash depth and continuations.
package reports
