package rules

// Recording rule names. Dashboards import these rather than spelling the
// strings, so a rename breaks their build instead of their panels. The
// level prefix names the labels kept besides the config's node labels
// (instance by default); no name carries the rate window, which a
// deployment may change.
const (
	TCPRetransmitRatio    = "instance_netns:netcause_tcp_retransmit_ratio:rate"
	TCPSentSegmentsRate   = "instance_netns:netcause_tcp_sent_segments:rate"
	TCPSYNRetransmitsRate = "instance_netns:netcause_tcp_syn_retransmits:rate"
	TCPOpensRate          = "instance_netns:netcause_tcp_opens:rate"
	ConntrackFill         = "instance_netns:netcause_conntrack_fill:ratio"
	ConntrackDropsRate    = "instance_netns:netcause_conntrack_drops:rate"
	ReceiveDropRatio      = "instance_netns_device:netcause_network_receive_drop_ratio:rate"
	SoftnetDropsRate      = "instance_netns:netcause_softnet_drops:rate"
	QdiscDropRatio        = "instance_netns_device:netcause_qdisc_drop_ratio:rate"
)

// recordingNames lets templates write <<TCPRetransmitRatio>> for the
// constant of that name.
var recordingNames = map[string]string{
	"TCPRetransmitRatio":    TCPRetransmitRatio,
	"TCPSentSegmentsRate":   TCPSentSegmentsRate,
	"TCPSYNRetransmitsRate": TCPSYNRetransmitsRate,
	"TCPOpensRate":          TCPOpensRate,
	"ConntrackFill":         ConntrackFill,
	"ConntrackDropsRate":    ConntrackDropsRate,
	"ReceiveDropRatio":      ReceiveDropRatio,
	"SoftnetDropsRate":      SoftnetDropsRate,
	"QdiscDropRatio":        QdiscDropRatio,
}

// RecordingRules returns every recording rule definition.
func RecordingRules() []Recording {
	return []Recording{
		{
			Name: TCPRetransmitRatio,
			Help: "TCP segments retransmitted per segment sent, SYN and SYN-ACK retransmissions left out: the share of the traffic that had to be sent again. Healthy paths stay well under 1%.",
			// RetransSegs counts handshake retransmissions too (TcpExt
			// TCPSynRetrans). A node whose handshakes go unanswered sends
			// little else, so they alone would push the ratio past 100% and
			// call congestion what an unanswered-SYN alert already names.
			// Without TCPSynRetrans (older kernels) the whole count stays.
			Expr: `
  (
      sum by (<<node>>, netns) (rate(<<m "netcause_tcp_retransmitted_segments_total">>[<<window>>]))
    -
      sum by (<<node>>, netns) (rate(<<m "netcause_tcp_syn_retransmits_total">>[<<window>>]))
    or
      sum by (<<node>>, netns) (rate(<<m "netcause_tcp_retransmitted_segments_total">>[<<window>>]))
  )
/
  sum by (<<node>>, netns) (rate(<<m "netcause_tcp_sent_segments_total">>[<<window>>]))`,
		},
		{
			Name: TCPSentSegmentsRate,
			Help: "TCP segments sent per second (retransmissions excluded): how much traffic the retransmit ratio is measured on.",
			Expr: `sum by (<<node>>, netns) (rate(<<m "netcause_tcp_sent_segments_total">>[<<window>>]))`,
		},
		{
			Name: TCPSYNRetransmitsRate,
			Help: "SYN and SYN-ACK retransmissions per second: handshakes whose answer did not come in time.",
			Expr: `sum by (<<node>>, netns) (rate(<<m "netcause_tcp_syn_retransmits_total">>[<<window>>]))`,
		},
		{
			Name: TCPOpensRate,
			Help: "TCP connections opened per second, both directions (SYN sent plus SYN received): the denominator of handshake and reset ratios.",
			Expr: `
  sum by (<<node>>, netns) (rate(<<m "netcause_tcp_active_opens_total">>[<<window>>]))
+
  sum by (<<node>>, netns) (rate(<<m "netcause_tcp_passive_opens_total">>[<<window>>]))`,
		},
		{
			Name: ConntrackFill,
			Help: "Conntrack entries over the table limit (nf_conntrack_count / nf_conntrack_max); at 1 new flows are dropped. Absent where the limit is 0 (unlimited).",
			Expr: `
  max by (<<node>>, netns) (<<m "netcause_conntrack_entries">>)
/
  (max by (<<node>>, netns) (<<m "netcause_conntrack_entries_limit">>) > 0)`,
		},
		{
			Name: ConntrackDropsRate,
			Help: "Packets per second conntrack refused because its table was full: drop plus early_drop, summed over CPUs.",
			Expr: `
  sum by (<<node>>, netns) (rate(<<m "netcause_conntrack_dropped_total">>[<<window>>]))
+
  sum by (<<node>>, netns) (rate(<<m "netcause_conntrack_early_dropped_total">>[<<window>>]))`,
		},
		{
			Name: ReceiveDropRatio,
			Help: "Received packets an interface dropped, as a share of the packets it received plus those it dropped.",
			Expr: `
  sum by (<<node>>, netns, device) (rate(<<m "netcause_network_receive_dropped_total">>[<<window>>]))
/
  (
      sum by (<<node>>, netns, device) (rate(<<m "netcause_network_receive_packets_total">>[<<window>>]))
    +
      sum by (<<node>>, netns, device) (rate(<<m "netcause_network_receive_dropped_total">>[<<window>>]))
  )`,
		},
		{
			Name: SoftnetDropsRate,
			Help: "Packets per second dropped because a CPU's receive backlog was full, summed over CPUs.",
			Expr: `sum by (<<node>>, netns) (rate(<<m "netcause_softnet_dropped_packets_total">>[<<window>>]))`,
		},
		{
			Name: QdiscDropRatio,
			Help: "Packets the root qdisc of a device dropped, as a share of the packets it sent plus dropped. Root only: a classful root already counts its children.",
			Expr: `
  sum by (<<node>>, netns, device) (rate(<<m "netcause_qdisc_drops_total" "parent=\"root\"">>[<<window>>]))
/
  (
      sum by (<<node>>, netns, device) (rate(<<m "netcause_qdisc_sent_packets_total" "parent=\"root\"">>[<<window>>]))
    +
      sum by (<<node>>, netns, device) (rate(<<m "netcause_qdisc_drops_total" "parent=\"root\"">>[<<window>>]))
  )`,
		},
	}
}
