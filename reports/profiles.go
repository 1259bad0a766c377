package reports

import (
	"fmt"
	"io"
	"slices"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/crashsim/crashsim/faultfs"
	"github.com/crashsim/crashsim/sim"
)

// ProfileRow says, for one scenario, on which file-system profiles its
// violations reproduce (sim.Violation.BreaksOn): of its Judged violations
// over all its runs, how many break on each profile of faultfs.Profiles,
// in their order.
type ProfileRow struct {
	Scenario string
	Judged   int
	Breaks   []int
}

// Cells renders the row's counts: "breaks" on a profile where every
// violation reproduces, "-" where none does, "k of n" in between.
func (r ProfileRow) Cells() []string {
	out := make([]string, len(r.Breaks))
	for i, k := range r.Breaks {
		switch k {
		case r.Judged:
			out[i] = "breaks"
		case 0:
			out[i] = "-"
		default:
			out[i] = fmt.Sprintf("%d of %d", k, r.Judged)
		}
	}
	return out
}

// ProfileRows returns a row for each scenario with violations judged on
// the profiles, in the order of the scenarios' first results. Violations
// of a result written before profiles, which say nothing, are left out.
func ProfileRows(results []*sim.Result) []ProfileRow {
	var rows []ProfileRow
	at := map[string]int{}
	for _, r := range results {
		if r == nil {
			continue
		}
		for _, v := range r.Violations {
			if len(v.BreaksOn) == 0 && len(v.NotOn) == 0 {
				continue
			}
			i, ok := at[r.Scenario]
			if !ok {
				i = len(rows)
				at[r.Scenario] = i
				rows = append(rows, ProfileRow{Scenario: r.Scenario, Breaks: make([]int, len(faultfs.Profiles))})
			}
			rows[i].Judged++
			for k, p := range faultfs.Profiles {
				if slices.Contains(v.BreaksOn, p.Name) {
					rows[i].Breaks[k]++
				}
			}
		}
	}
	return rows
}

// ProfileHeader is the header of Profiles' table: the scenario, then the
// profiles.
func ProfileHeader() []string {
	h := []string{"scenario"}
	for _, p := range faultfs.Profiles {
		h = append(h, p.Name)
	}
	return h
}

// Profiles writes, for each scenario with violations, on which
// file-system profiles they reproduce: one row per scenario (ProfileRows),
// one column per profile, weakest first. It writes nothing when no
// violation was judged.
func Profiles(w io.Writer, results []*sim.Result) error {
	rows := ProfileRows(results)
	if len(rows) == 0 {
		return nil
	}
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
	t.Header(ProfileHeader())
	for _, r := range rows {
		if err := t.Append(append([]string{r.Scenario}, r.Cells()...)); err != nil {
			return fmt.Errorf("reports: profiles: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("reports: profiles: %w", err)
	}
	_, err := fmt.Fprintln(w, "breaks: every violation of the scenario reproduces on that file system's profile; -: none does (faultfs rule 18).")
	return err
}
