package rules

// Symptom alerts several causes share; a cause alert mutes the ones it
// explains.
var handshakeSymptoms = []string{
	"NetcauseTCPSYNRetransmits", "NetcausePeerSYNUnanswered", "NetcausePeerSYNIgnored",
}

// Inhibitions returns the Alertmanager inhibitions: stronger evidence for a
// cause mutes the weaker alerts it explains on the same node. Node labels
// (instance) are always required equal: a cause on one node says nothing
// about another's symptoms. Build checks that a target never waits less
// than its source, so the source is firing before the target is due.
func Inhibitions() []Inhibition {
	return []Inhibition{
		{
			Source:  "NetcauseFirewallBlockingConnections",
			Targets: []string{"NetcauseFirewallDropping"},
			Equal:   []string{"netns", "backend", "family", "table", "chain", "rule"},
			Why:     "The same rule, already critical.",
		},
		{
			Source: "NetcauseFirewallBlockingConnections",
			Targets: append([]string{"NetcauseDestinationUnreachable", "NetcauseTCPConnectionsRefused",
				"NetcausePeerPortClosed", "NetcauseTCPRetransmitRatioHigh"}, handshakeSymptoms...),
			Why: "A discarding rule counting while handshakes fail on the node explains unanswered SYNs, REJECT's RSTs and ICMP errors, and the retransmits of random drops.",
		},
		{
			Source: "NetcausePeerFirewallRejects",
			Targets: append([]string{"NetcauseDestinationUnreachable", "NetcausePeerUnreachable"},
				handshakeSymptoms...),
			Why: "An ICMP administratively-prohibited is a firewall's answer, not a routing failure.",
		},
		{
			Source: "NetcauseInterfaceDown",
			Targets: append([]string{"NetcauseNoRoute", "NetcauseDestinationUnreachable", "NetcausePeerUnreachable",
				"NetcauseDefaultRouteLost", "NetcauseNATRepliesMissing"}, handshakeSymptoms...),
			Why: "A downed interface removes its routes (no route, its default route) and makes the hosts behind it unreachable (host-unreachable, unanswered SYNs, translated flows without replies).",
		},
		{
			Source:  "NetcauseNoRoute",
			Targets: append([]string{"NetcauseDestinationUnreachable", "NetcausePeerUnreachable"}, handshakeSymptoms...),
			Why:     "The no-route counters are direct evidence; the unreachables and unanswered SYNs are their echo at the sender.",
		},
		{
			Source:  "NetcauseNoRoute",
			Targets: []string{"NetcauseDiscardRoute"},
			Why:     "Packets that match no route at all also count in the machine-wide in_no_route NetcauseDiscardRoute reads; the direct counter is the better evidence.",
		},
		{
			Source: "NetcauseDiscardRoute",
			Targets: append([]string{"NetcauseDestinationUnreachable", "NetcausePeerUnreachable", "NetcausePeerFirewallRejects",
				"NetcauseNATRepliesMissing"}, handshakeSymptoms...),
			Why: "A blackhole drops SYNs silently; unreachable and prohibit routes answer ICMP host-unreachable and administratively-prohibited, which look like a firewall's REJECT; translated flows into such a route get no reply.",
		},
		{
			Source:  "NetcauseDefaultRouteLost",
			Targets: append([]string{"NetcauseDestinationUnreachable", "NetcausePeerUnreachable", "NetcauseNATRepliesMissing"}, handshakeSymptoms...),
			Why:     "Without a default route every destination beyond the connected prefixes is unreachable: unanswered SYNs and unreachables are its echo.",
		},
		{
			Source:  "NetcauseNATRepliesMissing",
			Targets: handshakeSymptoms,
			Why:     "Translated SYNs whose replies do not come back are the unanswered handshakes.",
		},
		{
			Source:  "NetcauseFirewallBlockingConnections",
			Targets: []string{"NetcauseNATRepliesMissing"},
			Why:     "A rule that drops translated SYNs or their replies leaves the same unreplied entries; the rule is the cause.",
		},
		{
			Source:  "NetcausePeerFirewallRejects",
			Targets: []string{"NetcauseNATRepliesMissing"},
			Why:     "A SYN answered by ICMP administratively-prohibited leaves its translated entry unreplied (ICMP errors are not replies).",
		},
		{
			Source:  "NetcausePeerUnreachable",
			Targets: []string{"NetcauseNATRepliesMissing"},
			Why:     "A SYN answered by ICMP net- or host-unreachable leaves its translated entry unreplied: the destination is not reachable, the NAT is not at fault.",
		},
		{
			Source:  "NetcauseDestinationUnreachable",
			Targets: []string{"NetcauseNATRepliesMissing"},
			Why:     "Connections failing with ICMP unreachables leave their translated entries unreplied: the destination is not reachable, the NAT is not at fault.",
		},
		{
			Source:  "NetcauseMTUMismatch",
			Targets: []string{"NetcauseInterfaceReceiveDrops", "NetcauseInterfaceErrors"},
			Equal:   []string{"netns", "device"},
			Why:     "An interface whose MTU is below its peer's drops the peer's larger frames as receive drops or length errors.",
		},
		{
			Source:  "NetcauseConntrackDropping",
			Targets: append([]string{"NetcauseConntrackNearlyFull", "NetcauseConntrackInsertFailed", "NetcauseTCPRetransmitRatioHigh"}, handshakeSymptoms...),
			Why:     "A full table drops the first packet of new flows: SYNs go unanswered and are retransmitted.",
		},
		{
			Source:  "NetcauseConntrackInsertFailed",
			Targets: handshakeSymptoms,
			Why:     "A packet that loses a NAT clash is dropped; for TCP that is often the SYN.",
		},
		{
			Source:  "NetcauseMTUDroppingPackets",
			Targets: []string{"NetcauseInterfaceMTUTooSmall", "NetcauseMTUMismatch", "NetcauseInterfaceReceiveDrops", "NetcauseInterfaceErrors", "NetcauseTCPRetransmitRatioHigh", "NetcausePeerNoResponse", "NetcausePeerResponseSlow"},
			Why:     "Oversized packets dropped at a small MTU are the interface's drops, the retransmits, and the requests that never get a reply.",
		},
		{
			Source:  "NetcausePeerSmallMSS",
			Targets: []string{"NetcauseTCPRetransmitRatioHigh", "NetcausePeerNoResponse", "NetcausePeerResponseSlow"},
			Why:     "A tiny MSS means a tiny MTU at one end: full-size segments are lost and retransmitted, and replies never come.",
		},
		{
			Source:  "NetcauseNICRingOverflow",
			Targets: []string{"NetcauseInterfaceReceiveDrops", "NetcauseInterfaceErrors", "NetcauseTCPRetransmitRatioHigh"},
			Why:     "Ring overflows are counted among the interface's drops and errors and cause the retransmits.",
		},
		{
			Source:  "NetcauseSoftnetDrops",
			Targets: []string{"NetcauseInterfaceReceiveDrops", "NetcauseTCPRetransmitRatioHigh"},
			Why:     "Backlog drops are losses on receive; the senders retransmit.",
		},
		{
			Source:  "NetcauseQdiscDrops",
			Targets: []string{"NetcauseTCPRetransmitRatioHigh"},
			Why:     "The queue's drops are the congestion the retransmits come from.",
		},
		{
			Source:  "NetcauseTCPListenOverflow",
			Targets: handshakeSymptoms,
			Why:     "A full accept or SYN queue drops handshakes; the clients retransmit their SYNs.",
		},
		{
			Source:  "NetcausePeerSYNUnanswered",
			Targets: []string{"NetcauseTCPSYNRetransmits"},
			Equal:   []string{"netns"},
			Why:     "The per-peer alert names the peer the kernel counter leaves out.",
		},
		{
			Source:  "NetcausePeerPortClosed",
			Targets: []string{"NetcauseTCPConnectionsRefused"},
			Equal:   []string{"netns"},
			Why:     "The per-peer alert names the peer the kernel counter leaves out.",
		},
		{
			Source:  "NetcausePeerResets",
			Targets: []string{"NetcauseTCPEstablishedResets", "NetcausePeerPortClosed", "NetcauseTCPConnectionsRefused"},
			Why:     "A process that crashed resets its connections, and its port stays closed until it restarts.",
		},
		{
			Source:  "NetcauseTCPEstablishedResets",
			Targets: []string{"NetcausePeerPortClosed", "NetcauseTCPConnectionsRefused"},
			Why:     "A process that crashed resets its connections, and its port stays closed until it restarts.",
		},
		{
			Source:  "NetcauseSamplerDropping",
			Targets: []string{"NetcausePeerSYNUnanswered", "NetcausePeerSYNIgnored", "NetcausePeerNoResponse"},
			Equal:   []string{"netns"},
			Why:     "A capture that loses packets turns a missed SYN-ACK or reply into an apparent absence.",
		},
		{
			Source:  "NetcausePeerResets",
			Targets: []string{"NetcausePeerNoResponse"},
			Equal:   []string{"netns", "peer"},
			Why:     "A crash closes connections with requests pending; the sampler counts those as unanswered, but the process died, it did not hang.",
		},
		{
			Source:  "NetcausePeerUnreachable",
			Targets: []string{"NetcausePeerSYNUnanswered"},
			Equal:   []string{"netns", "peer"},
			Why:     "Routers rate-limit ICMP errors (net.ipv4.icmp_ratelimit): behind a missing route a few SYNs get net- or host-unreachable and the rest get no answer at all.",
		},
		{
			Source:  "NetcausePeerUnreachable",
			Targets: []string{"NetcauseTCPSYNRetransmits", "NetcauseDestinationUnreachable"},
			Equal:   []string{"netns"},
			Why:     "The kernel's count of the same unreachables and of the SYNs retransmitted while ICMP errors were rate-limited; the per-peer alert names the peer.",
		},
		{
			Source:  "NetcausePeerNoResponse",
			Targets: []string{"NetcausePeerResponseSlow"},
			Equal:   []string{"netns", "peer", "role"},
			Why:     "No reply at all is the stronger form of a slow reply.",
		},
	}
}
