package collector

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fwKey is the label set of one rule series.
type fwKey struct{ family, table, chain, verdict, backend, rule string }

type fwChainKey struct{ family, table, chain, verdict, backend string }

// fwView is a complete collection, ready to emit as often as scrapes ask.
type fwView struct {
	counters   []fwCounter
	infos      []fwInfoSeries
	uncounted  []fwUncountedSeries
	rules      map[fwCountKey]int
	overflowed int
	// shown are the rules that got series of their own; the next
	// collection keeps them, so a new rule cannot push an old one into
	// the overflow series.
	shown map[fwKey]bool
	err   error
	when  time.Time
	took  time.Duration
}

type fwCounter struct {
	key            fwKey
	packets, bytes uint64
}

type fwInfoSeries struct {
	key  fwKey
	text string
}

type fwUncountedSeries struct {
	key fwChainKey
	n   int
}

// aggregateFirewall turns the rules read into series. Rules that share a
// label set (the same comment in one chain, or identical rules) are summed;
// their series follows the rule, not its position, so inserting or
// deleting another rule never moves counts between series. Beyond maxRules
// identities the rest of a chain's rules are summed into one overflow
// series; identities shown last time keep their series first.
func aggregateFirewall(rd *fwRead, maxRules int, prevShown map[fwKey]bool) *fwView {
	type group struct {
		key            fwKey
		policy         bool
		counted        bool
		packets, bytes uint64
		text           string
		n              int
	}
	idx := map[fwKey]int{}
	var groups []*group
	uncounted := map[fwChainKey]int{}
	var uncountedOrder []fwChainKey
	for i := range rd.rules {
		r := &rd.rules[i]
		k := fwKey{r.family, r.table, r.chain, r.verdict, r.backend, r.ident}
		gi, ok := idx[k]
		if !ok {
			gi = len(groups)
			idx[k] = gi
			groups = append(groups, &group{key: k, policy: r.ident == rulePolicy, text: r.text})
		}
		g := groups[gi]
		g.n++
		if r.counted {
			g.counted = true
			g.packets += r.packets
			g.bytes += r.bytes
		} else {
			ck := fwChainKey{r.family, r.table, r.chain, r.verdict, r.backend}
			if uncounted[ck] == 0 {
				uncountedOrder = append(uncountedOrder, ck)
			}
			uncounted[ck]++
		}
	}

	selected := make([]bool, len(groups))
	budget := maxRules
	for i, g := range groups {
		if g.policy {
			selected[i] = true
		} else if prevShown[g.key] && budget > 0 {
			selected[i] = true
			budget--
		}
	}
	for i, g := range groups {
		if !selected[i] && !g.policy && budget > 0 {
			selected[i] = true
			budget--
		}
	}

	v := &fwView{rules: rd.counts, shown: map[fwKey]bool{}, err: errors.Join(rd.errs...)}
	overflow := map[fwKey]int{} // index into v.counters
	for i, g := range groups {
		if selected[i] {
			if g.counted {
				v.counters = append(v.counters, fwCounter{g.key, g.packets, g.bytes})
			}
			if !g.policy {
				v.shown[g.key] = true
				text := g.text
				if g.n > 1 {
					text = fmt.Sprintf("%s (and %d more rules with this identity)", text, g.n-1)
				}
				v.infos = append(v.infos, fwInfoSeries{g.key, text})
			}
			continue
		}
		v.overflowed += g.n
		if !g.counted {
			continue
		}
		ok := g.key
		ok.rule = ruleOverflow
		ci, seen := overflow[ok]
		if !seen {
			ci = len(v.counters)
			overflow[ok] = ci
			v.counters = append(v.counters, fwCounter{key: ok})
		}
		v.counters[ci].packets += g.packets
		v.counters[ci].bytes += g.bytes
	}
	for _, ck := range uncountedOrder {
		v.uncounted = append(v.uncounted, fwUncountedSeries{ck, uncounted[ck]})
	}
	return v
}

func (v *fwView) emit(ns string, ch chan<- prometheus.Metric) {
	for _, c := range v.counters {
		k := c.key
		fwPackets.Emit(ch, float64(c.packets), ns, k.family, k.table, k.chain, k.verdict, k.backend, k.rule)
		fwBytes.Emit(ch, float64(c.bytes), ns, k.family, k.table, k.chain, k.verdict, k.backend, k.rule)
	}
	for _, in := range v.infos {
		k := in.key
		fwInfo.Emit(ch, 1, ns, k.family, k.table, k.chain, k.verdict, k.backend, k.rule, in.text)
	}
	for _, u := range v.uncounted {
		k := u.key
		fwUncounted.Emit(ch, float64(u.n), ns, k.family, k.table, k.chain, k.verdict, k.backend)
	}
	for k, n := range v.rules {
		fwRules.Emit(ch, float64(n), ns, k.family, k.backend)
	}
	fwOverflowed.Emit(ch, float64(v.overflowed), ns)
	fwLastSuccess.Emit(ch, float64(v.when.UnixNano())/1e9, ns)
	fwDuration.Emit(ch, v.took.Seconds(), ns)
}
