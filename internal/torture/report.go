package torture

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is what a run of the torture did and found.
type Report struct {
	// Command is the command line that produced the report.
	Command string
	Seed    uint64
	Short   bool
	// Time is the budget, Elapsed what the run took.
	Time, Elapsed time.Duration
	Machine       string
	Kill          []KillFigures
	Sweeps        []SweepFigures
	FullDisk      []FullDiskFigures
	// Skipped says what did not run, and why.
	Skipped []string
	// Anomalies are those saved with their files: the first few of each
	// kind (phase, case, class and the gist of the detail); More counts
	// the others of each kind, MoreByClass by class.
	Anomalies   []Anomaly
	More        map[string]int `json:",omitempty"`
	MoreByClass map[string]int `json:",omitempty"`
}

// KillFigures are the kill -9 cycles of one workload on one medium.
type KillFigures struct {
	Case   string // workload/medium
	FSType string
	Cycles int
	// Acked is how many operations (WAL entries, pool transactions) were
	// acknowledged durable in all the cycles, Checkpoints how many
	// Publishes; Recovered how many recoveries passed their check.
	Acked, Checkpoints uint64
	Recovered          int
	// EarlyKills are kills sent without waiting for an acknowledgement,
	// which may land in the workload's own recovery.
	EarlyKills int
	// Reads are the replays (WAL) or Views (pool) of a reader in another
	// process beside the workload; ReadErrors those that failed or saw
	// what the workload did not write.
	Reads, ReadErrors int
	// Anomalies counts anomalies by class.
	Anomalies map[string]int `json:",omitempty"`
}

// SweepFigures are the corrupt inputs of one file format.
type SweepFigures struct {
	Target string
	// Files describes the files damaged: names and sizes.
	Files string
	// Inputs is how many damaged images were tried (each by every reader).
	Inputs  int
	Readers []ReaderFigures
	Total   Counts
	// Stopped says why the sweep ended before its last input, if it did.
	Stopped string `json:",omitempty"`
}

// ReaderFigures are the outcomes of one reader over a sweep's inputs.
type ReaderFigures struct {
	Reader string
	Counts Counts
}

// FullDiskFigures are the runs of one workload on a full file system.
type FullDiskFigures struct {
	Case string
	// Runs, Acked as for KillFigures; Refused counts the runs the engine
	// ended with a typed no-space error, as it should.
	Runs      int
	Acked     uint64
	Refused   int
	Anomalies map[string]int `json:",omitempty"`
}

// Anomaly is one thing the torture found wrong, with what reproduces it.
type Anomaly struct {
	ID     int
	Phase  string // kill, sweep, full-disk
	Case   string // workload/medium, or sweep target/reader
	Class  string
	Detail string
	Seed   uint64
	// Cycle is the kill cycle or full-disk run; Input the sweep input and
	// Mutation what it did to the file.
	Cycle    int    `json:",omitempty"`
	Input    int    `json:",omitempty"`
	Mutation string `json:",omitempty"`
	// Damage and Short rebuild a sweep input (the sweep's image depends
	// only on the seed and the mode).
	Damage *mutation `json:",omitempty"`
	Short  bool      `json:",omitempty"`
	// Dir holds anomaly.json and the files (image/) to replay it on.
	Dir string
	// Check is the check job that replay runs again on a copy of image/
	// (kill and full-disk anomalies).
	Check *job `json:",omitempty"`
	// Replay is the command that reproduces it from its files; Rerun the
	// one that runs its phase of the campaign again (a kill's timing
	// differs from run to run, its seeded choices do not).
	Replay, Rerun string
}

// Failed reports whether the run found any anomaly.
func (r *Report) Failed() bool { return len(r.Anomalies) > 0 }

// classes totals the report's anomalies, saved or counted, by class.
func (r *Report) classes() map[string]int {
	m := map[string]int{}
	for _, a := range r.Anomalies {
		m[a.Class]++
	}
	for class, n := range r.MoreByClass {
		m[class] += n
	}
	return m
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteMarkdown writes the figures as the tables of docs/RELIABILITY.md.
func (r *Report) WriteMarkdown(w io.Writer) {
	mode := "full"
	if r.Short {
		mode = "short (CI)"
	}
	fmt.Fprintf(w, "Command: `%s` — %s run, seed %d, %s of %s budget; %s.\n\n", r.Command, mode, r.Seed,
		r.Elapsed.Round(time.Second), budgetText(r.Time), r.Machine)
	if len(r.Kill) > 0 {
		fmt.Fprintf(w, "| kill -9 cycles | file system | cycles | acknowledged operations | checkpoints | recoveries passed | early kills | concurrent reads (failed) | anomalies |\n")
		fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|--:|--:|---|\n")
		for _, k := range r.Kill {
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %d (%d) | %s |\n", k.Case, k.FSType, k.Cycles, k.Acked, k.Checkpoints, k.Recovered, k.EarlyKills, k.Reads, k.ReadErrors, classText(k.Anomalies))
		}
		fmt.Fprintln(w)
	}
	if len(r.Sweeps) > 0 {
		fmt.Fprintf(w, "| corruption sweep | reader | inputs |")
		for c := range numClasses {
			fmt.Fprintf(w, " %s |", c)
		}
		fmt.Fprintf(w, "\n|---|---|--:|%s\n", strings.Repeat("--:|", int(numClasses)))
		for _, s := range r.Sweeps {
			for _, rd := range s.Readers {
				fmt.Fprintf(w, "| %s | %s | %d |", s.Target, rd.Reader, rd.Counts.Total())
				for _, n := range rd.Counts {
					fmt.Fprintf(w, " %d |", n)
				}
				fmt.Fprintln(w)
			}
		}
		fmt.Fprintln(w)
		for _, s := range r.Sweeps {
			fmt.Fprintf(w, "- %s: %d damaged images of %s", s.Target, s.Inputs, s.Files)
			if s.Stopped != "" {
				fmt.Fprintf(w, " (stopped: %s)", s.Stopped)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}
	if len(r.FullDisk) > 0 {
		fmt.Fprintf(w, "| full disk | runs | acknowledged operations | refused with a typed no-space error | anomalies |\n|---|--:|--:|--:|---|\n")
		for _, f := range r.FullDisk {
			fmt.Fprintf(w, "| %s | %d | %d | %d | %s |\n", f.Case, f.Runs, f.Acked, f.Refused, classText(f.Anomalies))
		}
		fmt.Fprintln(w)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "- skipped: %s\n", s)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w)
	}
	classes := r.classes()
	fmt.Fprintf(w, "Anomalies: %d", total(classes))
	if len(classes) > 0 {
		fmt.Fprintf(w, " (%s); the first %d of each kind are saved with their files", classText(classes), savedPerClass)
	}
	fmt.Fprintln(w, ".")
	for _, a := range r.Anomalies {
		first, _, _ := strings.Cut(a.Detail, "\n")
		fmt.Fprintf(w, "\n- #%d %s %s: **%s** — %s\n  reproduce: `%s`\n", a.ID, a.Phase, a.Case, a.Class, first, a.Replay)
	}
	if len(r.More) > 0 {
		fmt.Fprintln(w)
		for _, kind := range sortedKeys(r.More) {
			fmt.Fprintf(w, "- %d more of %s\n", r.More[kind], kind)
		}
	}
}

// slug makes s a file name: lower-case letters, digits and dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

func budgetText(d time.Duration) string {
	if d == 0 {
		return "no time"
	}
	return d.String()
}

func classText(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// saveAnomaly gives a its ID and directory under out, lets files fill
// image/ there, and writes anomaly.json.
func (r *Report) saveAnomaly(out string, a Anomaly, files func(image string) error) Anomaly {
	a.ID = len(r.Anomalies) + 1
	a.Dir = filepath.Join(out, "anomalies", fmt.Sprintf("%03d-%s", a.ID, slug(a.Phase+" "+a.Case+" "+a.Class)))
	image := filepath.Join(a.Dir, "image")
	err := os.MkdirAll(image, 0o755)
	if err == nil && files != nil {
		err = files(image)
	}
	a.Replay = fmt.Sprintf("go run ./cmd/crashsim torture replay %s", a.Dir)
	a.Rerun = fmt.Sprintf("go run ./cmd/crashsim torture --seed %d --only %s", a.Seed, a.Phase)
	if r.Short {
		a.Rerun += " --short"
	} else {
		a.Rerun += " --time " + r.Time.String()
	}
	if err != nil {
		a.Detail += fmt.Sprintf(" (its files could not be saved: %v)", err)
	}
	if b, err := json.MarshalIndent(a, "", "  "); err == nil {
		os.WriteFile(filepath.Join(a.Dir, "anomaly.json"), append(b, '\n'), 0o644)
	}
	r.Anomalies = append(r.Anomalies, a)
	return a
}
