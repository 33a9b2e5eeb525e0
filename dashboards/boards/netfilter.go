package boards

import (
	"fmt"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

// ruleLabels identify one firewall rule (or a chain's policy, or a chain's
// overflow) in the firewall series.
const ruleLabels = "instance, netns, backend, family, table, chain, verdict, rule"

// withRuleText puts each rule's text (netcause_firewall_rule_info) on a
// per-rule expression. Policies and overflow sums have no text series;
// the `or` keeps them, without text.
func withRuleText(s scope, e string) string {
	// topk keeps one text per rule even while a changed text's old
	// series is still within the lookback, so the join never becomes
	// many-to-many.
	info := fmt.Sprintf("topk by (%s) (1, %s)", ruleLabels, s.gauge("max", "netcause_firewall_rule_info", ruleLabels+", text"))
	return fmt.Sprintf("(\n  %s\n* on (%s) group_left (text)\n  %s\n)\nor on (%s)\n  %s",
		e, ruleLabels, info, ruleLabels, e)
}

func netfilter() *model.Dashboard {
	b := newBoard(UIDNetfilter, "netcause / Netfilter",
		"Netfilter: is conntrack's table full or refusing entries, and which firewall rule discards packets: rules ranked by drop rate with their table, chain, verdict and text.",
		datasourceVar(), instanceVar(), netnsVar())
	s := scope{mInstance, mNetns}
	const by = "instance, netns"
	const lg = "{{instance}} {{netns}}"
	const cby = by + ", cpu"
	const clg = lg + " cpu {{cpu}}"

	b.row("Conntrack table")
	nearly := alertParam("NetcauseConntrackNearlyFull", "ratio")
	b.add(8, 8, timeseries("Conntrack table fill", unitRatio,
		fmt.Sprintf("Entries over the table's limit (nf_conntrack_count / nf_conntrack_max, the alert pack's %s). At 100%% new connections are dropped at random. Dashed: NetcauseConntrackNearlyFull's threshold. Absent where the limit is 0 (unlimited).", rules.ConntrackFill),
		qs(q(s.rec(rules.ConntrackFill), lg)), legendTable, minMax(0, 1),
		thresholds("green", step("orange", nearly), step("red", 1)),
		runbooks("NetcauseConntrackNearlyFull", "NetcauseConntrackDropping")))
	b.add(8, 8, timeseries("Entries and limit", unitCount,
		"Connections tracked now against nf_conntrack_max. On recent kernels the limit is one machine-wide value that every namespace's own count is compared with.",
		qs(q(s.gauge("max", "netcause_conntrack_entries", by), lg+" entries"),
			q(s.gauge("max", "netcause_conntrack_entries_limit", by), lg+" limit")),
		legendTable))
	b.add(8, 8, timeseries("Dropped because the table was full", unitPPS,
		fmt.Sprintf("Packets per second conntrack refused for want of a free entry: drop plus early_drop over all CPUs (the alert pack's %s).", rules.ConntrackDropsRate),
		qs(q(s.rec(rules.ConntrackDropsRate), lg)), legendTable,
		thresholds("green", step("red", 0.001)), evidence("NetcauseConntrackDropping")))

	b.add(24, 7, timeseries("Connections without a reply, by NAT", unitCount,
		"Conntrack entries that never saw a reply and have been idle for over 2 s, by the translation applied and protocol. Translated TCP entries here are SYNs whose SYN-ACK did not come back through this host: a NAT mapping replies do not find (NetcauseNATRepliesMissing), or a destination that is down. Lower bounds while the dump is truncated.",
		qs(q(s.gauge("max", "netcause_conntrack_unreplied_entries", by+", nat, protocol", `nat!="none"`), lg+" {{nat}} {{protocol}}"),
			q(s.gauge("max", "netcause_conntrack_unreplied_entries", by+", protocol", `nat="none"`), lg+" untranslated {{protocol}}"),
			q(s.gauge("max", "netcause_conntrack_unreplied_truncated", by)+" > 0", lg+" truncated")),
		legendTable, runbooks("NetcauseNATRepliesMissing")))

	b.row("Conntrack per CPU")
	b.add(6, 8, timeseries("drop", unitPPS,
		"Packets dropped because no entry could be allocated for a new flow (table full, nothing evictable), per CPU.",
		qs(q(s.rate("netcause_conntrack_dropped_total", cby), clg)), legendTable, runbooks("NetcauseConntrackDropping")))
	b.add(6, 8, timeseries("early_drop", unitEvents,
		"Unassured entries evicted to make room for new flows because the table was full, per CPU.",
		qs(q(s.rate("netcause_conntrack_early_dropped_total", cby), clg)), legendTable, runbooks("NetcauseConntrackDropping")))
	b.add(6, 8, timeseries("insert_failed", unitPPS,
		"New entries that could not be inserted, their packet dropped: two flows translated to the same tuple (SNAT port exhaustion, a UDP race) or a hash chain too long, per CPU.",
		qs(q(s.rate("netcause_conntrack_insert_failed_total", cby), clg+" insert_failed"),
			q(s.rate("netcause_conntrack_chain_too_long_total", cby), clg+" chain too long")),
		legendTable, runbooks("NetcauseConntrackInsertFailed")))
	b.add(6, 8, timeseries("invalid, errors, clashes", unitPPS,
		"Packets conntrack could not track (INVALID: replies to flows it never saw or translated differently, out-of-window segments), packets rejected by its protocol checks, and clashes it resolved without a drop.",
		qs(q(s.rate("netcause_conntrack_invalid_total", by), lg+" invalid"),
			q(s.rate("netcause_conntrack_errors_total", by), lg+" errors"),
			q(s.rate("netcause_conntrack_clash_resolved_total", by), lg+" clash resolved"),
			q(s.rate("netcause_conntrack_search_restarts_total", by), lg+" search restarts")),
		legendTable, runbooks("NetcauseConntrackInvalid")))

	b.row("Firewall rules")
	perRule := func(window string) string {
		if window == RateInterval {
			return s.rate("netcause_firewall_discarded_packets_total", ruleLabels)
		}
		return s.increase("netcause_firewall_discarded_packets_total", ruleLabels, window)
	}
	b.add(24, 10, table("Discarding rules ranked by drop rate", unitPPS,
		`Every DROP or REJECT rule and DROP policy with its packets discarded per second now and in the whole time range, and the rule's text as iptables-save or nft prints it. rule is the rule's comment, else a hash of it; "(policy)" is the chain's policy; "(overflow)" sums the rules beyond --collector.firewall.max-rules. A rule that counts while connections hang is the first suspect.`,
		qs(qt(`sort_desc(`+withRuleText(s, perRule(RateInterval))+`)`), qt(withRuleText(s, perRule("$__range")))),
		organize([]string{"Time"}, []string{"Value #A", "Value #B", "instance", "netns", "backend", "family", "table", "chain", "verdict", "rule", "text"}),
		column("Value #A", "dropped/s", colored(), thresholdsProp("transparent", step("orange", 0.001))),
		column("Value #B", "dropped in range", unitProp(unitCount)),
		column("text", "rule text", widthProp(600)),
		sortBy("dropped/s"),
		runbooks("NetcauseFirewallBlockingConnections", "NetcauseFirewallDropping")))
	const rlg = "{{instance}} {{netns}} {{backend}} {{table}}/{{chain}} {{rule}} ({{verdict}})"
	b.add(12, 8, timeseries("Top discarding rules", unitPPS,
		"The ten rules discarding the most packets at each moment.",
		qs(q(`topk(10, `+perRule(RateInterval)+`)`, rlg)), legendTable,
		runbooks("NetcauseFirewallBlockingConnections", "NetcauseFirewallDropping")))
	b.add(12, 8, timeseries("Top discarding rules by bytes", unitBps,
		"The ten rules discarding the most bytes: a rule dropping large packets only (an MSS or length match) shows here more than above.",
		qs(q(`topk(10, `+s.rate("netcause_firewall_discarded_bytes_total", ruleLabels)+`)`, rlg)), legendTable))
	const chainLabels = "instance, netns, backend, family, table, chain, verdict"
	b.add(12, 8, table("Discarding rules that count nothing", unitPlain,
		"DROP/REJECT rules and DROP policies without a counter (an nftables rule without a counter statement, a base chain without counters): what they discard cannot be seen, so a drop there cannot alert. Empty is good.",
		qs(qt(s.gauge("max", "netcause_firewall_uncounted_rules", chainLabels))),
		organize([]string{"Time"}, []string{"instance", "netns", "backend", "family", "table", "chain", "verdict"}),
		column("Value", "rules", colored(), thresholdsProp("transparent", step("orange", 1))),
		runbooks("NetcauseFirewallRulesUncounted")))
	b.add(12, 8, timeseries("Rules by backend", unitCount,
		"Rules read per backend and family, whatever their verdict: shows which of iptables-legacy, iptables-nft and nftables hold rules, and the rules beyond --collector.firewall.max-rules.",
		qs(q(s.gauge("sum", "netcause_firewall_rules", "instance, netns, backend, family"), lg+" {{backend}} {{family}}"),
			q(s.gauge("max", "netcause_firewall_rules_overflowed", by), lg+" discarding rules over the cap")),
		legendTable))
	return b.d
}
