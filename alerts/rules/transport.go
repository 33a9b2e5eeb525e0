package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// Transport: the kernel's own TCP and UDP counters, per namespace. They need
// no capture, so they are what every deployment has; the per-peer alerts
// (peer.go) say the same with the peer named.
var transportAlerts = []Alert{
	{
		Name: "NetcauseTCPRetransmitRatioHigh", Cause: catalog.Congestion, Layer: Transport, Severity: Warning, For: 10 * time.Minute,
		Expr: `
<<TCPRetransmitRatio>> > <<p "ratio">>
and on (<<node>>, netns)
  <<TCPSentSegmentsRate>> > <<p "min_segments_rate">>`,
		Summary:     `TCP retransmits {{ $value | humanizePercentage }} of its segments in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} retransmits {{ $value | humanizePercentage }} of the TCP segments it sends: packets are lost on the path (congestion, a shaper, a bad link). A firewall rule dropping a share of packets, an MTU mismatch or a NIC overflow give the same picture; their alerts mute this one.`,
		Params: []Param{
			{Name: "ratio", Default: "0.05", Kind: Number, Help: "Retransmitted segments per segment sent."},
			{Name: "min_segments_rate", Default: "10", Kind: Number, Help: "Segments sent per second below which the ratio is ignored."},
		},
	},
	{
		Name: "NetcauseTCPSYNRetransmits", Cause: SYNUnanswered, Layer: Transport, Severity: Warning, For: 5 * time.Minute,
		Expr: `
<<TCPSYNRetransmitsRate>> > <<p "min_rate">>
and on (<<node>>, netns)
  <<TCPSYNRetransmitsRate>> / <<TCPOpensRate>> > <<p "ratio">>`,
		Summary:     `Handshakes go unanswered in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} retransmits {{ $value | humanize }} SYN or SYN-ACK/s: handshakes get no answer. Candidates: a firewall or security group dropping SYNs, the peer host down, no return route, a NAT mapping replies do not find, a full conntrack table, a full listen queue. The alerts that pin one of these mute this one; without them the cause is outside this node.`,
		Params: []Param{
			{Name: "min_rate", Default: "0.1", Kind: Number, Help: "SYN retransmissions per second tolerated."},
			{Name: "ratio", Default: "0.1", Kind: Number, Help: "SYN retransmissions per connection opened."},
		},
	},
	{
		Name: "NetcauseTCPConnectionsRefused", Cause: catalog.PeerDown, Layer: Transport, Severity: Warning, For: 5 * time.Minute,
		// Failed attempts without SYN retransmits or ICMP errors were
		// answered by RST at once: nothing listens.
		Expr: `
sum by (<<node>>, netns) (rate(<<m "netcause_tcp_attempt_fails_total">>[<<window>>])) > <<p "min_rate">>
unless on (<<node>>, netns)
  <<TCPSYNRetransmitsRate>> > 0
unless on (<<node>>, netns)
  sum by (<<node>>, netns) (rate(<<m "netcause_icmp_destination_unreachable_received_total">>[<<window>>])) > 0`,
		Summary:     `Connections refused in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `{{ $value | humanize }} connection attempts/s from netns {{ $labels.netns }} on {{ $labels.instance }} fail at once, without retransmits or ICMP errors: the peer answers the SYN with RST because nothing listens on the port (service down, wrong port) or a firewall REJECTs with tcp-reset.`,
		Params: []Param{
			{Name: "min_rate", Default: "0.1", Kind: Number, Help: "Refused attempts per second tolerated."},
		},
	},
	{
		Name: "NetcauseTCPEstablishedResets", Cause: catalog.AppCrash, Layer: Transport, Severity: Warning, For: time.Minute, Burst: true,
		// A crash is a burst: a handful of resets within one window, far
		// above the namespace's usual reset rate. Against its own hour
		// rather than against connections opened, so a proxy that resets
		// every connection by design stays quiet and a crash under heavy
		// load still shows.
		Expr: `
sum by (<<node>>, netns) (increase(<<m "netcause_tcp_established_resets_total">>[<<window>>])) >= <<p "min_count">>
and on (<<node>>, netns)
  sum by (<<node>>, netns) (rate(<<m "netcause_tcp_established_resets_total">>[<<window>>]))
>
  <<p "burst_factor">> * avg_over_time(
    (sum by (<<node>>, netns) (rate(<<m "netcause_tcp_established_resets_total">>[<<window>>])))[<<p "baseline">>:]
  )`,
		Summary:     `Established connections reset in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `{{ printf "%.0f" $value }} established connections in netns {{ $labels.netns }} on {{ $labels.instance }} were reset within <<window>>: one end closed them abruptly, typically because its process crashed or was killed (OOM) with connections open, or aborted them.`,
		Params: []Param{
			{Name: "min_count", Default: "5", Kind: Number, Help: "Resets within the rate window."},
			{Name: "burst_factor", Default: "3", Kind: Number, Help: "How many times the namespace's average reset rate over baseline the window's rate must exceed."},
			{Name: "baseline", Default: "1h", Kind: Duration, Help: "Period the usual reset rate is averaged over."},
		},
	},
	{
		Name: "NetcauseTCPListenOverflow", Cause: catalog.NICOverflow, Layer: Transport, Severity: Warning, For: 3 * time.Minute,
		Expr: `
sum by (<<node>>, netns) (
    rate(<<m "netcause_tcp_listen_overflows_total">>[<<window>>])
  +
    rate(<<m "netcause_tcp_request_queue_full_drops_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `Listen queue overflows in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `A listening socket in netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanize }} handshakes/s because its accept queue (or SYN queue) is full; the clients see SYN retransmits and slow connects. The backlog is too small for the burst (somaxconn, listen()), or the application stopped accepting (then it is hung, not just slow).`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Overflows per second tolerated."},
		},
	},
	{
		Name: "NetcauseUDPReceiveBufferErrors", Cause: catalog.NICOverflow, Layer: Transport, Severity: Warning, For: 10 * time.Minute,
		Expr: `
sum by (<<node>>, netns, family) (
  rate(<<m "netcause_udp_receive_buffer_errors_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `UDP datagrams dropped for a full receive buffer in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanize }} {{ $labels.family }} UDP datagrams/s because the receiving socket's buffer is full: the application reads slower than datagrams arrive, or its buffer (SO_RCVBUF, net.core.rmem_max) is too small for the bursts.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Dropped datagrams per second tolerated."},
		},
	},
}
