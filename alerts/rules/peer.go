package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// Per-peer alerts from the sampler: the same causes as the kernel counters,
// with the peer named, plus what only packets show (the absence of a reply,
// the MSS of a handshake). Layer transport for handshake failures,
// application for replies.
var peerAlerts = []Alert{
	{
		Name: "NetcausePeerSYNUnanswered", Cause: SYNUnanswered, Layer: Transport, Severity: Critical, For: 3 * time.Minute,
		Expr: `
sum by (<<node>>, netns, peer) (
  rate(<<m "netcause_peer_syn_unanswered_total" "role=\"client\"">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `SYNs to {{ $labels.peer }} go unanswered from {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `{{ $value | humanize }} connections/s from netns {{ $labels.netns }} on {{ $labels.instance }} to {{ $labels.peer }} never got a SYN-ACK and nothing came back instead (no RST, no ICMP): the SYN or its answer vanished. A firewall or cloud security group dropping it, the peer host down, a missing return route or a NAT mapping the reply does not find; alerts that pin one of these on this node mute this one.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Unanswered handshakes per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerSYNIgnored", Cause: SYNUnanswered, Layer: Transport, Severity: Critical, For: 3 * time.Minute,
		// The server's side of the same absence: the SYN arrived (the
		// capture sees it before netfilter) and this host never
		// answered, so what drops it is on this host.
		Expr: `
sum by (<<node>>, netns, peer) (
  rate(<<m "netcause_peer_syn_unanswered_total" "role=\"server\"">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `SYNs from {{ $labels.peer }} reach {{ $labels.netns }} on {{ $labels.instance }} and get no answer`,
		Description: `{{ $value | humanize }} SYNs/s from {{ $labels.peer }} arrive in netns {{ $labels.netns }} on {{ $labels.instance }} and this host answers neither SYN-ACK nor RST: something here drops them before the socket. A firewall INPUT rule (a rule without a counter included), reverse-path filtering, a full SYN queue, a full conntrack table; the alerts that pin one of these mute this one.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Ignored SYNs per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerPortClosed", Cause: catalog.PeerDown, Layer: Transport, Severity: Critical, For: 2 * time.Minute,
		Expr: `
sum by (<<node>>, netns, peer) (
  rate(<<m "netcause_peer_refused_total" "role=\"client\"">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `{{ $labels.peer }} refuses connections from {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `{{ $labels.peer }} answers {{ $value | humanize }} SYNs/s from netns {{ $labels.netns }} on {{ $labels.instance }} with RST: nothing listens on the port (service down, crashed, wrong port), or a firewall REJECTs with tcp-reset (then a firewall alert mutes this one).`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Refused handshakes per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerUnreachable", Cause: catalog.NoRoute, Layer: Network, Severity: Critical, For: 2 * time.Minute,
		Expr: `
sum by (<<node>>, netns, peer, kind) (
  rate(<<m "netcause_peer_icmp_errors_total" "kind=~\"net|host\"">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `{{ $labels.peer }} is unreachable ({{ $labels.kind }}) from {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `Packets from netns {{ $labels.netns }} on {{ $labels.instance }} to {{ $labels.peer }} are answered with ICMP {{ $labels.kind }}-unreachable ({{ $value | humanize }}/s): a router on the path has no route to it, or (host) the peer's last hop cannot reach the host, which is down. NetcauseInterfaceDown mutes this one when a local interface explains it.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Unreachables per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerFirewallRejects", Cause: catalog.FirewallDrop, Layer: Netfilter, Severity: Critical, For: 2 * time.Minute,
		Expr: `
sum by (<<node>>, netns, peer) (
  rate(<<m "netcause_peer_icmp_errors_total" "kind=\"prohibited\"">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `A firewall rejects traffic to {{ $labels.peer }} from {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `Packets from netns {{ $labels.netns }} on {{ $labels.instance }} to {{ $labels.peer }} are answered with ICMP administratively-prohibited, or with port-unreachable to TCP, which a TCP stack never sends (it answers RST) and iptables' REJECT sends by default ({{ $value | humanize }}/s): a firewall on the path or on the peer REJECTs them.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Rejections per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerSmallMSS", Cause: catalog.MTU, Layer: Transport, Severity: Critical, For: 2 * time.Minute,
		Expr: `
sum by (<<node>>, netns, peer) (
  rate(<<m "netcause_peer_small_mss_handshakes_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `Handshakes with {{ $labels.peer }} carry a tiny MSS on {{ $labels.instance }}`,
		Description: `{{ $value | humanize }} handshakes/s between netns {{ $labels.netns }} on {{ $labels.instance }} and {{ $labels.peer }} advertise an MSS below 536 bytes: an interface at one end has an MTU far below its peers'. Handshakes pass; full-size requests and responses are dropped and the connections hang.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Small-MSS handshakes per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerResets", Cause: catalog.AppCrash, Layer: Application, Severity: Critical, For: time.Minute, Burst: true,
		// A burst against the peer's own usual rate, as for
		// NetcauseTCPEstablishedResets.
		Expr: `
sum by (<<node>>, netns, peer, direction) (increase(<<m "netcause_peer_resets_total">>[<<window>>])) >= <<p "min_count">>
and on (<<node>>, netns, peer, direction)
  sum by (<<node>>, netns, peer, direction) (rate(<<m "netcause_peer_resets_total">>[<<window>>]))
>
  <<p "burst_factor">> * avg_over_time(
    (sum by (<<node>>, netns, peer, direction) (rate(<<m "netcause_peer_resets_total">>[<<window>>])))[<<p "baseline">>:]
  )`,
		Summary:     `Connections with {{ $labels.peer }} reset ({{ $labels.direction }}) on {{ $labels.instance }}`,
		Description: `{{ printf "%.0f" $value }} RSTs ({{ $labels.direction }}) on established connections between netns {{ $labels.netns }} on {{ $labels.instance }} and {{ $labels.peer }} within <<window>>: one end's process crashed or was killed (OOM) with connections open, or aborted them.`,
		Params: []Param{
			{Name: "min_count", Default: "5", Kind: Number, Help: "Resets within the rate window."},
			{Name: "burst_factor", Default: "3", Kind: Number, Help: "How many times the peer's average reset rate over baseline the window's rate must exceed."},
			{Name: "baseline", Default: "1h", Kind: Duration, Help: "Period the usual reset rate is averaged over."},
		},
	},
	{
		Name: "NetcausePeerNoResponse", Cause: catalog.AppHang, Layer: Application, Severity: Critical, For: 2 * time.Minute,
		// A request the peer's kernel acknowledged but its application
		// never answered. Requests that are retransmitted did not arrive:
		// that is loss (MTU, firewall, congestion), not a hang.
		Expr: `
sum by (<<node>>, netns, peer, role) (
  rate(<<m "netcause_peer_requests_unanswered_total">>[<<window>>])
) > <<p "min_rate">>
unless on (<<node>>, netns, peer)
  sum by (<<node>>, netns, peer) (rate(<<m "netcause_peer_retransmits_total">>[<<window>>])) > 0`,
		Summary:     `{{ $labels.peer }} does not answer requests ({{ $labels.role }} side) on {{ $labels.instance }}`,
		Description: `{{ $value | humanize }} requests/s between netns {{ $labels.netns }} on {{ $labels.instance }} and {{ $labels.peer }} got no reply within the sampler's timeout, although the handshake completed and the request was not retransmitted (it arrived). The server application is hung: deadlock, a slow dependency, saturation.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Unanswered requests per second tolerated."},
		},
	},
	{
		Name: "NetcausePeerResponseSlow", Cause: catalog.AppHang, Layer: Application, Severity: Warning, For: 10 * time.Minute,
		// As for NetcausePeerNoResponse: a request that had to be
		// retransmitted (a small MTU, loss) is answered late because the
		// network delivered it late, not because the application was slow.
		Expr: `
histogram_quantile(<<p "quantile">>,
  sum by (<<node>>, netns, peer, role, le) (
    rate(<<m "netcause_peer_response_seconds_bucket">>[<<window>>])
  )
) > <<p "threshold">>
unless on (<<node>>, netns, peer)
  sum by (<<node>>, netns, peer) (rate(<<m "netcause_peer_retransmits_total">>[<<window>>])) > 0`,
		Summary:     `{{ $labels.peer }} answers slowly ({{ $labels.role }} side) on {{ $labels.instance }}`,
		Description: `The <<p "quantile">> quantile of the time from request to first response byte between netns {{ $labels.netns }} on {{ $labels.instance }} and {{ $labels.peer }} is {{ $value | humanizeDuration }}, and no request or reply between them was retransmitted: the network delivered the request; the application takes that long to answer.`,
		Params: []Param{
			{Name: "quantile", Default: "0.99", Kind: Number, Help: "Quantile of the response time."},
			{Name: "threshold", Default: "2", Kind: Number, Help: "Seconds; set it per service if responses are slow by design."},
		},
	},
}
