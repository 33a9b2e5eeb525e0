package boards

import (
	"fmt"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

func tcp() *model.Dashboard {
	b := newBoard(UIDTCP, "netcause / TCP, IP and peers",
		"Network, transport and application layers: does the kernel retransmit, do handshakes go unanswered or get refused, are connections reset, do listen queues overflow, is there no route; and per peer (from the sampler's capture): handshake and response latency, unanswered SYNs and requests, refusals, resets, ICMP errors and the smallest MSS.",
		datasourceVar(), instanceVar(), netnsVar(), peerVar())
	s := scope{mInstance, mNetns}
	const by = "instance, netns"
	const lg = "{{instance}} {{netns}}"
	r := func(m, what string) model.Target { return q(s.rate(m, by), lg+" "+what) }
	rf := func(m, what string) model.Target {
		return q(s.rate(m, by+", family"), lg+" {{family}} "+what)
	}

	b.row("TCP (kernel counters, per namespace)")
	retrans := alertParam("NetcauseTCPRetransmitRatioHigh", "ratio")
	b.add(8, 8, timeseries("Retransmit ratio", unitRatio,
		fmt.Sprintf("TCP segments retransmitted per segment sent (the alert pack's %s): the share of the traffic lost on the path and sent again. Healthy paths stay well under 1%%; dashed: NetcauseTCPRetransmitRatioHigh's threshold.", rules.TCPRetransmitRatio),
		qs(q(s.rec(rules.TCPRetransmitRatio), lg)), legendTable,
		thresholds("green", step("red", retrans)), runbooks("NetcauseTCPRetransmitRatioHigh")))
	b.add(8, 8, timeseries("Segments sent and retransmitted", unitPPS,
		fmt.Sprintf("Segments sent (the alert pack's %s) and retransmitted, fast retransmits (after duplicate ACKs) and retransmission timeouts: timeouts mean whole windows were lost.", rules.TCPSentSegmentsRate),
		qs(q(s.rec(rules.TCPSentSegmentsRate), lg+" sent"),
			r("netcause_tcp_retransmitted_segments_total", "retransmitted"),
			r("netcause_tcp_fast_retransmits_total", "fast retransmits"),
			r("netcause_tcp_timeouts_total", "timeouts"),
			r("netcause_tcp_lost_retransmits_total", "retransmits lost again")),
		legendTable))
	b.add(8, 8, timeseries("SYN retransmits and failed connects", unitEvents,
		fmt.Sprintf("SYN and SYN-ACK retransmissions (%s) against connections opened (%s), and connection attempts that failed. Retransmitted SYNs: handshakes unanswered (a firewall, a host down, no return route, conntrack full, a full listen queue). Failures without retransmits: refused at once (RST).", rules.TCPSYNRetransmitsRate, rules.TCPOpensRate),
		qs(q(s.rec(rules.TCPSYNRetransmitsRate), lg+" SYN retransmits"),
			q(s.rec(rules.TCPOpensRate), lg+" connections opened"),
			r("netcause_tcp_attempt_fails_total", "failed attempts")),
		legendTable, runbooks("NetcauseTCPSYNRetransmits", "NetcauseTCPConnectionsRefused")))
	b.add(8, 8, timeseries("Resets", unitEvents,
		"Established connections reset (sent or received), RST segments sent, and connections this host aborted by reason. A burst of established resets: a process died with connections open.",
		qs(r("netcause_tcp_established_resets_total", "established resets"),
			r("netcause_tcp_sent_resets_total", "RSTs sent"),
			q(s.rate("netcause_tcp_aborts_total", by+", reason"), lg+" aborted ({{reason}})")),
		legendTable, runbooks("NetcauseTCPEstablishedResets")))
	b.add(8, 8, timeseries("Listen queue overflows", unitEvents,
		"Handshakes dropped at a listening socket: accept queue full (overflows), all listen drops, SYN queue full without cookies; and SYN cookies sent. The server does not accept fast enough or its backlog is too small.",
		qs(r("netcause_tcp_listen_overflows_total", "accept queue overflows"),
			r("netcause_tcp_listen_drops_total", "listen drops"),
			r("netcause_tcp_request_queue_full_drops_total", "SYN queue full"),
			r("netcause_tcp_syn_cookies_sent_total", "SYN cookies")),
		legendTable, runbooks("NetcauseTCPListenOverflow")))
	b.add(8, 8, timeseries("Receive-side drops", unitPPS,
		"Segments dropped on the way into a socket: socket backlog full, receive buffer full, out-of-order queue out of memory, zero window, bad checksum or header.",
		qs(r("netcause_tcp_backlog_drops_total", "backlog full"),
			r("netcause_tcp_receive_queue_drops_total", "receive buffer full"),
			r("netcause_tcp_out_of_order_drops_total", "out-of-order drops"),
			r("netcause_tcp_zero_window_drops_total", "zero window"),
			r("netcause_tcp_receive_errors_total", "receive errors")),
		legendTable))
	b.add(12, 7, timeseries("Established connections", unitCount,
		"Connections in ESTABLISHED or CLOSE-WAIT now: a drop to zero with resets is a crash; a climb with unanswered requests is a hang.",
		qs(q(s.gauge("max", "netcause_tcp_connections_established", by), lg)), legendTable))
	b.add(12, 7, timeseries("UDP drops", unitPPS,
		"UDP datagrams dropped: receive buffer full (the application reads too slowly), send buffer full, to a port nobody listens on, bad checksum.",
		qs(rf("netcause_udp_receive_buffer_errors_total", "receive buffer full"),
			rf("netcause_udp_send_buffer_errors_total", "send buffer full"),
			rf("netcause_udp_no_port_total", "no port"),
			rf("netcause_udp_checksum_errors_total", "bad checksum")),
		legendTable, runbooks("NetcauseUDPReceiveBufferErrors")))

	b.row("IP and ICMP (network layer)")
	b.add(8, 8, timeseries("No route", unitPPS,
		"Packets dropped because no route matched: outgoing (this host's own connections fail with network unreachable) and incoming to forward (the sender gets ICMP net-unreachable).",
		qs(rf("netcause_ip_out_no_routes_total", "out"), rf("netcause_ip_in_no_routes_total", "in (forwarding)")),
		legendTable, runbooks("NetcauseNoRoute")))
	b.add(8, 8, timeseries("ICMP destination unreachable", unitPPS,
		"ICMP destination-unreachable messages received (a router or the peer says the destination cannot be reached, or a firewall REJECTs) and sent. The peer dashboard's ICMP panel names the peer and the kind.",
		qs(rf("netcause_icmp_destination_unreachable_received_total", "received"),
			rf("netcause_icmp_destination_unreachable_sent_total", "sent")),
		legendTable, runbooks("NetcauseDestinationUnreachable")))
	b.add(8, 8, timeseries("Fragmentation and path MTU", unitPPS,
		"Packets too big for the next hop that could not be fragmented, failed reassemblies, ICMPv6 packet-too-big received, fragments created and failed TCP MTU probes: an MTU on the path smaller than the packets.",
		qs(rf("netcause_ip_fragmentation_failures_total", "fragmentation failures"),
			rf("netcause_ip_reassembly_failures_total", "reassembly failures"),
			rf("netcause_icmp_packet_too_big_received_total", "packet too big received"),
			rf("netcause_ip_fragments_created_total", "fragments created"),
			r("netcause_tcp_mtu_probe_failures_total", "TCP MTU probe failures")),
		legendTable, runbooks("NetcauseFragmentationFailures")))
	discard := s.gauge("max", "netcause_ip_routes", by+", family, type", `type=~"blackhole|unreachable|prohibit"`)
	b.add(8, 8, table("Routes that discard", unitPlain,
		"Blackhole, unreachable and prohibit routes per namespace, all tables: what they match is dropped silently or answered with ICMP host-unreachable or administratively-prohibited, and no no-route counter counts it. Routing daemons keep some on purpose (Calico per address block).",
		qs(qt(discard+" > 0")),
		organize([]string{"Time"}, []string{"instance", "netns", "family", "type", "Value"}),
		column("Value", "routes", colored(), thresholdsProp("orange", step("red", 1))),
		runbooks("NetcauseDiscardRoute")))
	b.add(8, 8, table("Namespaces without a default route", unitPlain,
		"Namespaces and families with no unicast default route in any table. Expected for isolated namespaces; a namespace that had one and lost it cannot reach anything beyond its connected and explicit routes.",
		qs(qt(s.gauge("max", "netcause_ip_default_route", by+", family")+" == 0")),
		organize([]string{"Time", "Value"}, []string{"instance", "netns", "family"}),
		runbooks("NetcauseDefaultRouteLost")))
	// rt_cache is one per machine: the namespace selection does not apply.
	h := scope{mInstance}
	b.add(8, 8, timeseries("Packets that found no usable route (per host)", unitPPS,
		"Received IPv4 packets, all namespaces of the host together, whose route lookup failed: no route, or a blackhole, unreachable or prohibit route (which only this counts), or for another address where forwarding is off; and packets dropped for their source address (reverse-path filter, martians).",
		qs(q(h.rate("netcause_route_input_no_route_total", "instance"), "{{instance}} no usable route"),
			q(h.rate("netcause_route_input_martian_source_total", "instance"), "{{instance}} martian source / rp_filter")),
		legendTable, runbooks("NetcauseDiscardRoute")))
	b.add(24, 7, timeseries("IP discards and errors", unitPPS,
		"IP packets dropped for a bad header (TTL exceeded included), an address this host does not accept, truncation, or discarded without error (memory).",
		qs(rf("netcause_ip_header_errors_total", "header errors"),
			rf("netcause_ip_address_errors_total", "address errors"),
			rf("netcause_ip_truncated_packets_total", "truncated"),
			rf("netcause_ip_in_discards_total", "in discards"),
			rf("netcause_ip_out_discards_total", "out discards")),
		legendTable))

	peers(b, s.with(mPeer))
	return b.d
}

// peers adds the per-peer rows, from the sampler's metrics.
func peers(b *builder, p scope) {
	const by = "instance, netns, peer"
	const lg = "{{instance}} {{netns}} → {{peer}}"
	b.row("Per peer (sampler): who does not answer, and how late")
	pr := func(m string) string { return p.rate(m, by) }
	q99 := func(m string, extra ...string) string { return p.quantile(0.99, m, by, extra...) }
	slow := alertParam("NetcausePeerResponseSlow", "threshold")
	b.add(24, 9, table("Peers now", unitEvents,
		"One row per peer over the last rate interval: connections per second, SYNs unanswered and refused, resets and unanswered requests per second, data retransmits, the 99th percentile of the handshake (as client) and of the response time, and the smallest MSS seen. A coloured cell is the column to follow.",
		qs(qt(pr("netcause_peer_connections_total")),
			qt(pr("netcause_peer_syn_unanswered_total")),
			qt(pr("netcause_peer_refused_total")),
			qt(pr("netcause_peer_resets_total")),
			qt(pr("netcause_peer_requests_unanswered_total")),
			qt(pr("netcause_peer_retransmits_total")),
			qt(q99("netcause_peer_handshake_seconds", `role="client"`)),
			qt(q99("netcause_peer_response_seconds")),
			qt(p.gauge("min", "netcause_peer_mss_min_bytes", by))),
		organize([]string{"Time"}, []string{"instance", "netns", "peer"}),
		column("Value #A", "connections/s"),
		column("Value #B", "SYNs unanswered/s", colored(), thresholdsProp("transparent", step("red", 0.001))),
		column("Value #C", "refused/s", colored(), thresholdsProp("transparent", step("red", 0.001))),
		column("Value #D", "resets/s", colored(), thresholdsProp("transparent", step("orange", 0.001))),
		column("Value #E", "requests unanswered/s", colored(), thresholdsProp("transparent", step("red", 0.001))),
		column("Value #F", "retransmits/s", unitProp(unitPPS), colored(), thresholdsProp("transparent", step("orange", 0.001))),
		column("Value #G", "handshake p99", unitProp(unitSeconds)),
		column("Value #H", "response p99", unitProp(unitSeconds), colored(), thresholdsProp("transparent", step("orange", slow))),
		column("Value #I", "smallest MSS", unitProp(unitBytes), colored(), thresholdsProp("red", step("transparent", 536))),
		sortBy("SYNs unanswered/s")))

	b.add(12, 9, heatmap("Handshake latency (as client: SYN → SYN-ACK)", unitSeconds,
		"How long the selected peers take to answer this host's SYNs, over time: each column is a histogram, darker cells hold more handshakes. Retransmitted SYNs count from the first, so a band at 1 s, 3 s … means SYNs were lost.",
		qh(fmt.Sprintf("sum by (le) (rate(%s[%s]))", p.sel("netcause_peer_handshake_seconds_bucket", `role="client"`), RateInterval)),
		runbooks("NetcausePeerSYNUnanswered")))
	b.add(12, 9, heatmap("Response latency (request → first reply byte)", unitSeconds,
		"Time from a request's first byte to the first byte of the reply on sampled connections, both roles: the application's answer time, as the network sees it.",
		qh(fmt.Sprintf("sum by (le) (rate(%s[%s]))", p.sel("netcause_peer_response_seconds_bucket"), RateInterval)),
		runbooks("NetcausePeerResponseSlow", "NetcausePeerNoResponse")))
	pct := func(m string, extra ...string) []model.Target {
		var ts []model.Target
		for _, qv := range []float64{0.5, 0.9, 0.99} {
			ts = append(ts, q(p.quantile(qv, m, by+", role", extra...), fmt.Sprintf("%s {{role}} p%g", lg, qv*100)))
		}
		return ts
	}
	b.add(12, 8, timeseries("Handshake latency percentiles", unitSeconds,
		"50th, 90th and 99th percentiles of the handshake per peer: as client SYN → SYN-ACK, as server SYN-ACK → the client's ACK.",
		pct("netcause_peer_handshake_seconds"), legendTable, runbooks("NetcausePeerSYNUnanswered")))
	b.add(12, 8, timeseries("Response latency percentiles", unitSeconds,
		fmt.Sprintf("50th, 90th and 99th percentiles of the response time per peer and role. Dashed: NetcausePeerResponseSlow's threshold (%g s, p99).", slow),
		pct("netcause_peer_response_seconds"), legendTable,
		thresholds("green", step("red", slow)), evidence("NetcausePeerResponseSlow")))

	b.add(8, 8, timeseries("Unanswered SYNs", unitEvents,
		"Connections whose SYN got neither SYN-ACK nor RST in time: client, ours to the peer; server, the peer's that this host never answered. Something dropped the SYN or its answer.",
		qs(q(p.rate("netcause_peer_syn_unanswered_total", by+", role"), lg+" {{role}}"),
			q(p.rate("netcause_peer_syn_retransmits_total", by+", role"), lg+" {{role}} SYN retransmits")),
		legendTable, evidence("NetcausePeerSYNUnanswered", "NetcausePeerSYNIgnored")))
	b.add(8, 8, timeseries("Refused (SYN answered by RST)", unitEvents,
		"SYNs answered by RST: nothing listens on the port, or a firewall REJECTs with tcp-reset.",
		qs(q(p.rate("netcause_peer_refused_total", by+", role"), lg+" {{role}}")),
		legendTable, runbooks("NetcausePeerPortClosed")))
	b.add(8, 8, timeseries("Resets of established connections", unitEvents,
		"RSTs on connections past the handshake, sent by this host or received: a process that crashed or was killed with connections open.",
		qs(q(p.rate("netcause_peer_resets_total", by+", direction"), lg+" {{direction}}")),
		legendTable, runbooks("NetcausePeerResets")))
	b.add(8, 8, timeseries("Unanswered requests", unitEvents,
		"Requests on sampled connections that got no reply byte within the response timeout, or whose connection closed first: the application is hung, unless the request was lost (then retransmits show).",
		qs(q(p.rate("netcause_peer_requests_unanswered_total", by+", role"), lg+" {{role}}")),
		legendTable, evidence("NetcausePeerNoResponse")))
	b.add(8, 8, timeseries("ICMP errors about the peer", unitPPS,
		"ICMP errors about packets to the peer, by kind: net and host (unreachable), port, protocol, prohibited (a firewall rejects), frag_needed (a smaller MTU on the path).",
		qs(q(p.rate("netcause_peer_icmp_errors_total", by+", kind"), lg+" {{kind}}")),
		legendTable, runbooks("NetcausePeerUnreachable", "NetcausePeerFirewallRejects")))
	b.add(8, 8, timeseries("Retransmits and zero windows", unitPPS,
		"Data segments retransmitted on sampled connections (loss on the path to or from the peer) and segments advertising a zero window (the receiver is not reading).",
		qs(q(p.rate("netcause_peer_retransmits_total", by+", direction"), lg+" {{direction}} retransmits"),
			q(p.rate("netcause_peer_zero_windows_total", by+", direction"), lg+" {{direction}} zero windows")),
		legendTable))
	b.add(8, 8, timeseries("Smallest MSS advertised", unitBytes,
		"Smallest MSS in the peer's handshakes over the last minutes. Below 536 bytes (red) an interface at one end has an MTU far below its peers': handshakes pass, full-size segments vanish.",
		qs(q(p.gauge("min", "netcause_peer_mss_min_bytes", by), lg)), legendTable,
		thresholds("red", step("green", 536)), runbooks("NetcausePeerSmallMSS")))
	b.add(8, 8, timeseries("Small-MSS handshakes", unitEvents,
		"Handshakes per second in which a side advertised an MSS below 536 bytes.",
		qs(q(pr("netcause_peer_small_mss_handshakes_total"), lg)), legendTable, evidence("NetcausePeerSmallMSS")))
	b.add(8, 8, timeseries("Connections and packets", unitPPS,
		"Packets captured to and from the peer (every SYN, FIN and RST; data only of sampled connections) and connections opened per second, by this host's role: the traffic the other panels are a share of.",
		qs(q(p.rate("netcause_peer_packets_total", by+", direction"), lg+" {{direction}} packets"),
			q(p.rate("netcause_peer_connections_total", by+", role"), lg+" {{role}} connections"),
			q(p.rate("netcause_peer_sampled_connections_total", by+", role"), lg+" {{role}} sampled connections")),
		legendTable))
}
