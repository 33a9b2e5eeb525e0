package collector

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The snmp collector turns the kernel's protocol counters (/proc/net/snmp,
// netstat and snmp6 of the target namespace) into named metrics. Only the
// counters that say where a packet was lost or a connection failed are
// exported; the kernel names stay in the mapping table below and in
// docs/metrics.md.

func init() {
	Register("snmp", true, PerNamespace, func(_ *slog.Logger) (Collector, error) { return snmpCollector{}, nil })
}

var (
	tcpActiveOpens   = counter("tcp", "active_opens_total", "Connections this namespace opened (SYN sent). Tcp ActiveOpens.")
	tcpPassiveOpens  = counter("tcp", "passive_opens_total", "Connections this namespace accepted (SYN received). Tcp PassiveOpens.")
	tcpAttemptFails  = counter("tcp", "attempt_fails_total", "Connection attempts that failed: SYN-SENT or SYN-RECV back to CLOSED (refused, timed out) or LISTEN. Tcp AttemptFails.").Reveals(catalog.PeerDown, catalog.FirewallDrop, catalog.NoRoute)
	tcpEstabResets   = counter("tcp", "established_resets_total", "Established connections reset (RST sent or received). Tcp EstabResets.").Reveals(catalog.AppCrash)
	tcpCurrEstab     = gauge("tcp", "connections_established", "Connections now in ESTABLISHED or CLOSE-WAIT. Tcp CurrEstab.")
	tcpInSegs        = counter("tcp", "received_segments_total", "TCP segments received, errors included. Tcp InSegs.")
	tcpOutSegs       = counter("tcp", "sent_segments_total", "TCP segments sent, retransmissions excluded. Tcp OutSegs.").Reveals(catalog.Congestion)
	tcpRetransSegs   = counter("tcp", "retransmitted_segments_total", "TCP segments retransmitted. Tcp RetransSegs.").Reveals(catalog.Congestion)
	tcpInErrs        = counter("tcp", "receive_errors_total", "TCP segments received in error (bad checksum, bad header). Tcp InErrs.")
	tcpOutRsts       = counter("tcp", "sent_resets_total", "TCP segments sent with RST. Tcp OutRsts.").Reveals(catalog.PeerDown, catalog.AppCrash)
	tcpSynRetrans    = counter("tcp", "syn_retransmits_total", "SYN and SYN-ACK retransmissions: the handshake's answer did not come. TcpExt TCPSynRetrans.").Reveals(catalog.FirewallDrop, catalog.NoRoute, catalog.PeerDown, catalog.NATMismatch, catalog.ConntrackFull)
	tcpTimeouts      = counter("tcp", "timeouts_total", "Retransmission timer expiries. TcpExt TCPTimeouts.").Reveals(catalog.Congestion, catalog.MTU)
	tcpFastRetrans   = counter("tcp", "fast_retransmits_total", "Fast retransmissions (triggered by duplicate ACKs or SACK). TcpExt TCPFastRetrans.").Reveals(catalog.Congestion)
	tcpLostRetrans   = counter("tcp", "lost_retransmits_total", "Retransmissions that were lost again. TcpExt TCPLostRetransmit.").Reveals(catalog.Congestion)
	tcpListenOverf   = counter("tcp", "listen_overflows_total", "Handshakes completed while the listener's accept queue was full. TcpExt ListenOverflows.").Reveals(catalog.NICOverflow, catalog.AppHang)
	tcpListenDrops   = counter("tcp", "listen_drops_total", "SYNs and ACKs dropped at a listening socket, overflows included. TcpExt ListenDrops.").Reveals(catalog.NICOverflow)
	tcpReqQFullDrops = counter("tcp", "request_queue_full_drops_total", "SYNs dropped because the SYN queue was full and SYN cookies were off. TcpExt TCPReqQFullDrop.").Reveals(catalog.NICOverflow)
	tcpSynCookies    = counter("tcp", "syn_cookies_sent_total", "SYN cookies sent because the SYN queue was full. TcpExt SyncookiesSent.").Reveals(catalog.NICOverflow)
	tcpBacklogDrops  = counter("tcp", "backlog_drops_total", "Segments dropped because the socket backlog was full. TcpExt TCPBacklogDrop.").Reveals(catalog.NICOverflow)
	tcpRcvQDrops     = counter("tcp", "receive_queue_drops_total", "Segments dropped because the receive buffer was full. TcpExt TCPRcvQDrop.").Reveals(catalog.NICOverflow)
	tcpOFODrops      = counter("tcp", "out_of_order_drops_total", "Out-of-order segments dropped for lack of receive memory. TcpExt TCPOFODrop.").Reveals(catalog.Congestion)
	tcpZeroWinDrops  = counter("tcp", "zero_window_drops_total", "Segments dropped because the receive window was zero. TcpExt TCPZeroWindowDrop.").Reveals(catalog.AppHang)
	tcpMTUPFail      = counter("tcp", "mtu_probe_failures_total", "Path MTU probes that failed. TcpExt TCPMTUPFail.").Reveals(catalog.MTU)
	tcpAborts        = counter("tcp", "aborts_total", "Connections aborted with RST by this host, by reason: data (data after close), close (close with unread data), memory, timeout, linger. TcpExt TCPAbortOn*.", "reason").Reveals(catalog.AppCrash)

	ipReceived      = counter("ip", "received_packets_total", "IP packets received, errors included. Ip InReceives / Ip6InReceives.", "family")
	ipHdrErrors     = counter("ip", "header_errors_total", "IP packets dropped for a bad header (TTL exceeded included). InHdrErrors.", "family")
	ipAddrErrors    = counter("ip", "address_errors_total", "IP packets dropped for a destination address this host does not accept. InAddrErrors.", "family").Reveals(catalog.NATMismatch)
	ipInDiscards    = counter("ip", "in_discards_total", "Received IP packets discarded without error (lack of memory). InDiscards.", "family").Reveals(catalog.NICOverflow)
	ipOutDiscards   = counter("ip", "out_discards_total", "Outgoing IP packets discarded without error. OutDiscards.", "family").Reveals(catalog.Congestion)
	ipOutNoRoutes   = counter("ip", "out_no_routes_total", "Outgoing IP packets dropped because no route matched. OutNoRoutes.", "family").Reveals(catalog.NoRoute)
	ipInNoRoutes    = counter("ip", "in_no_routes_total", "Received IP packets dropped because no route matched (forwarding). IpExt InNoRoutes / Ip6InNoRoutes.", "family").Reveals(catalog.NoRoute)
	ipTruncated     = counter("ip", "truncated_packets_total", "Received IP packets shorter than their header says. InTruncatedPkts.", "family").Reveals(catalog.MTU)
	ipForwarded     = counter("ip", "forwarded_packets_total", "IP packets forwarded. ForwDatagrams / Ip6OutForwDatagrams.", "family")
	ipReasmFails    = counter("ip", "reassembly_failures_total", "Fragment reassemblies that failed (a fragment missing or timed out). ReasmFails.", "family").Reveals(catalog.MTU)
	ipFragFails     = counter("ip", "fragmentation_failures_total", "Packets dropped because they needed fragmenting but could not be (DF set, or IPv6). FragFails.", "family").Reveals(catalog.MTU)
	ipFragCreates   = counter("ip", "fragments_created_total", "Fragments created because a packet exceeded the outgoing MTU. FragCreates.", "family").Reveals(catalog.MTU)
	icmpUnreachIn   = counter("icmp", "destination_unreachable_received_total", "ICMP destination-unreachable messages received (all codes: net, host, port, fragmentation-needed, prohibited). InDestUnreachs.", "family").Reveals(catalog.NoRoute, catalog.PeerDown, catalog.FirewallDrop, catalog.MTU)
	icmpUnreachOut  = counter("icmp", "destination_unreachable_sent_total", "ICMP destination-unreachable messages sent. OutDestUnreachs.", "family").Reveals(catalog.NoRoute, catalog.PeerDown)
	icmpTooBigIn    = counter("icmp", "packet_too_big_received_total", "ICMPv6 packet-too-big messages received: a path MTU is smaller than the packets sent. Icmp6InPktTooBigs. IPv4 counts fragmentation-needed only within destination-unreachable.", "family").Reveals(catalog.MTU)
	icmpTooBigOut   = counter("icmp", "packet_too_big_sent_total", "ICMPv6 packet-too-big messages sent. Icmp6OutPktTooBigs.", "family").Reveals(catalog.MTU)
	icmpInErrors    = counter("icmp", "receive_errors_total", "ICMP messages received in error. InErrors.", "family")
	udpNoPorts      = counter("udp", "no_port_total", "UDP datagrams received for a port nobody listens on. NoPorts.", "family").Reveals(catalog.PeerDown)
	udpInErrors     = counter("udp", "receive_errors_total", "UDP datagrams that could not be delivered, buffer errors included. InErrors.", "family").Reveals(catalog.NICOverflow)
	udpRcvbufErrors = counter("udp", "receive_buffer_errors_total", "UDP datagrams dropped because the socket receive buffer was full. RcvbufErrors.", "family").Reveals(catalog.NICOverflow)
	udpSndbufErrors = counter("udp", "send_buffer_errors_total", "UDP datagrams dropped because the socket send buffer was full. SndbufErrors.", "family").Reveals(catalog.Congestion)
	udpCsumErrors   = counter("udp", "checksum_errors_total", "UDP datagrams received with a bad checksum. InCsumErrors.", "family")
)

// snmpField maps one kernel counter to a metric and its extra label values.
type snmpField struct {
	section, name string // section is "" for snmp6
	def           *catalog.Def
	labels        []string
}

var (
	v4, v6 = []string{"ipv4"}, []string{"ipv6"}

	// snmpFields reads /proc/net/snmp and /proc/net/netstat.
	snmpFields = []snmpField{
		{"Tcp", "ActiveOpens", tcpActiveOpens, nil},
		{"Tcp", "PassiveOpens", tcpPassiveOpens, nil},
		{"Tcp", "AttemptFails", tcpAttemptFails, nil},
		{"Tcp", "EstabResets", tcpEstabResets, nil},
		{"Tcp", "CurrEstab", tcpCurrEstab, nil},
		{"Tcp", "InSegs", tcpInSegs, nil},
		{"Tcp", "OutSegs", tcpOutSegs, nil},
		{"Tcp", "RetransSegs", tcpRetransSegs, nil},
		{"Tcp", "InErrs", tcpInErrs, nil},
		{"Tcp", "OutRsts", tcpOutRsts, nil},
		{"TcpExt", "TCPSynRetrans", tcpSynRetrans, nil},
		{"TcpExt", "TCPTimeouts", tcpTimeouts, nil},
		{"TcpExt", "TCPFastRetrans", tcpFastRetrans, nil},
		{"TcpExt", "TCPLostRetransmit", tcpLostRetrans, nil},
		{"TcpExt", "ListenOverflows", tcpListenOverf, nil},
		{"TcpExt", "ListenDrops", tcpListenDrops, nil},
		{"TcpExt", "TCPReqQFullDrop", tcpReqQFullDrops, nil},
		{"TcpExt", "SyncookiesSent", tcpSynCookies, nil},
		{"TcpExt", "TCPBacklogDrop", tcpBacklogDrops, nil},
		{"TcpExt", "TCPRcvQDrop", tcpRcvQDrops, nil},
		{"TcpExt", "TCPOFODrop", tcpOFODrops, nil},
		{"TcpExt", "TCPZeroWindowDrop", tcpZeroWinDrops, nil},
		{"TcpExt", "TCPMTUPFail", tcpMTUPFail, nil},
		{"TcpExt", "TCPAbortOnData", tcpAborts, []string{"data"}},
		{"TcpExt", "TCPAbortOnClose", tcpAborts, []string{"close"}},
		{"TcpExt", "TCPAbortOnMemory", tcpAborts, []string{"memory"}},
		{"TcpExt", "TCPAbortOnTimeout", tcpAborts, []string{"timeout"}},
		{"TcpExt", "TCPAbortOnLinger", tcpAborts, []string{"linger"}},
		{"Ip", "InReceives", ipReceived, v4},
		{"Ip", "InHdrErrors", ipHdrErrors, v4},
		{"Ip", "InAddrErrors", ipAddrErrors, v4},
		{"Ip", "InDiscards", ipInDiscards, v4},
		{"Ip", "OutDiscards", ipOutDiscards, v4},
		{"Ip", "OutNoRoutes", ipOutNoRoutes, v4},
		{"IpExt", "InNoRoutes", ipInNoRoutes, v4},
		{"IpExt", "InTruncatedPkts", ipTruncated, v4},
		{"Ip", "ForwDatagrams", ipForwarded, v4},
		{"Ip", "ReasmFails", ipReasmFails, v4},
		{"Ip", "FragFails", ipFragFails, v4},
		{"Ip", "FragCreates", ipFragCreates, v4},
		{"Icmp", "InDestUnreachs", icmpUnreachIn, v4},
		{"Icmp", "OutDestUnreachs", icmpUnreachOut, v4},
		{"Icmp", "InErrors", icmpInErrors, v4},
		{"Udp", "NoPorts", udpNoPorts, v4},
		{"Udp", "InErrors", udpInErrors, v4},
		{"Udp", "RcvbufErrors", udpRcvbufErrors, v4},
		{"Udp", "SndbufErrors", udpSndbufErrors, v4},
		{"Udp", "InCsumErrors", udpCsumErrors, v4},
	}

	// snmp6Fields reads /proc/net/snmp6. TCP has no IPv6 counters of its
	// own: the Tcp lines above count both families.
	snmp6Fields = []snmpField{
		{"", "Ip6InReceives", ipReceived, v6},
		{"", "Ip6InHdrErrors", ipHdrErrors, v6},
		{"", "Ip6InAddrErrors", ipAddrErrors, v6},
		{"", "Ip6InDiscards", ipInDiscards, v6},
		{"", "Ip6OutDiscards", ipOutDiscards, v6},
		{"", "Ip6OutNoRoutes", ipOutNoRoutes, v6},
		{"", "Ip6InNoRoutes", ipInNoRoutes, v6},
		{"", "Ip6InTruncatedPkts", ipTruncated, v6},
		{"", "Ip6OutForwDatagrams", ipForwarded, v6},
		{"", "Ip6ReasmFails", ipReasmFails, v6},
		{"", "Ip6FragFails", ipFragFails, v6},
		{"", "Ip6FragCreates", ipFragCreates, v6},
		{"", "Icmp6InDestUnreachs", icmpUnreachIn, v6},
		{"", "Icmp6OutDestUnreachs", icmpUnreachOut, v6},
		{"", "Icmp6InPktTooBigs", icmpTooBigIn, v6},
		{"", "Icmp6OutPktTooBigs", icmpTooBigOut, v6},
		{"", "Icmp6InErrors", icmpInErrors, v6},
		{"", "Udp6NoPorts", udpNoPorts, v6},
		{"", "Udp6InErrors", udpInErrors, v6},
		{"", "Udp6RcvbufErrors", udpRcvbufErrors, v6},
		{"", "Udp6SndbufErrors", udpSndbufErrors, v6},
		{"", "Udp6InCsumErrors", udpCsumErrors, v6},
	}
)

type snmpCollector struct{}

func (snmpCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	sections := map[string]map[string]float64{}
	for _, file := range []string{"snmp", "netstat"} {
		s, err := readParsed(filepath.Join(netns.ProcNet, file), parseProcNetSNMP)
		if err != nil {
			return err
		}
		for k, v := range s {
			sections[k] = v
		}
	}
	emitSNMP(t.Name, sections, ch)

	// A kernel booted with ipv6.disable=1 has no snmp6; IPv4 still counts.
	s6, err := readParsed(filepath.Join(netns.ProcNet, "snmp6"), parseSNMP6)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	emitSNMP6(t.Name, s6, ch)
	return nil
}

func emitSNMP(ns string, sections map[string]map[string]float64, ch chan<- prometheus.Metric) {
	for _, f := range snmpFields {
		if v, ok := sections[f.section][f.name]; ok {
			f.def.Emit(ch, v, append([]string{ns}, f.labels...)...)
		}
	}
}

func emitSNMP6(ns string, values map[string]float64, ch chan<- prometheus.Metric) {
	for _, f := range snmp6Fields {
		if v, ok := values[f.name]; ok {
			f.def.Emit(ch, v, append([]string{ns}, f.labels...)...)
		}
	}
}

// readParsed opens path and hands it to parse, naming the file in errors.
func readParsed[T any](path string, parse func(r io.Reader) (T, error)) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	v, err := parse(f)
	if err != nil {
		return v, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
