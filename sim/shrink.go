package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crashsim/crashsim/faultfs"
)

// shrinkTries bounds the recoveries spent explaining one violation.
const shrinkTries = 256

// digits is a Choice as one vector: the namespace prefix, then a version per
// size unit, then a version per data unit (the order of faultfs.Pending),
// then, where p has two tails, 1 for garbage.
type digits []int

func flatten(p *faultfs.Pending, c faultfs.Choice) digits {
	d := digits{c.Prefix}
	d = append(d, c.Sizes...)
	d = append(d, c.Data...)
	if p.Tails > 1 {
		t := 0
		if c.Garbage {
			t = 1
		}
		d = append(d, t)
	}
	return d
}

func (d digits) choice(p *faultfs.Pending) faultfs.Choice {
	end := 1 + len(p.Sizes) + len(p.Data)
	return faultfs.Choice{
		Prefix:  d[0],
		Sizes:   slices.Clone(d[1 : 1+len(p.Sizes)]),
		Data:    slices.Clone(d[1+len(p.Sizes) : end]),
		Garbage: len(d) > end && d[end] == 1,
	}
}

// radices returns the number of versions of every digit of p's choices.
func radices(p *faultfs.Pending) digits {
	r := digits{len(p.Meta) + 1}
	for _, u := range p.Sizes {
		r = append(r, u.Versions())
	}
	for _, u := range p.Data {
		r = append(r, u.Versions())
	}
	if p.Tails > 1 {
		r = append(r, p.Tails)
	}
	return r
}

// tailDigit returns the index of the tail among p's digits, or -1.
func tailDigit(p *faultfs.Pending) int {
	if p.Tails > 1 {
		return 1 + len(p.Sizes) + len(p.Data)
	}
	return -1
}

// explanation is a failing state shrunk to its cause.
type explanation struct {
	choice faultfs.Choice
	out    outcome
	bad    judgement
	// lost are the digits the state must lose to fail: keeping any one of
	// them whole makes it pass (as far as the greedy search saw). kept are
	// the digits it must keep: losing one makes it pass.
	lost, kept []int
}

// shrink explains a failing state c of pending p (docs/DESIGN.md section 6, "the
// smallest set of kept/lost units that still fails"). It first keeps as much
// of every unit as it can while the state still fails, greedily, so that
// what remains lost is needed for the failure; then it marks as
// kept-and-needed each unit whose loss makes the state pass. fails judges a
// state. Every state it tries is one of p's profile: moved to its Nearest
// (faultfs rule 18), so that the explanation is a state the run's file
// system can leave. A garbage tail is kept only if zeros pass.
func shrink(p *faultfs.Pending, c faultfs.Choice, fails func(faultfs.Choice) (outcome, *judgement)) explanation {
	radix := radices(p)
	tail := tailDigit(p)
	cur := flatten(p, c)
	tries := 0
	try := func(d digits) (digits, *judgement) {
		tries++
		c := p.Nearest(d.choice(p))
		_, bad := fails(c)
		return flatten(p, c), bad
	}
	if tail >= 0 && cur[tail] == 1 {
		d := slices.Clone(cur)
		d[tail] = 0
		if near, bad := try(d); bad != nil {
			cur = near
		}
	}
	// Keep as much of each unit as the failure allows: its latest version
	// that still fails, so that the first change it loses is the culprit
	// (for the namespace, the first lost rename or create).
	for i := range cur {
		for v := radix[i] - 1; v > cur[i] && tries < shrinkTries && i != tail; v-- {
			d := slices.Clone(cur)
			d[i] = v
			if near, bad := try(d); bad != nil {
				cur = near
				break
			}
		}
	}
	var e explanation
	for i := range cur {
		if cur[i] < radix[i]-1 && i != tail {
			e.lost = append(e.lost, i)
		}
	}
	for i := range cur {
		if tries >= shrinkTries {
			break
		}
		if cur[i] > 0 && i != tail {
			d := slices.Clone(cur)
			d[i] = 0
			if _, bad := try(d); bad == nil {
				e.kept = append(e.kept, i)
			}
		}
	}
	if tail >= 0 && cur[tail] == 1 {
		e.kept = append(e.kept, tail) // zeros passed
	}
	e.choice = cur.choice(p)
	out, bad := fails(e.choice)
	e.out = out
	if bad != nil {
		e.bad = *bad
	}
	return e
}

// unit describes digit i of pending p at version v: kept says whether it
// is reported as kept (the last change it keeps) or lost (the first change
// it loses).
func unit(p *faultfs.Pending, i, v int, kept bool) Unit {
	switch {
	case i == tailDigit(p):
		return Unit{Kind: "tail", Version: v, Versions: p.Tails,
			What: "stale bytes read as garbage, not zeros (faultfs rule 18b: the file system exposed blocks before their data)"}
	case i == 0:
		u := Unit{Kind: "meta", Version: v, Versions: len(p.Meta) + 1, Lost: !kept}
		m := p.Meta[min(v, len(p.Meta)-1)]
		if kept {
			m = p.Meta[v-1]
		}
		u.Path, u.Trace = m.Path, m.Seq-1
		u.What = describeMeta(m)
		if !kept && len(p.Meta)-v > 1 {
			u.What += fmt.Sprintf(" and %d later namespace changes", len(p.Meta)-v-1)
		}
		return u
	case i <= len(p.Sizes):
		s := p.Sizes[i-1]
		u := Unit{Kind: "size", Path: s.Path, Version: v, Versions: s.Versions(), Lost: !kept}
		if kept {
			u.Trace = s.Seqs[v] - 1
			u.What = fmt.Sprintf("size of %s = %d", s.Path, s.Sizes[v])
		} else {
			u.Trace = s.Seqs[v+1] - 1
			u.What = fmt.Sprintf("size of %s = %d, not %d", s.Path, s.Sizes[v], s.Sizes[len(s.Sizes)-1])
		}
		return u
	}
	d := p.Data[i-1-len(p.Sizes)]
	u := Unit{Kind: "data", Path: d.Path, Off: d.Off, Len: d.Len, Version: v, Versions: d.Versions(), Lost: !kept}
	if kept {
		u.Trace = d.Seqs[v] - 1
	} else {
		u.Trace = d.Seqs[v+1] - 1
	}
	return u
}

func describeMeta(m faultfs.MetaOp) string {
	s := fmt.Sprintf("%v %s", m.Kind, m.Path)
	if m.NewPath != "" {
		s += " -> " + m.NewPath
	}
	return strings.TrimSpace(s)
}

// units describes the digits idx of choice c.
func units(p *faultfs.Pending, c faultfs.Choice, idx []int, kept bool) []Unit {
	d := flatten(p, c)
	out := make([]Unit, 0, len(idx))
	for _, i := range idx {
		out = append(out, unit(p, i, d[i], kept))
	}
	return out
}

// deviations returns the digits of c that are not at their last version
// (lost) and those above version 0 (kept), unshrunk, for a replay.
func deviations(p *faultfs.Pending, c faultfs.Choice) (lost, kept []int) {
	radix := radices(p)
	for i, v := range flatten(p, c) {
		if i >= len(radix) {
			break
		}
		if v < radix[i]-1 && i != tailDigit(p) {
			lost = append(lost, i)
		}
		if v > 0 {
			kept = append(kept, i)
		}
	}
	return lost, kept
}
