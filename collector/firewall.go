package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The firewall collector exports the packet and byte counters of every
// netfilter rule that discards packets (DROP, REJECT, nft drop and reject)
// and of every built-in chain whose policy is DROP, in every target
// namespace, from all three places rules live: iptables-legacy tables
// (read with getsockopt, as iptables-legacy-save does), iptables-nft tables
// and native nftables tables (both read over nf_tables netlink, one dump per
// chain). It never runs the iptables binaries and never takes the xtables
// lock, so a scrape cannot queue behind kube-proxy's iptables-restore.
//
// A rule's series is named by its comment, or by eight hex digits of the
// xxHash64 of its specification (its bytes as the kernel holds them,
// counters left out): what the rule is, not where it is, so inserting or
// deleting other rules never moves counts between series. Rules of one
// chain with the same name are summed. The text is in
// netcause_firewall_rule_info only. At most --collector.firewall.max-rules
// names get series per namespace; the rest are summed per chain.
//
// A collection runs in its own goroutine, at most one per namespace. A
// scrape waits for it up to --collector.firewall.wait, then serves the last
// complete result; netcause_firewall_last_success_timestamp_seconds says
// how old the served result is.
//
// Not covered: drops decided by an nftables verdict map (the verdict lives
// in set elements the collector does not read) or counted by a named
// counter object; arptables and ebtables legacy tables.

func init() {
	Register("firewall", true, PerNamespace, newFirewallCollector)
}

const (
	defaultFirewallMaxRules = 1000
	defaultFirewallWait     = 2 * time.Second
	// A namespace not scraped for this long loses its cached result.
	firewallStateTTL = 10 * time.Minute

	// Values of the rule label that are not a rule's comment or hash.
	rulePolicy   = "(policy)"
	ruleOverflow = "(overflow)"
)

var (
	firewallMaxRules = kingpin.Flag("collector.firewall.max-rules",
		"Most discarding rules per namespace with series of their own; the others are summed per chain into rule=\"(overflow)\".").
		Default(fmt.Sprint(defaultFirewallMaxRules)).Int()
	firewallWait = kingpin.Flag("collector.firewall.wait",
		"How long a scrape waits for a namespace's firewall collection before serving the last complete one.").
		Default(defaultFirewallWait.String()).Duration()
)

var (
	fwLabels = []string{"family", "table", "chain", "verdict", "backend", "rule"}

	fwPackets = counter("firewall", "discarded_packets_total",
		"Packets discarded by a firewall rule (verdict drop or reject) or by a built-in chain's DROP policy (rule=\"(policy)\"). "+
			"family: ipv4, ipv6, inet, arp, bridge, netdev; backend: iptables-legacy, iptables-nft or nftables; "+
			"rule: the rule's comment, else a hash of its specification (text in netcause_firewall_rule_info). "+
			"At most --collector.firewall.max-rules rules per namespace (default 1000); the rest are summed per chain as rule=\"(overflow)\".",
		fwLabels...).Reveals(catalog.FirewallDrop)
	fwBytes = counter("firewall", "discarded_bytes_total",
		"Bytes of the packets counted in netcause_firewall_discarded_packets_total.", fwLabels...).Reveals(catalog.FirewallDrop)
	fwInfo = gauge("firewall", "rule_info",
		"1 for each discarding rule with a series of its own: text is the rule as iptables-save writes it (iptables backends) "+
			"or as `nft --debug=netlink` does (nftables).",
		append(append([]string{}, fwLabels...), "text")...).Reveals(catalog.FirewallDrop)
	fwUncounted = gauge("firewall", "uncounted_rules",
		"Discarding rules and DROP policies whose packets nothing counts: an nftables rule without a counter statement "+
			"(or with its counter before a match), a base chain without counters. A blind spot, not zero drops.",
		"family", "table", "chain", "verdict", "backend")
	fwRules = gauge("firewall", "rules",
		"Rules read in the last complete collection, whatever their verdict, by family and backend: shows which backends hold rules.",
		"family", "backend")
	fwOverflowed = gauge("firewall", "rules_overflowed",
		"Discarding rules counted in rule=\"(overflow)\" series because the namespace has more than --collector.firewall.max-rules.")
	fwLastSuccess = gauge("firewall", "last_success_timestamp_seconds",
		"When the served firewall collection finished, in Unix seconds. Older than the scrape interval: collections are slower than scrapes.")
	fwDuration = gauge("firewall", "collect_duration_seconds",
		"How long the served firewall collection took.")
)

type firewallCollector struct {
	logger   *slog.Logger
	maxRules int
	wait     time.Duration
	// collectFn is collect; tests slow it down.
	collectFn func(*fwState, *fwSources) *fwView

	mu     sync.Mutex
	states map[string]*fwState
}

func newFirewallCollector(logger *slog.Logger) (Collector, error) {
	c := &firewallCollector{
		logger:   logger,
		maxRules: *firewallMaxRules,
		wait:     *firewallWait,
		states:   map[string]*fwState{},
	}
	c.collectFn = c.collect
	// Unparsed flags (tests, benchmarks) are zero.
	if c.maxRules <= 0 {
		c.maxRules = defaultFirewallMaxRules
	}
	if c.wait <= 0 {
		c.wait = defaultFirewallWait
	}
	return c, nil
}

// fwState is one namespace's collection state.
type fwState struct {
	mu       sync.Mutex
	running  chan struct{} // closed when the running collection ends; nil if none
	view     *fwView       // the last complete collection
	lastUsed time.Time

	// Kept from one collection to the next, touched only by the running
	// collection.
	ns     string // the netns label
	reader fwReader
	labels fwLabelCache
	shown  map[fwGroupKey]bool // rules that had series of their own last time
}

func (c *firewallCollector) state(t netns.Target) *fwState {
	key := t.Name
	if t.Inode != 0 {
		key = fmt.Sprintf("%s/%d", t.Name, t.Inode)
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.states {
		st.mu.Lock()
		idle := st.running == nil && now.Sub(st.lastUsed) > firewallStateTTL
		st.mu.Unlock()
		if idle {
			delete(c.states, k)
		}
	}
	st := c.states[key]
	if st == nil {
		st = &fwState{ns: t.Name}
		c.states[key] = st
	}
	return st
}

var errFirewallFirstRun = errors.New("firewall: first collection still running; no result to serve yet")

// Update starts a collection unless one is running, waits for it at most
// c.wait, and emits the newest complete result.
func (c *firewallCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	st := c.state(t)
	st.mu.Lock()
	st.lastUsed = time.Now()
	if st.running == nil {
		// The handles are opened here, on the thread the exporter moved
		// into the namespace; they stay bound to it, so the collection
		// itself may run on any thread.
		src := openFirewallSources(netns.ProcNet)
		done := make(chan struct{})
		st.running = done
		go func() {
			v := c.collectFn(st, src)
			src.close()
			st.mu.Lock()
			st.view = v
			st.running = nil
			st.mu.Unlock()
			close(done)
		}()
	}
	done := st.running
	st.mu.Unlock()

	timer := time.NewTimer(c.wait)
	select {
	case <-done:
	case <-timer.C:
	}
	timer.Stop()

	st.mu.Lock()
	v := st.view
	st.mu.Unlock()
	if v == nil {
		return errFirewallFirstRun
	}
	v.emit(t.Name, ch)
	return v.err
}
