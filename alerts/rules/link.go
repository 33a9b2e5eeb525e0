package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// Link layer: interfaces, NIC rings, the per-CPU receive backlog and qdiscs.
var linkAlerts = []Alert{
	{
		Name: "NetcauseInterfaceDown", Cause: catalog.PeerDown, Layer: Link, Severity: Critical, For: time.Minute,
		// Only interfaces that were up recently: lo reports "unknown"
		// (0) forever and interfaces kept down on purpose stay quiet.
		Expr: `
<<m "netcause_network_up">> == 0
and on (<<node>>, netns, device)
  max_over_time(<<m "netcause_network_up">>[<<p "lookback">>]) == 1`,
		Summary:     `Interface {{ $labels.device }} is down on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} is down after being up within the last <<p "lookback">>. Every peer behind it is unreachable: SYNs to it go unanswered or a router answers host-unreachable.`,
		Params: []Param{
			{Name: "lookback", Default: "1h", Kind: Duration, Help: "How recently the interface must have been up; interfaces down for longer are taken as down on purpose."},
		},
	},
	{
		Name: "NetcauseInterfaceFlapping", Cause: catalog.PeerDown, Layer: Link, Severity: Warning, For: time.Minute,
		Expr: `
sum by (<<node>>, netns, device) (
  increase(<<m "netcause_network_carrier_changes_total">>[<<p "window">>])
) > <<p "max_changes">>`,
		Summary:     `Interface {{ $labels.device }} is flapping on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} changed carrier {{ printf "%.0f" $value }} times in <<p "window">>: the link, the peer's port or the peer's interface keeps going down and up, and packets are lost each time.`,
		Params: []Param{
			{Name: "window", Default: "15m", Kind: Duration, Help: "Window the carrier changes are counted over."},
			{Name: "max_changes", Default: "4", Kind: Number, Help: "Carrier changes tolerated in the window; one down-up cycle counts two."},
		},
	},
	{
		Name: "NetcauseInterfaceMTUTooSmall", Cause: catalog.MTU, Layer: Link, Severity: Warning, For: 5 * time.Minute,
		// 1280 is the IPv6 minimum; nothing on a modern network runs
		// below it on purpose, while tunnels and overlays (1380-1450)
		// stay above it.
		Expr: `
<<m "netcause_network_mtu_bytes">> < <<p "min_mtu">>
and on (<<node>>, netns, device)
  <<m "netcause_network_up">> == 1`,
		Summary:     `Interface {{ $labels.device }} has MTU {{ $value }} on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} has MTU {{ $value }} bytes, below <<p "min_mtu">>. Packets larger than that are dropped: handshakes (small) pass while requests and responses (large) vanish.`,
		Params: []Param{
			{Name: "min_mtu", Default: "1280", Kind: Number, Help: "Smallest MTU taken as intended (the IPv6 minimum)."},
		},
	},
	{
		Name: "NetcauseMTUDroppingPackets", Cause: catalog.MTU, Layer: Link, Severity: Critical, For: 2 * time.Minute,
		// A veth or bridge port drops frames above its MTU as rx_dropped;
		// physical NICs count them as length errors.
		Expr: `
<<m "netcause_network_mtu_bytes">> < <<p "min_mtu">>
and on (<<node>>, netns, device)
  sum by (<<node>>, netns, device) (
      rate(<<m "netcause_network_receive_dropped_total">>[<<window>>])
    +
      rate(<<m "netcause_network_receive_length_errors_total">>[<<window>>])
  ) > 0`,
		Summary:     `MTU {{ $value }} on {{ $labels.device }} is dropping packets on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} has MTU {{ $value }} bytes and drops received packets: larger packets from its peers cannot pass. Connections open (SYN, ACK are small) and then hang on the first full-size request or response.`,
		Params: []Param{
			{Name: "min_mtu", Default: "1280", Kind: Number, Help: "Smallest MTU taken as intended (the IPv6 minimum)."},
		},
	},
	{
		Name: "NetcauseMTUMismatch", Cause: catalog.MTU, Layer: Link, Severity: Warning, For: 5 * time.Minute,
		// The other end of a veth, or a bridge port's bridge, forwards
		// frames up to its own MTU; this end drops what exceeds its
		// own. Only the lower end is named.
		Expr: `
<<m "netcause_network_mtu_bytes">>
  < on (<<node>>, netns, device)
max by (<<node>>, netns, device) (<<m "netcause_network_peer_mtu_bytes">>)
and on (<<node>>, netns, device)
  <<m "netcause_network_up">> == 1`,
		Summary:     `{{ $labels.device }} has a lower MTU ({{ $value }}) than its peer on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} has MTU {{ $value }} bytes, lower than the other end of its link (its veth peer or its bridge; netcause_network_peer_mtu_bytes). The peer sends frames up to its own MTU and this end drops the larger ones (rx dropped): handshakes and small requests pass, full-size packets vanish, and connections hang on the first large response.`,
	},
	{
		Name: "NetcauseInterfaceReceiveDrops", Cause: catalog.NICOverflow, Layer: Link, Severity: Warning, For: 10 * time.Minute,
		Expr: `
<<ReceiveDropRatio>> > <<p "ratio">>
and on (<<node>>, netns, device)
  sum by (<<node>>, netns, device) (rate(<<m "netcause_network_receive_dropped_total">>[<<window>>])) > <<p "min_rate">>`,
		Summary:     `{{ $labels.device }} drops {{ $value | humanizePercentage }} of received packets on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanizePercentage }} of the packets it receives, without a ring overflow to blame. Usually no receive buffer or a full backlog; also frames larger than the MTU (then NetcauseMTUDroppingPackets fires and mutes this) or frames of a protocol nothing here handles.`,
		Params: []Param{
			{Name: "ratio", Default: "0.01", Kind: Number, Help: "Share of received packets dropped."},
			{Name: "min_rate", Default: "1", Kind: Number, Help: "Drops per second below which the ratio is ignored (idle interfaces)."},
		},
	},
	{
		Name: "NetcauseNICRingOverflow", Cause: catalog.NICOverflow, Layer: Link, Severity: Warning, For: 5 * time.Minute,
		// netdev's missed/fifo/over and the driver's normalised overflow
		// counters overlap; each side is thresholded on its own so the
		// one a driver fills is enough.
		Expr: `
  sum by (<<node>>, netns, device) (
      rate(<<m "netcause_network_receive_missed_errors_total">>[<<window>>])
    +
      rate(<<m "netcause_network_receive_fifo_errors_total">>[<<window>>])
    +
      rate(<<m "netcause_network_receive_over_errors_total">>[<<window>>])
  ) > <<p "min_rate">>
or
  sum by (<<node>>, netns, device) (rate(<<m "netcause_network_receive_overflow_total">>[<<window>>])) > <<p "min_rate">>`,
		Summary:     `NIC {{ $labels.device }} overflows its receive ring on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} loses {{ $value | humanize }} packets/s because its receive ring or FIFO was full: the CPU does not empty the ring fast enough for the arriving traffic.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Overflows per second tolerated."},
		},
	},
	{
		Name: "NetcauseInterfaceErrors", Cause: catalog.Congestion, Layer: Link, Severity: Warning, For: 10 * time.Minute,
		Expr: `
(
    sum by (<<node>>, netns, device) (
        rate(<<m "netcause_network_receive_errors_total">>[<<window>>])
      +
        rate(<<m "netcause_network_transmit_errors_total">>[<<window>>])
    )
  /
    sum by (<<node>>, netns, device) (
        rate(<<m "netcause_network_receive_packets_total">>[<<window>>])
      +
        rate(<<m "netcause_network_transmit_packets_total">>[<<window>>])
    )
) > <<p "ratio">>
and on (<<node>>, netns, device)
  sum by (<<node>>, netns, device) (
      rate(<<m "netcause_network_receive_errors_total">>[<<window>>])
    +
      rate(<<m "netcause_network_transmit_errors_total">>[<<window>>])
  ) > <<p "min_rate">>`,
		Summary:     `{{ $labels.device }} has {{ $value | humanizePercentage }} errored packets on {{ $labels.instance }}`,
		Description: `{{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} fails {{ $value | humanizePercentage }} of its packets with errors: CRC and frame errors point at the cable, optic or a duplex mismatch; carrier errors at the link; length errors at an MTU mismatch. Each is a packet lost on the path.`,
		Params: []Param{
			{Name: "ratio", Default: "0.01", Kind: Number, Help: "Share of packets with errors."},
			{Name: "min_rate", Default: "1", Kind: Number, Help: "Errors per second below which the ratio is ignored."},
		},
	},
	{
		Name: "NetcauseSoftnetDrops", Cause: catalog.NICOverflow, Layer: Link, Severity: Warning, For: 5 * time.Minute,
		Expr:        `<<SoftnetDropsRate>> > <<p "min_rate">>`,
		Summary:     `CPU receive backlog overflows on {{ $labels.instance }}`,
		Description: `{{ $labels.instance }} drops {{ $value | humanize }} packets/s because a CPU's receive backlog already held net.core.netdev_max_backlog packets: the stack cannot keep up with what the NICs hand it, often because one CPU gets all of it.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Backlog drops per second tolerated."},
		},
	},
	{
		Name: "NetcauseQdiscDrops", Cause: catalog.Congestion, Layer: Link, Severity: Warning, For: 5 * time.Minute,
		Expr: `
<<QdiscDropRatio>> > <<p "ratio">>
and on (<<node>>, netns, device)
  sum by (<<node>>, netns, device) (rate(<<m "netcause_qdisc_drops_total" "parent=\"root\"">>[<<window>>])) > <<p "min_rate">>`,
		Summary:     `Queue of {{ $labels.device }} drops {{ $value | humanizePercentage }} of outgoing packets on {{ $labels.instance }}`,
		Description: `The qdisc of {{ $labels.device }} in netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanizePercentage }} of the packets sent through it: more is sent than the link or its shaper passes (congestion), and TCP retransmits what was dropped.`,
		Params: []Param{
			{Name: "ratio", Default: "0.01", Kind: Number, Help: "Share of outgoing packets dropped."},
			{Name: "min_rate", Default: "1", Kind: Number, Help: "Drops per second below which the ratio is ignored."},
		},
	},
}
