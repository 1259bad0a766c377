package sim

import (
	"github.com/crashsim/crashsim/faultfs"
)

// breaksOn judges a violation on every profile of faultfs.Profiles (see
// Explore): c is its failing state among j's pending units — shrunk, or
// for a failure inside a crashed recovery (inRecovery) the outer state,
// whose recovery is crashed again under each profile. It returns the
// profiles on which it reproduces and those on which it does not, in the
// order of faultfs.Profiles. The recoveries it runs are not counted in
// Result.Recoveries, as shrinking's are not.
func (x *explorer) breaksOn(j job, c faultfs.Choice, inRecovery bool) (breaks, not []string) {
	breaks, not = []string{}, []string{}
	for _, prof := range faultfs.Profiles {
		// A process crash keeps the page cache whole, the same on every
		// file system; a death fails every state; and a state of the run's
		// own profile fails on it.
		if j.pend == nil || j.died != "" || prof.Name == x.prof.Name || x.reproduces(j, c, inRecovery, prof) {
			breaks = append(breaks, prof.Name)
		} else {
			not = append(not, prof.Name)
		}
	}
	return breaks, not
}

// reproduces reports whether some state prof allows at j's crash point
// fails: c itself if prof allows it, else the first that fails of c as
// prof would leave it and of the states the run's strategy picks among
// prof's.
func (x *explorer) reproduces(j job, c faultfs.Choice, inRecovery bool, prof faultfs.Profile) bool {
	q := j.pend.Under(prof)
	var first faultfs.Choice
	if sameUnits(q, j.pend) {
		first = q.Nearest(c)
		if !inRecovery && first.Key() == c.Key() {
			return true // c is a state of prof, and it fails
		}
	} else {
		first = q.Translate(c, j.pend)
	}
	seen := map[faultfs.Fingerprint]bool{}
	try := func(c faultfs.Choice) bool {
		img := q.Clone(c, x.opts.Tail)
		fp := img.Fingerprint()
		if seen[fp] {
			img.Release()
			return false
		}
		seen[fp] = true
		return x.failsUnder(j, q, c, img, prof)
	}
	if try(first) {
		return true
	}
	for c := range q.Choices(x.opts.Strategy.faultfs(), x.opts.MaxStates, j.choicesSeed()) {
		if try(c) {
			return true
		}
	}
	return false
}

// failsUnder recovers img, the state c of q at j's crash point, and judges it
// against j's history; with RecoveryCrashes it also crashes that recovery
// under prof. Nothing is recorded or counted.
func (x *explorer) failsUnder(j job, q *faultfs.Pending, c faultfs.Choice, img *faultfs.FS, prof faultfs.Profile) bool {
	var base *faultfs.FS
	if x.opts.RecoveryCrashes {
		base = img.CrashClone(faultfs.CrashOptions{Mode: faultfs.KeepAll})
	}
	img.Untrack()
	out := x.recoverMachine(untracedMachineOn(img), j.seedOf(c))
	if bad := j.judge(out); bad != nil {
		return true
	}
	img.Release()
	if base == nil {
		return false
	}
	j.pend, j.choice = q, c
	return x.crashRecovery(j, base, prof, false) != nil
}

// sameUnits reports whether two descriptions of one snapshot have the same
// data units, so that a choice of one is a choice of the other.
func sameUnits(a, b *faultfs.Pending) bool {
	if len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if a.Data[i].Off != b.Data[i].Off || a.Data[i].Len != b.Data[i].Len || a.Data[i].Inode != b.Data[i].Inode {
			return false
		}
	}
	return true
}
