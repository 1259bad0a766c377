package torture

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Replay reproduces the anomaly saved in dir (by a run of the torture):
// a sweep input is rebuilt from the seed and given to its reader again; a
// kill or full-disk anomaly's check runs again, in this process, on a
// copy of the files saved with it. It writes what it found to w and
// reports whether the anomaly is still there. An error means the anomaly
// could not be replayed at all.
func Replay(dir string, w io.Writer) (still bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "anomaly.json"))
	if err != nil {
		return false, fmt.Errorf("torture: replay: %w", err)
	}
	var a Anomaly
	if err := json.Unmarshal(b, &a); err != nil {
		return false, fmt.Errorf("torture: replay %s: %w", dir, err)
	}
	fmt.Fprintf(w, "anomaly #%d, %s %s, seed %d: %s\n", a.ID, a.Phase, a.Case, a.Seed, a.Class)
	if a.Phase == "sweep" {
		return replaySweep(a, w)
	}
	if a.Check == nil {
		return false, fmt.Errorf("torture: replay %s: the anomaly saved no check to run", dir)
	}
	tmp, err := os.MkdirTemp("", "crashsim-torture-replay-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp)
	if err := copyDir(filepath.Join(dir, "image"), tmp); err != nil {
		return false, fmt.Errorf("torture: replay: copy the image: %w", err)
	}
	j := *a.Check
	j.Path = filepath.Join(tmp, filepath.Base(j.Path))
	if j.Medium == mediumShm || j.Medium == "tmpfs" {
		j.Medium = mediumDisk // a copy in the temporary directory; a process crash keeps the same on any medium
	}
	fmt.Fprintf(w, "%s on a copy of %s, acknowledged through %d (checkpoint through %d, at most %d more under way)\n",
		j.Role, filepath.Join(dir, "image"), j.Acked, j.Published, j.Pending)
	v := check(j)
	if v.Class == "" {
		fmt.Fprintf(w, "the check passes now: recovered through %d\n", v.Recovered)
		if a.Phase == "full-disk" || a.Class == "signal" || a.Class == "hang" || a.Class == "workload-error" {
			fmt.Fprintf(w, "(what went wrong happened in the run itself, not in a later recovery: run it again with %s)\n", a.Rerun)
		}
		return false, nil
	}
	fmt.Fprintf(w, "%s: %s\n", v.Class, v.Detail)
	return true, nil
}

func replaySweep(a Anomaly, w io.Writer) (bool, error) {
	name, readerName, _ := strings.Cut(a.Case, "/")
	tg, ok := findTarget(name)
	if !ok || a.Damage == nil {
		return false, fmt.Errorf("torture: replay: no sweep %q, or no damage saved", name)
	}
	s, err := tg.build(a.Seed, a.Short)
	if err != nil {
		return false, fmt.Errorf("torture: replay: build the %s sweep: %w", name, err)
	}
	for _, rd := range s.readers {
		if rd.name != readerName {
			continue
		}
		fmt.Fprintf(w, "%s, read by %s\n", a.Damage, rd.name)
		class, detail := readInput(s.image, rd, *a.Damage)
		fmt.Fprintf(w, "%s", class)
		if detail != "" {
			fmt.Fprintf(w, ": %s", detail)
		}
		fmt.Fprintln(w)
		return class.Anomaly(), nil
	}
	return false, fmt.Errorf("torture: replay: the %s sweep has no reader %q", name, readerName)
}
