package scenarios

// finding is a defect of the alert pack or the sampler that the suite
// found and tolerates until it is fixed: the co-symptoms tagged with its
// ID are alerts a user would get that the pack should not send. A strict
// run (NETCAUSE_SCENARIOS_STRICT=1) fails on them. When a fix lands, its
// tags go, and the run shows whether the alerts went with them.
type finding struct {
	ID, Title, Detail, Fix string
}

var findings = []finding{
	{
		ID:    "F1",
		Title: "the retransmit ratio counts SYN retransmissions",
		Detail: "`instance_netns:netcause_tcp_retransmit_ratio:rate` divides RetransSegs, which counts SYN and SYN-ACK " +
			"retransmissions too (TcpExt TCPSynRetrans), by OutSegs. A node whose handshakes go unanswered (a firewall, " +
			"a route, a NAT or a full table on another node) retransmits little else, so its ratio passes 100% and " +
			"`NetcauseTCPRetransmitRatioHigh` (congestion) fires after its `for` next to the alerts that name the real cause.",
		Fix: "subtract `netcause_tcp_syn_retransmits_total` from `netcause_tcp_retransmitted_segments_total` in the " +
			"recording rule: unanswered handshakes have alerts of their own (syn_unanswered).",
	},
	{
		ID:    "F2",
		Title: "inhibition sources resolve before the alerts they mute",
		Detail: "An inhibition holds only while its source fires. Sources on a gauge (`NetcauseMTUDroppingPackets` reads the " +
			"MTU) resolve the instant the fault is undone; sources on kernel counters resolve up to a sampler timeout " +
			"(3 s for SYNs) before the sampler-based alerts they mute; burst sources (`NetcausePeerResets`) resolve one " +
			"window after the event while the port stays closed. The muted alerts still hold the fault in their rate " +
			"windows, are already past their `for`, and are delivered the moment the source resolves: an on-call " +
			"engineer who has just fixed the MTU gets the receive drops, the retransmit ratio and the slow replies.",
		Fix: "`keep_firing_for` (Prometheus ≥ 2.42) on every inhibition source, at least the rate window plus the " +
			"sampler's timeouts, so sources outlive their targets' windows.",
	},
	{
		ID:    "F3",
		Title: "a crash reads as an application hang",
		Detail: "The sampler counts a request as unanswered when its connection closes first, and a crash closes " +
			"connections with requests pending: `NetcausePeerNoResponse` (app_hang) fires next to `NetcausePeerResets` " +
			"(app_crash), which does not mute it.",
		Fix: "mute `NetcausePeerNoResponse` while `NetcausePeerResets` fires for the same instance, netns and peer (or " +
			"let the sampler not count requests ended by a reset).",
	},
	{
		ID:    "F4",
		Title: "an RST that answers a late SYN-ACK counts as a reset of an established connection",
		Detail: "When a SYN-ACK reaches a client that gave up on the connection, the client's kernel answers RST. The " +
			"sampler counts it in `netcause_peer_resets_total` (\"RST segments on connections past the handshake\") " +
			"although the handshake never completed, and `NetcausePeerResets` (app_crash) fires on both ends when a " +
			"NAT or routing fault is undone.",
		Fix: "in sampler/tracker.go count an RST as a reset only once the handshake was acknowledged (or for a " +
			"connection seen mid-stream).",
	},
	{
		ID:    "F5",
		Title: "iptables' default REJECT reads as a routing failure on the client",
		Detail: "REJECT answers ICMP port-unreachable by default. `NetcausePeerFirewallRejects` reads only " +
			"kind=\"prohibited\", so the client gets `NetcauseDestinationUnreachable` (no_route). A TCP peer never " +
			"answers a SYN with port-unreachable (it sends RST), so for TCP that answer is a firewall's.",
		Fix: "let the sampler tell ICMP errors about TCP from the others (a protocol label, or count only those " +
			"quoting TCP) and read kind=~\"prohibited|port\" in `NetcausePeerFirewallRejects`, which mutes " +
			"`NetcauseDestinationUnreachable`.",
	},
	{
		ID:    "F6",
		Title: "slow replies after a network fault read as a slow application",
		Detail: "`NetcausePeerResponseSlow` has no retransmission guard, unlike `NetcausePeerNoResponse`: requests held " +
			"back by a small MTU or by loss, retransmitted and answered once the path works, give response times of " +
			"seconds that the alert attributes to the application (app_hang).",
		Fix: "the same `unless` on `netcause_peer_retransmits_total` that `NetcausePeerNoResponse` has.",
	},
	{
		ID:    "F7",
		Title: "ICMP unreachables do not mute the unanswered SYNs they explain",
		Detail: "Routers and hosts rate-limit ICMP errors (net.ipv4.icmp_ratelimit), so behind a missing route most " +
			"SYNs get no answer at all and only a few get net- or host-unreachable. `NetcausePeerUnreachable` (no_route) " +
			"fires, and `NetcausePeerSYNUnanswered` (syn_unanswered) for the same peer with it: no inhibition links " +
			"them, unlike `NetcausePeerFirewallRejects`, which mutes it.",
		Fix: "an inhibition from `NetcausePeerUnreachable` to `NetcausePeerSYNUnanswered`, `NetcauseTCPSYNRetransmits` " +
			"and `NetcauseDestinationUnreachable` on the same instance (with F2, as the ICMP alert resolves first).",
	},
	{
		ID:    "F8",
		Title: "a client's FIN right after its request counts the request as unanswered",
		Detail: "The sampler counts a pending request as unanswered when a FIN or RST from either side ends the " +
			"connection. A client that half-closes after its request (or whose kernel retransmits request and FIN " +
			"together once a path is fixed, after the client gave up) makes the server's sampler count an " +
			"unanswered request before the server had a chance to reply: `NetcausePeerNoResponse` (app_hang) on " +
			"the server during the recovery from a network fault.",
		Fix: "in sampler/tracker.go end a pending request as unanswered on a FIN from the server side or on an RST, " +
			"and let a client's FIN wait for the reply or the response timeout.",
	},
	{
		ID:    "F9",
		Title: "a dedicated NAT gateway cannot raise NetcauseNATRepliesMissing",
		Detail: "`NetcauseNATRepliesMissing` needs translated entries without a reply *and* handshakes failing on the " +
			"same instance (SYN retransmits, failed attempts or the sampler's unanswered SYNs). A router that only " +
			"forwards has no TCP of its own and, without the sampler, no unanswered SYNs: in the NAT scenario the " +
			"router holds dozens of unreplied DNAT entries and the alert stays silent; the cause is named only on the " +
			"client, by `NetcauseConntrackInvalid`, and only because the client runs a stateful firewall.",
		Fix: "accept the node's own unreplied translated entries as the handshake evidence on a node without local " +
			"TCP (or require the sampler on NAT gateways and say so in the runbook).",
	},
	{
		ID:    "F10",
		Title: "a SYN answered by a bare ACK counts as unanswered",
		Detail: "A client may reuse a source port whose 4-tuple the server still holds: in TIME_WAIT (the server closed " +
			"first) with no listener on the port, or half-open in SYN_RECV from a fault. The server's kernel then " +
			"answers the SYN with an ACK, the client resets and retries, and the sampler counts the first SYN as " +
			"unanswered on both ends (seen in a capture of the NAT scenario: port 38584 reused 51 s later, answered " +
			"by ACK, reset by the client). `NetcausePeerSYNUnanswered` and `NetcausePeerSYNIgnored` (syn_unanswered) " +
			"fire for a handshake that did get an answer.",
		Fix: "in sampler/tracker.go treat an ACK from the server side to a pending SYN as an answer (a 4-tuple " +
			"collision, worth its own counter), not as silence.",
	},
}

func findingByID(id string) (finding, bool) {
	for _, f := range findings {
		if f.ID == id {
			return f, true
		}
	}
	return finding{}, false
}
