package collector

import (
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/netns"
)

// aggRule is one rule fed to the aggregation.
type aggRule struct {
	chain, ident string // ident: a comment, or "(policy)"
	counted      bool
	packets      uint64
}

func TestAggregateFirewall(t *testing.T) {
	key := func(chain, r string) string {
		return `{backend="iptables-legacy",chain="` + chain + `",family="ipv4",netns="ns",rule="` + r + `",table="filter",verdict="drop"}`
	}
	info := func(chain, r, text string) string {
		return `netcause_firewall_rule_info{backend="iptables-legacy",chain="` + chain + `",family="ipv4",netns="ns",rule="` + r +
			`",table="filter",text="` + text + `",verdict="drop"}`
	}
	uncounted := func(chain string) string {
		return `netcause_firewall_uncounted_rules{backend="iptables-legacy",chain="` + chain + `",family="ipv4",netns="ns",table="filter",verdict="drop"}`
	}
	const p = "netcause_firewall_discarded_packets_total"
	const b = "netcause_firewall_discarded_bytes_total"
	ctxs := map[string]*fwChainCtx{}
	ctx := func(chain string) *fwChainCtx {
		if ctxs[chain] == nil {
			ctxs[chain] = &fwChainCtx{family: "ipv4", table: "filter", chain: chain, backend: backendLegacy}
		}
		return ctxs[chain]
	}
	gk := func(chain, ident string) fwGroupKey {
		if ident == rulePolicy {
			return fwGroupKey{ctx: ctx(chain), kind: kindPolicy}
		}
		return fwGroupKey{ctx: ctx(chain), kind: kindComment, id: xxhash.Sum64String(ident)}
	}
	cases := []struct {
		name  string
		rules []aggRule
		max   int
		prev  []fwGroupKey
		want  map[string]float64
	}{
		{
			name:  "shared identity summed, uncounted rule, policy",
			rules: []aggRule{{"INPUT", "a", true, 10}, {"INPUT", "a", true, 5}, {"INPUT", "b", false, 0}, {"FORWARD", rulePolicy, true, 7}},
			max:   10,
			want: map[string]float64{
				p + key("INPUT", "a"): 15, b + key("INPUT", "a"): 1500,
				p + key("FORWARD", rulePolicy): 7, b + key("FORWARD", rulePolicy): 700,
				info("INPUT", "a", "-A INPUT a (and 1 more rules with this identity)"): 1,
				info("INPUT", "b", "-A INPUT b"):                                       1,
				uncounted("INPUT"):                                                     1,
				`netcause_firewall_rules_overflowed{netns="ns"}`:                       0,
			},
		},
		{
			name: "cap: the first identities in order, the rest summed per chain",
			rules: []aggRule{{"X", "a", true, 1}, {"X", "b", true, 2}, {"X", "c", true, 4}, {"X", "d", true, 8},
				{"X", "d", true, 16}, {"X", "e", false, 0}, {"FORWARD", rulePolicy, true, 3}},
			max: 2,
			want: map[string]float64{
				p + key("X", "a"): 1, b + key("X", "a"): 100, p + key("X", "b"): 2, b + key("X", "b"): 200,
				p + key("X", ruleOverflow): 28, b + key("X", ruleOverflow): 2800,
				p + key("FORWARD", rulePolicy): 3, b + key("FORWARD", rulePolicy): 300,
				info("X", "a", "-A X a"): 1, info("X", "b", "-A X b"): 1,
				uncounted("X"): 1,
				`netcause_firewall_rules_overflowed{netns="ns"}`: 4,
			},
		},
		{
			name:  "cap: identities shown last time keep their series",
			rules: []aggRule{{"X", "new", true, 1}, {"X", "a", true, 2}, {"X", "b", true, 4}},
			max:   2,
			prev:  []fwGroupKey{gk("X", "b")},
			want: map[string]float64{
				p + key("X", "b"): 4, b + key("X", "b"): 400, p + key("X", "new"): 1, b + key("X", "new"): 100,
				p + key("X", ruleOverflow): 2, b + key("X", ruleOverflow): 200,
				info("X", "b", "-A X b"): 1, info("X", "new", "-A X new"): 1,
				`netcause_firewall_rules_overflowed{netns="ns"}`: 1,
			},
		},
		{
			name:  "a smaller cap than last time's shown groups",
			rules: []aggRule{{"X", "a", true, 1}, {"X", "b", true, 2}, {"X", "c", true, 4}},
			max:   1,
			prev:  []fwGroupKey{gk("X", "b"), gk("X", "c")},
			want: map[string]float64{
				p + key("X", "b"): 2, b + key("X", "b"): 200,
				p + key("X", ruleOverflow): 5, b + key("X", ruleOverflow): 500,
				info("X", "b", "-A X b"):                         1,
				`netcause_firewall_rules_overflowed{netns="ns"}`: 2,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var a fwAgg
			prev := map[fwGroupKey]bool{}
			for _, k := range c.prev {
				prev[k] = true
			}
			a.reset(prev, c.max)
			rendered := 0
			for _, r := range c.rules {
				g := a.add(gk(r.chain, r.ident), []byte(r.ident), 0, r.counted, r.packets, r.packets*100)
				if g != nil && g.n == 1 && g.mayShow {
					g.text = "-A " + r.chain + " " + r.ident
					rendered++
				}
			}
			if rendered > c.max+len(c.prev) {
				t.Errorf("%d texts rendered for a cap of %d", rendered, c.max)
			}
			v := a.view(nil, nil)
			got := gatherValues(t, func(ch chan<- prometheus.Metric) { v.emit("ns", ch) })
			for k := range got {
				if strings.Contains(k, "timestamp") || strings.Contains(k, "duration") {
					delete(got, k)
				}
			}
			for k, w := range c.want {
				if g, ok := got[k]; !ok || g != w {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, w)
				}
			}
			for k := range got {
				if _, ok := c.want[k]; !ok {
					t.Errorf("unexpected series %s = %v", k, got[k])
				}
			}
			for k := range v.shown {
				if k.kind == kindPolicy {
					t.Errorf("%v remembered as shown", k)
				}
			}
		})
	}
}

// A read that starts again drops what it added.
func TestAggRollback(t *testing.T) {
	var a fwAgg
	a.reset(nil, 1)
	c := &fwChainCtx{family: "ipv4", table: "filter", chain: "INPUT", backend: backendNFT}
	key := func(id uint64) fwGroupKey { return fwGroupKey{ctx: c, id: id} }
	a.add(key(1), nil, 1, true, 1, 1)
	m := a.mark()
	a.add(key(2), nil, 2, true, 1, 1) // past the cap: overflow
	a.rollback(m)
	if len(a.groups) != 1 || len(a.overflow) != 0 || len(a.ovOrder) != 0 {
		t.Errorf("after rollback: groups %+v, overflow %v", a.groups, a.overflow)
	}
	a.reset(nil, 2)
	a.add(key(1), nil, 1, true, 1, 1)
	m = a.mark()
	a.add(key(2), nil, 2, true, 1, 1)
	a.rollback(m)
	a.add(key(3), nil, 3, true, 1, 1)
	if len(a.groups) != 2 || a.groups[1].key.id != 3 || len(a.idx) != 2 {
		t.Errorf("after rollback: %+v", a.groups)
	}
}

// Two rules of one chain whose hashes share their first eight hex digits,
// and a comment that looks like a hash, still get distinct series.
func TestRuleLabelsDistinct(t *testing.T) {
	var a fwAgg
	a.reset(nil, 10)
	c := &fwChainCtx{family: "ipv4", table: "filter", chain: "INPUT", backend: backendNFT}
	a.add(fwGroupKey{ctx: c, id: 0xabcdef0100000001}, nil, 0xabcdef0100000001, true, 1, 1)
	a.add(fwGroupKey{ctx: c, id: 0xabcdef0100000002}, nil, 0xabcdef0100000002, true, 2, 2)
	a.add(fwGroupKey{ctx: c, id: 0x1234567800000000}, nil, 0x1234567800000000, true, 3, 3)
	a.add(fwGroupKey{ctx: c, id: xxhash.Sum64String("12345678"), kind: kindComment}, []byte("12345678"), 7, true, 4, 4)
	v := a.view(nil, nil)
	got := map[string]uint64{}
	_ = got
	// Two comments that are not UTF-8 and read alike once made valid.
	a.add(fwGroupKey{ctx: c, id: xxhash.Sum64String("x\xff"), kind: kindComment}, []byte("x\xff"), 8, true, 5, 5)
	a.add(fwGroupKey{ctx: c, id: xxhash.Sum64String("x\xfe"), kind: kindComment}, []byte("x\xfe"), 9, true, 6, 6)
	v = a.view(nil, nil)
	got = map[string]uint64{}
	for _, s := range v.counters {
		got[s.key.rule] = s.packets
		if !utf8.ValidString(s.key.rule) {
			t.Errorf("label %q is not UTF-8", s.key.rule)
		}
	}
	want := map[string]uint64{"abcdef0100000001": 1, "abcdef0100000002": 2, "1234567800000000": 3, "12345678": 4,
		"x\uFFFD #" + hexDigits(xxhash.Sum64String("x\xff"), 16): 5, "x\uFFFD #" + hexDigits(xxhash.Sum64String("x\xfe"), 16): 6}
	if len(got) != len(want) {
		t.Fatalf("labels %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("label %s: %d packets, want %d (all: %v)", k, got[k], w, got)
		}
	}
}

func TestHashIdent(t *testing.T) {
	if got := hashIdent(0x0123456789abcdef); got != "01234567" {
		t.Errorf("hashIdent = %q", got)
	}
}

// A collection slower than the scrape: the scrape does not wait past
// c.wait, serves the last complete result with its own timestamp, and never
// starts a second collection while one runs. The collections read the test
// process's own namespace for real; only their start is held back.
func TestFirewallServesLastResultWhenSlow(t *testing.T) {
	c, err := newFirewallCollector(slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*firewallCollector)
	fc.wait = 100 * time.Millisecond
	gate := make(chan struct{})
	var running, maxRunning, calls atomic.Int32
	fc.collectFn = func(st *fwState, src *fwSources) *fwView {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		calls.Add(1)
		<-gate
		return fc.collect(st, src)
	}
	self := netns.Target{Name: "self", Kind: "self"}
	update := func() (map[string]float64, time.Duration, error) {
		var err error
		start := time.Now()
		got := gatherValues(t, func(ch chan<- prometheus.Metric) { err = fc.Update(self, ch) })
		return got, time.Since(start), err
	}
	const stamp = `netcause_firewall_last_success_timestamp_seconds{netns="self"}`

	for i := 0; i < 3; i++ {
		_, took, err := update()
		if err != errFirewallFirstRun {
			t.Fatalf("scrape %d during the first collection: %v, want errFirewallFirstRun", i, err)
		}
		if took > 2*time.Second {
			t.Errorf("scrape waited %v for a collection held back, limit %v", took, fc.wait)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d collections started, want 1 while the first runs", calls.Load())
	}

	gate <- struct{}{} // the first collection finishes
	waitFor(t, func() bool { return running.Load() == 0 || calls.Load() > 1 })
	time.Sleep(50 * time.Millisecond)
	got, _, err := update() // starts the second, held back; serves the first
	if err != nil && !strings.Contains(err.Error(), "neither") {
		t.Logf("first collection's error: %v", err)
	}
	first, ok := got[stamp]
	if !ok {
		t.Fatalf("no timestamp served: %v", got)
	}
	if age := float64(time.Now().UnixNano())/1e9 - first; age < 0.1 {
		t.Errorf("served result is %.3fs old; the second collection is held back, so it must be the first one's", age)
	}
	again, _, _ := update()
	if again[stamp] != first {
		t.Errorf("timestamp moved from %v to %v while no collection finished", first, again[stamp])
	}
	if calls.Load() != 2 {
		t.Errorf("%d collections started, want 2", calls.Load())
	}

	close(gate) // every collection runs freely from here
	waitFor(t, func() bool { return running.Load() == 0 })
	got, _, _ = update()
	if got[stamp] <= first {
		t.Errorf("timestamp %v not newer than %v after collections completed", got[stamp], first)
	}
	if maxRunning.Load() != 1 {
		t.Errorf("%d collections ran at once", maxRunning.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
