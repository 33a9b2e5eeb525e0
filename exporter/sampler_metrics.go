package exporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/sampler"
)

// The sampler's metrics. Per-peer series carry netns, peer (the top K
// peers, --sampler.max-peers, plus "other") and, where it matters, this
// host's role in the connection (client: it sent the SYN; server) or the
// direction of the packets (sent by this host; received).
func peerCounter(name, help string, labels ...string) *catalog.Def {
	return catalog.New("peer", name, prometheus.CounterValue, help, append([]string{"netns", "peer"}, labels...)...)
}

func samplerMetric(name string, typ prometheus.ValueType, help string) *catalog.Def {
	return catalog.New("sampler", name, typ, help, "netns")
}

var (
	peerPackets = peerCounter("packets_total",
		"Packets captured to (direction=sent) or from (received) the peer: every SYN, FIN and RST, data packets only of sampled connections.", "direction")
	peerConnections = peerCounter("connections_total",
		"Connections with the peer, by this host's role (client: it sent the SYN).", "role")
	peerSampled = peerCounter("sampled_connections_total",
		"Connections whose data packets are analysed (retransmissions, response latency): the share set by --sampler.rate.", "role")
	peerHandshake = catalog.New("peer", "handshake_seconds", prometheus.UntypedValue,
		"Handshake latency: SYN to SYN-ACK as the client sees it (role=client), SYN-ACK to the client's ACK as the server sees it (role=server). Retransmitted SYNs count from the first.",
		"netns", "peer", "role").AsHistogram().Reveals(catalog.Congestion, catalog.FirewallDrop)
	peerResponse = catalog.New("peer", "response_seconds", prometheus.UntypedValue,
		"Response latency: the client's first request byte to the server's first reply byte, protocol-agnostic (a change of direction), sampled connections only.",
		"netns", "peer", "role").AsHistogram().Reveals(catalog.AppHang)
	peerSynUnanswered = peerCounter("syn_unanswered_total",
		"Connections whose SYN got neither SYN-ACK nor RST within --sampler.syn-timeout (role=client: ours; role=server: the peer's, never answered here).", "role").
		Reveals(catalog.FirewallDrop, catalog.NoRoute, catalog.PeerDown, catalog.NATMismatch)
	peerSynRetransmits = peerCounter("syn_retransmits_total",
		"SYNs sent again on a connection that was not yet answered.", "role").
		Reveals(catalog.FirewallDrop, catalog.NoRoute, catalog.PeerDown, catalog.NATMismatch, catalog.ConntrackFull)
	peerSynCollisions = peerCounter("syn_collisions_total",
		"SYNs answered by a bare ACK instead of a SYN-ACK: the server still held the 4-tuple (TIME_WAIT, or half-open from an earlier fault) and the client reset it and retried. Counted from the ACK or the client's RST; not unanswered.", "role")
	peerRefused = peerCounter("refused_total",
		"SYNs answered by RST: nothing listens on the port.", "role").Reveals(catalog.PeerDown)
	peerResets = peerCounter("resets_total",
		"RST segments on connections past the handshake (or seen mid-stream), sent by this host or received; an RST that answers a SYN-ACK arriving after its client gave up is not counted.", "direction").Reveals(catalog.AppCrash)
	peerRetransmits = peerCounter("retransmits_total",
		"Data segments retransmitted (as tshark's tcp.analysis.retransmission), sampled connections only.", "direction").Reveals(catalog.Congestion)
	peerZeroWindows = peerCounter("zero_windows_total",
		"Segments advertising a zero receive window (sampled connections): the receiving application is not reading.", "direction").Reveals(catalog.AppHang)
	peerUnanswered = peerCounter("requests_unanswered_total",
		"Requests with no reply byte within --sampler.response-timeout, or whose connection closed first; sampled connections only.", "role").Reveals(catalog.AppHang)
	peerICMP = peerCounter("icmp_errors_total",
		"ICMP destination-unreachable and packet-too-big errors about packets to the peer, by kind: net, host, port, protocol, prohibited, frag_needed, other.", "kind").
		Reveals(catalog.NoRoute, catalog.PeerDown, catalog.FirewallDrop, catalog.MTU)
	peerSmallMSS = peerCounter("small_mss_handshakes_total",
		"Handshakes in which a side advertised an MSS below 536 bytes: an MTU far too small on the path.").Reveals(catalog.MTU)
	peerMinMSS = catalog.New("peer", "mss_min_bytes", prometheus.GaugeValue,
		"Smallest MSS advertised in the peer's handshakes over the last 5 to 10 minutes; absent when none was seen.", "netns", "peer").Reveals(catalog.MTU)

	samplerCaptured    = samplerMetric("packets_captured_total", prometheus.CounterValue, "Packets the sampler read from its capture ring.")
	samplerIgnored     = samplerMetric("packets_ignored_total", prometheus.CounterValue, "Captured packets left aside: other interfaces than --sampler.interfaces, loopback copies, outside --sampler.filter.")
	samplerUndecodable = samplerMetric("packets_undecodable_total", prometheus.CounterValue, "Captured packets whose IP or TCP header could not be decoded.")
	samplerSampled     = samplerMetric("sampled_packets_total", prometheus.CounterValue, "TCP packets of sampled connections analysed.")
	samplerKernelPkts  = samplerMetric("kernel_packets_total", prometheus.CounterValue, "Packets the kernel filter passed to the sampler, dropped ones included.")
	samplerKernelDrops = samplerMetric("kernel_drops_total", prometheus.CounterValue, "Packets the kernel dropped because the sampler's ring was full: a blind spot of the sampler.")
	samplerConns       = samplerMetric("connections", prometheus.GaugeValue, "Connections tracked now.")
	samplerConnsLimit  = samplerMetric("connections_limit", prometheus.GaugeValue, "Most connections tracked at once (--sampler.max-connections).")
	samplerEvicted     = samplerMetric("connections_evicted_total", prometheus.CounterValue, "Connections dropped from the table before their end because it was full.")
	samplerPeers       = samplerMetric("peers", prometheus.GaugeValue, "Peers with their own series now, at most --sampler.max-peers; the rest are peer=\"other\".")
	samplerRatio       = samplerMetric("sample_ratio", prometheus.GaugeValue, "Share of connections whose data packets are analysed (--sampler.rate).")
	samplerCPU         = samplerMetric("cpu_seconds_total", prometheus.CounterValue, "CPU time of the namespace's capture thread: reading the ring, decoding, tracking.")
)

var (
	roles      = [2]string{"client", "server"}
	directions = [2]string{"sent", "received"}
)

// emitHistogram sends a histogram built from a sampler.Histogram.
func emitHistogram(ch chan<- prometheus.Metric, d *catalog.Def, h *sampler.Histogram, labels ...string) {
	m, err := prometheus.NewConstHistogram(d.Desc(), h.Count, h.Sum, h.Cumulative(), labels...)
	if err != nil {
		m = prometheus.NewInvalidMetric(d.Desc(), err)
	}
	ch <- m
}

// emitPeer sends one peer's series.
func emitPeer(ch chan<- prometheus.Metric, ns string, p *sampler.PeerSnapshot) {
	s := &p.Stats
	for i := range 2 {
		role, dir := roles[i], directions[i]
		peerPackets.Emit(ch, float64(s.Packets[i]), ns, p.Label, dir)
		peerConnections.Emit(ch, float64(s.Connections[i]), ns, p.Label, role)
		peerSampled.Emit(ch, float64(s.Sampled[i]), ns, p.Label, role)
		emitHistogram(ch, peerHandshake, &s.Handshake[i], ns, p.Label, role)
		emitHistogram(ch, peerResponse, &s.Response[i], ns, p.Label, role)
		peerSynUnanswered.Emit(ch, float64(s.SynUnanswered[i]), ns, p.Label, role)
		peerSynRetransmits.Emit(ch, float64(s.SynRetransmits[i]), ns, p.Label, role)
		peerSynCollisions.Emit(ch, float64(s.SYNCollisions[i]), ns, p.Label, role)
		peerRefused.Emit(ch, float64(s.Refused[i]), ns, p.Label, role)
		peerUnanswered.Emit(ch, float64(s.Unanswered[i]), ns, p.Label, role)
		peerResets.Emit(ch, float64(s.Resets[i]), ns, p.Label, dir)
		peerRetransmits.Emit(ch, float64(s.Retransmits[i]), ns, p.Label, dir)
		peerZeroWindows.Emit(ch, float64(s.ZeroWindows[i]), ns, p.Label, dir)
	}
	for _, k := range sampler.ICMPKinds() {
		peerICMP.Emit(ch, float64(s.ICMP[k]), ns, p.Label, k.String())
	}
	peerSmallMSS.Emit(ch, float64(s.SmallMSS), ns, p.Label)
	if p.MinMSS > 0 {
		peerMinMSS.Emit(ch, float64(p.MinMSS), ns, p.Label)
	}
}

// emitSampler sends a namespace's sampler self-metrics and peers.
func emitSampler(ch chan<- prometheus.Metric, ns string, s *sampler.LiveStats, cfg *sampler.LiveConfig) {
	samplerCaptured.Emit(ch, float64(s.Captured), ns)
	samplerIgnored.Emit(ch, float64(s.Ignored), ns)
	samplerUndecodable.Emit(ch, float64(s.Undecodable), ns)
	samplerSampled.Emit(ch, float64(s.Tracker.Sampled), ns)
	samplerKernelPkts.Emit(ch, float64(s.KernelPackets), ns)
	samplerKernelDrops.Emit(ch, float64(s.KernelDrops), ns)
	samplerConns.Emit(ch, float64(s.Connections), ns)
	samplerConnsLimit.Emit(ch, float64(cfg.Tracker.MaxConnections), ns)
	samplerEvicted.Emit(ch, float64(s.Tracker.Evicted), ns)
	samplerPeers.Emit(ch, float64(len(s.Peers)-1), ns) // without "other"
	rate := cfg.Tracker.SampleRate
	if rate <= 0 || rate > 1 {
		rate = 1
	}
	samplerRatio.Emit(ch, rate, ns)
	samplerCPU.Emit(ch, s.CPU.Seconds(), ns)
	for i := range s.Peers {
		emitPeer(ch, ns, &s.Peers[i])
	}
}
