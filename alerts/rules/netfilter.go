package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// firewallDiscards is the rate of packets each discarding rule, or each
// chain whose DROP policy (rule="(policy)"), throws away. Rules that drop
// what conntrack found INVALID are left to NetcauseConntrackInvalid: they
// are the firewall doing its job on traffic a NAT or routing fault broke
// (kube-proxy installs one on every node).
const firewallDiscards = `
  sum by (<<node>>, netns, backend, family, table, chain, verdict, rule) (
    rate(<<m "netcause_firewall_discarded_packets_total" (p "rule_selector")>>[<<window>>])
  )
<<- with p "invalid_rule_text">>
unless on (<<node>>, netns, backend, family, table, chain, verdict, rule)
  <<m "netcause_firewall_rule_info" (printf "text=~%q" .)>>
<<- end>>`

// textMatch exempts the firewall alerts from pint's promql/regexp: the rule
// text is, by design, only in the _info series, and matching it is the
// point.
var textMatch = map[string]string{"promql/regexp": "the rule text lives only in netcause_firewall_rule_info's text label"}

var ruleSelector = Param{Name: "rule_selector", Default: "", Kind: Matchers,
	Help: `Matchers that pick the rules to watch, e.g. rule!~"drop-scanners|invalid" for rules expected to count.`}

var invalidRuleText = Param{Name: "invalid_rule_text", Default: `(?i).*state ([a-z]+,)*invalid\b.*`, Kind: Regexp,
	Help: `Regular expression on a rule's text (netcause_firewall_rule_info) for rules that drop conntrack INVALID packets (iptables --ctstate/--state INVALID); "" counts them as firewall drops.`}

// Netfilter: firewall rules and conntrack.
var netfilterAlerts = []Alert{
	{
		Name: "NetcauseFirewallBlockingConnections", Cause: catalog.FirewallDrop, Layer: Netfilter, Severity: Critical, For: 2 * time.Minute,
		// A rule that counts while this node's handshakes fail is the
		// cause, not a bystander. The rule may sit in another namespace
		// than the failing client (container and host), hence on node.
		// On a server the kernel never sees the SYNs its rule drops; the
		// sampler does (it captures before netfilter).
		Expr: `
(` + firewallDiscards + `
) > <<p "min_rate">>
and on (<<node>>)
  (
      (
          sum by (<<node>>) (rate(<<m "netcause_tcp_syn_retransmits_total">>[<<window>>]))
        +
          sum by (<<node>>) (rate(<<m "netcause_tcp_attempt_fails_total">>[<<window>>]))
      ) > 0
    or
      sum by (<<node>>) (rate(<<m "netcause_peer_syn_unanswered_total">>[<<window>>])) > 0
  )`,
		Summary:     `Firewall rule {{ $labels.rule }} discards packets while connections fail on {{ $labels.instance }}`,
		Description: `Rule {{ $labels.rule }} ({{ $labels.verdict }}, {{ $labels.backend }} {{ $labels.family }} {{ $labels.table }}/{{ $labels.chain }}) in netns {{ $labels.netns }} on {{ $labels.instance }} discards {{ $value | humanize }} packets/s while handshakes on this node go unanswered or fail. Its text is in netcause_firewall_rule_info.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Discarded packets per second tolerated."},
			ruleSelector, invalidRuleText,
		},
		PintDisable: textMatch,
	},
	{
		Name: "NetcauseFirewallDropping", Cause: catalog.FirewallDrop, Layer: Netfilter, Severity: Warning, For: 5 * time.Minute,
		// Alone, because the failing client is often on another host (a
		// rule on the server drops SYNs and the server sees nothing else).
		Expr: `
(` + firewallDiscards + `
) > <<p "min_rate">>`,
		Summary:     `Firewall rule {{ $labels.rule }} discards packets on {{ $labels.instance }}`,
		Description: `Rule {{ $labels.rule }} ({{ $labels.verdict }}, {{ $labels.backend }} {{ $labels.family }} {{ $labels.table }}/{{ $labels.chain }}) in netns {{ $labels.netns }} on {{ $labels.instance }} discards {{ $value | humanize }} packets/s. If connections to this host hang or are refused, this rule is the first suspect; its text is in netcause_firewall_rule_info. Rules expected to count belong in rule_selector.`,
		Params: []Param{
			{Name: "min_rate", Default: "0.1", Kind: Number, Help: "Discarded packets per second tolerated."},
			ruleSelector, invalidRuleText,
		},
		PintDisable: textMatch,
	},
	{
		Name: "NetcauseFirewallRulesUncounted", Cause: BlindSpot, Layer: Netfilter, Severity: Warning, For: 30 * time.Minute,
		Expr: `
sum by (<<node>>, netns, backend, family, table, chain, verdict) (
  <<m "netcause_firewall_uncounted_rules">>
) > 0`,
		Summary:     `Discarding firewall rules without counters on {{ $labels.instance }}`,
		Description: `{{ $value }} {{ $labels.verdict }} rules or policies in {{ $labels.backend }} {{ $labels.family }} {{ $labels.table }}/{{ $labels.chain }} (netns {{ $labels.netns }}, {{ $labels.instance }}) count nothing (an nftables rule without a counter statement, a base chain without counters): what they discard cannot be seen, so a drop there will not alert.`,
	},
	{
		Name: "NetcauseFirewallCountersStale", Cause: BlindSpot, Layer: Netfilter, Severity: Warning, For: 10 * time.Minute,
		// A collection slower than the scrape serves its last result; one
		// that never completes leaves every rule's counter frozen, and a
		// frozen counter reads as "drops nothing".
		Expr: `
time() - max by (<<node>>, netns) (<<m "netcause_firewall_last_success_timestamp_seconds">>) > <<p "max_age">>`,
		Summary:     `Firewall counters in {{ $labels.netns }} on {{ $labels.instance }} are stale`,
		Description: `The firewall counters netcause serves for netns {{ $labels.netns }} on {{ $labels.instance }} were last read completely {{ $value | humanizeDuration }} ago: the collection does not finish (a huge ruleset, a stuck backend). Until it does, a rule that starts dropping will not alert.`,
		Params: []Param{
			{Name: "max_age", Default: "300", Kind: Number, Help: "Seconds since the last complete firewall collection."},
		},
	},
	{
		Name: "NetcauseConntrackDropping", Cause: catalog.ConntrackFull, Layer: Netfilter, Severity: Critical, For: time.Minute,
		Expr:        `<<ConntrackDropsRate>> > <<p "min_rate">>`,
		Summary:     `Conntrack table full: new flows dropped on {{ $labels.instance }}`,
		Description: `Conntrack in netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanize }} packets/s because its table is full (nf_conntrack_count reached nf_conntrack_max): new connections fail at random while established ones carry on.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Conntrack drops per second tolerated."},
		},
	},
	{
		Name: "NetcauseConntrackNearlyFull", Cause: catalog.ConntrackFull, Layer: Netfilter, Severity: Warning, For: 5 * time.Minute,
		Expr:        `<<ConntrackFill>> > <<p "ratio">>`,
		Summary:     `Conntrack table {{ $value | humanizePercentage }} full on {{ $labels.instance }}`,
		Description: `Conntrack in netns {{ $labels.netns }} on {{ $labels.instance }} holds {{ $value | humanizePercentage }} of nf_conntrack_max entries. When it reaches 100% new connections are dropped at random.`,
		Params: []Param{
			{Name: "ratio", Default: "0.85", Kind: Number, Help: "Fill ratio of the table."},
		},
	},
	{
		Name: "NetcauseConntrackInsertFailed", Cause: catalog.NATMismatch, Layer: Netfilter, Severity: Warning, For: 3 * time.Minute,
		// insert_failed: the tuple was already taken when the entry was
		// confirmed; with NAT two flows mapped to the same address and
		// port (SNAT port exhaustion, a UDP race).
		Expr: `
sum by (<<node>>, netns) (
  rate(<<m "netcause_conntrack_insert_failed_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `Conntrack insert failures (NAT clashes) on {{ $labels.instance }}`,
		Description: `Conntrack in netns {{ $labels.netns }} on {{ $labels.instance }} fails to insert {{ $value | humanize }} entries/s: two flows were translated to the same tuple (SNAT port exhaustion, or a race between packets of one new UDP flow) or a hash chain grew too long, and the packet that lost is dropped. With a full table this follows NetcauseConntrackDropping, which mutes it.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Failed inserts per second tolerated."},
		},
	},
	{
		Name: "NetcauseNATRepliesMissing", Cause: catalog.NATMismatch, Layer: Netfilter, Severity: Critical, For: 3 * time.Minute,
		// A translated TCP flow whose SYN got no reply for seconds: the
		// reply went to the translated address and never came back
		// through this host. A destination that is down or drops the SYN
		// leaves the same trace; the alerts that pin those mute this one.
		Expr: `
sum by (<<node>>, netns, nat) (
  <<m "netcause_conntrack_unreplied_entries" "protocol=\"tcp\", nat!=\"none\"">>
) > <<p "min_entries">>
and on (<<node>>)` + nodeHandshakesFail,
		Summary:     `Connections translated by {{ $labels.nat }} in {{ $labels.netns }} get no reply on {{ $labels.instance }}`,
		Description: `{{ $value }} TCP connections translated ({{ $labels.nat }}) by netns {{ $labels.netns }} on {{ $labels.instance }} never saw a reply, while handshakes on this node go unanswered or fail. The replies are addressed to the translated address and do not find their way back through this host: an SNAT to an address the destination routes elsewhere or not at all, a DNAT whose replies leave by another path. A destination that is down or drops the SYNs looks the same from here; check where the replies go before changing the NAT.`,
		Params: []Param{
			{Name: "min_entries", Default: "5", Kind: Number, Help: "Translated TCP entries without a reply tolerated; a NAT gateway keeps a few for hosts that are down."},
		},
	},
	{
		Name: "NetcauseConntrackInvalid", Cause: catalog.NATMismatch, Layer: Netfilter, Severity: Warning, For: 10 * time.Minute,
		Expr: `
sum by (<<node>>, netns) (
  rate(<<m "netcause_conntrack_invalid_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `Conntrack sees packets of unknown flows on {{ $labels.instance }}`,
		Description: `Conntrack in netns {{ $labels.netns }} on {{ $labels.instance }} classifies {{ $value | humanize }} packets/s as INVALID: replies to flows it never saw leave or that it translated differently (asymmetric routing around a NAT, a NAT mapping that does not match), or segments outside the TCP window. Rules that drop INVALID packets lose them; without such rules they may be answered with RST.`,
		Params: []Param{
			{Name: "min_rate", Default: "1", Kind: Number, Help: "INVALID packets per second tolerated (late packets of closed flows make a few)."},
		},
	},
}
