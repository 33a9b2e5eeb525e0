package collector

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fwGroupKey identifies a rule series: the chain, the verdict, and the
// rule's comment or, without one, the hash of its specification. Rules
// that share a key (one comment on several rules, or identical rules) are
// summed: their series follows the rule, not its position, so inserting or
// deleting another rule never moves counts between series. The key is
// fixed-size (a comment is represented by its hash) so that looking up
// tens of thousands of rules per collection stays cheap.
type fwGroupKey struct {
	ctx     *fwChainCtx
	id      uint64 // the spec hash, or the comment's hash
	verdict uint8  // index into fwVerdicts
	kind    uint8
}

const (
	kindSpec uint8 = iota
	kindComment
	kindPolicy
)

var fwVerdicts = []string{"drop", "reject"}

func verdictIndex(v string) uint8 {
	if v == "reject" {
		return 1
	}
	return 0
}

func hashIdent(h uint64) string { return hexDigits(h, 8) }

// hexDigits writes the top n hex digits of h.
func hexDigits(h uint64, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[(h>>(60-4*i))&0xf]
	}
	return string(b)
}

type fwGroup struct {
	key            fwGroupKey
	comment        string
	n              int // rules
	counted        bool
	packets, bytes uint64
	uncounted      int // rules (or the policy) nothing counts
	// mayShow is set on the groups that can get a series of their own
	// under the cap; only they need their text.
	mayShow bool
	text    string // the first rule's
}

// fwOverflow sums the rules of one chain and verdict that cannot get a
// series of their own.
type fwOverflow struct {
	rules, uncounted int
	counted          bool
	packets, bytes   uint64
}

type fwOverflowKey struct {
	ctx     *fwChainCtx
	verdict uint8
}

// fwAgg sums the rules of one collection into groups as they are read. Its
// tables are kept between collections to spare their allocation.
type fwAgg struct {
	idx      map[fwGroupKey]int
	groups   []fwGroup
	overflow map[fwOverflowKey]*fwOverflow
	ovOrder  []fwOverflowKey
	shown    map[fwGroupKey]bool // the groups shown by the previous collection
	max      int
	newSeen  int
	selected []bool
}

func (a *fwAgg) reset(shown map[fwGroupKey]bool, max int) {
	if a.idx == nil {
		a.idx, a.overflow = map[fwGroupKey]int{}, map[fwOverflowKey]*fwOverflow{}
	}
	clear(a.idx)
	clear(a.overflow)
	a.groups, a.ovOrder, a.shown, a.max, a.newSeen = a.groups[:0], a.ovOrder[:0], shown, max, 0
}

// add counts one rule (or policy) into its group and returns the group, or
// nil when the rule went straight into its chain's overflow. comment is
// compared with the group's on a hit: a group found by a comment hash must
// carry that very comment, else (a collision) the rule is keyed by its
// spec hash instead.
func (a *fwAgg) add(k fwGroupKey, comment []byte, spec uint64, counted bool, packets, bytes uint64) *fwGroup {
	i, ok := a.idx[k]
	if ok && k.kind == kindComment && a.groups[i].comment != string(comment) {
		k.kind, k.id = kindSpec, spec
		i, ok = a.idx[k]
	}
	if !ok {
		g := fwGroup{key: k}
		if k.kind != kindPolicy {
			// Groups shown last time keep their series; new ones get
			// the places left, in ruleset order, so at most max new
			// groups can be shown. The rest need no group: they only
			// add to their chain's overflow.
			if a.shown[k] {
				g.mayShow = true
			} else if a.newSeen < a.max {
				a.newSeen++
				g.mayShow = true
			} else {
				a.addOverflow(fwOverflowKey{k.ctx, k.verdict}, 1, counted, packets, bytes)
				return nil
			}
		}
		if k.kind == kindComment {
			g.comment = string(comment)
		}
		i = len(a.groups)
		a.idx[k] = i
		a.groups = append(a.groups, g)
	}
	g := &a.groups[i]
	g.n++
	if counted {
		g.counted = true
		g.packets += packets
		g.bytes += bytes
	} else {
		g.uncounted++
	}
	return g
}

func (a *fwAgg) addOverflow(k fwOverflowKey, rules int, counted bool, packets, bytes uint64) {
	o := a.overflow[k]
	if o == nil {
		o = &fwOverflow{}
		a.overflow[k] = o
		a.ovOrder = append(a.ovOrder, k)
	}
	o.rules += rules
	if counted {
		o.counted = true
		o.packets += packets
		o.bytes += bytes
	} else {
		o.uncounted += rules
	}
}

type fwAggMark struct{ groups, ov, newSeen int }

// mark and rollback drop what was added since mark, for a read that must
// start again. Only the nf_tables read starts again, and it runs first,
// so a rollback never meets the legacy read's overflow.
func (a *fwAgg) mark() fwAggMark { return fwAggMark{len(a.groups), len(a.ovOrder), a.newSeen} }

func (a *fwAgg) rollback(m fwAggMark) {
	for _, g := range a.groups[m.groups:] {
		delete(a.idx, g.key)
	}
	for _, k := range a.ovOrder[m.ov:] {
		delete(a.overflow, k)
	}
	a.groups, a.ovOrder, a.newSeen = a.groups[:m.groups], a.ovOrder[:m.ov], m.newSeen
}

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
	// shown are the groups that got series of their own; the next
	// collection keeps them, so a new rule cannot push an old one into
	// the overflow series.
	shown map[fwGroupKey]bool
	err   error
	when  time.Time
	took  time.Duration
}

type fwCounter struct {
	key            fwKey
	packets, bytes uint64
	labels         []*dto.LabelPair
}

type fwInfoSeries struct {
	key    fwKey
	text   string
	labels []*dto.LabelPair
}

type fwUncountedSeries struct {
	key fwChainKey
	n   int
}

// view selects the groups with series of their own (DROP policies, the
// groups shown last time, then new ones in ruleset order, at most max
// rule groups) and sums the others per chain into overflow series.
func (a *fwAgg) view(counts map[fwCountKey]int, errs []error) *fwView {
	if cap(a.selected) < len(a.groups) {
		a.selected = make([]bool, len(a.groups))
	}
	selected := a.selected[:len(a.groups)]
	clear(selected)
	budget := a.max
	for i := range a.groups {
		g := &a.groups[i]
		if g.key.kind == kindPolicy || a.shown[g.key] && budget > 0 {
			selected[i] = true
			if g.key.kind != kindPolicy {
				budget--
			}
		}
	}
	for i := range a.groups {
		if g := &a.groups[i]; !selected[i] && g.mayShow && budget > 0 {
			selected[i] = true
			budget--
		}
	}
	// Groups not selected (the cap shrank) join the overflow.
	for i := range a.groups {
		if g := &a.groups[i]; !selected[i] {
			k := fwOverflowKey{g.key.ctx, g.key.verdict}
			if g.counted {
				a.addOverflow(k, g.n-g.uncounted, true, g.packets, g.bytes)
			}
			if g.uncounted > 0 {
				a.addOverflow(k, g.uncounted, false, 0, 0)
			}
		}
	}

	v := &fwView{rules: counts, shown: make(map[fwGroupKey]bool, a.max-budget), err: errors.Join(errs...)}
	uncounted := map[fwChainKey]int{}
	var uncountedOrder []fwChainKey
	countUncounted := func(ck fwChainKey, n int) {
		if n == 0 {
			return
		}
		if uncounted[ck] == 0 {
			uncountedOrder = append(uncountedOrder, ck)
		}
		uncounted[ck] += n
	}
	labels := a.ruleLabels(selected)
	for i := range a.groups {
		if !selected[i] {
			continue
		}
		g := &a.groups[i]
		c := g.key.ctx
		verdict := fwVerdicts[g.key.verdict]
		countUncounted(fwChainKey{c.family, c.table, c.chain, verdict, c.backend}, g.uncounted)
		k := fwKey{c.family, c.table, c.chain, verdict, c.backend, labels[i]}
		if g.counted {
			v.counters = append(v.counters, fwCounter{key: k, packets: g.packets, bytes: g.bytes})
		}
		if g.key.kind != kindPolicy {
			v.shown[g.key] = true
			text := g.text
			if g.n > 1 {
				text = fmt.Sprintf("%s (and %d more rules with this identity)", text, g.n-1)
			}
			v.infos = append(v.infos, fwInfoSeries{key: k, text: text})
		}
	}
	for _, ok := range a.ovOrder {
		o := a.overflow[ok]
		c, verdict := ok.ctx, fwVerdicts[ok.verdict]
		countUncounted(fwChainKey{c.family, c.table, c.chain, verdict, c.backend}, o.uncounted)
		v.overflowed += o.rules
		if o.counted {
			v.counters = append(v.counters, fwCounter{key: fwKey{c.family, c.table, c.chain, verdict, c.backend, ruleOverflow},
				packets: o.packets, bytes: o.bytes})
		}
	}
	for _, ck := range uncountedOrder {
		v.uncounted = append(v.uncounted, fwUncountedSeries{ck, uncounted[ck]})
	}
	return v
}

// ruleLabels names the selected groups: the comment (made valid UTF-8, as
// label values must be), the policy marker, or eight hex digits of the
// spec hash. Where two series of one chain would get the same labels, a
// hash names them apart: sixteen digits for a spec hash, and the comment's
// own hash after a comment that reads like another comment.
func (a *fwAgg) ruleLabels(selected []bool) []string {
	labels := make([]string, len(a.groups))
	type slot struct {
		ctx     *fwChainCtx
		verdict uint8
		label   string
	}
	used, comments := map[slot]int{}, map[slot]int{}
	for i := range a.groups {
		if !selected[i] {
			continue
		}
		g := &a.groups[i]
		switch g.key.kind {
		case kindPolicy:
			labels[i] = rulePolicy
		case kindComment:
			labels[i] = strings.ToValidUTF8(g.comment, "\uFFFD")
		default:
			labels[i] = hashIdent(g.key.id)
		}
		used[slot{g.key.ctx, g.key.verdict, labels[i]}]++
		if g.key.kind == kindComment {
			comments[slot{g.key.ctx, g.key.verdict, labels[i]}]++
		}
	}
	for i := range a.groups {
		g := &a.groups[i]
		if !selected[i] {
			continue
		}
		sl := slot{g.key.ctx, g.key.verdict, labels[i]}
		switch {
		case g.key.kind == kindSpec && used[sl] > 1:
			labels[i] = hexDigits(g.key.id, 16)
		case g.key.kind == kindComment && comments[sl] > 1:
			labels[i] += " #" + hexDigits(g.key.id, 16)
		}
	}
	return labels
}

// emit sends the view's series. Rule series carry label pairs made by
// fwLabelCache.attach when the view was built; a view without them (tests)
// makes them here.
func (v *fwView) emit(ns string, ch chan<- prometheus.Metric) {
	if len(v.counters) > 0 && v.counters[0].labels == nil || len(v.infos) > 0 && v.infos[0].labels == nil {
		var l fwLabelCache
		l.attach(ns, v)
	}
	for _, c := range v.counters {
		ch <- &fwMetric{desc: fwPackets.Desc(), labels: c.labels, value: float64(c.packets), counter: true}
		ch <- &fwMetric{desc: fwBytes.Desc(), labels: c.labels, value: float64(c.bytes), counter: true}
	}
	for _, in := range v.infos {
		ch <- &fwMetric{desc: fwInfo.Desc(), labels: in.labels, value: 1}
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
