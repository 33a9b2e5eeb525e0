package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// Network layer: routing, ICMP unreachables, fragmentation.
var networkAlerts = []Alert{
	{
		Name: "NetcauseNoRoute", Cause: catalog.NoRoute, Layer: Network, Severity: Critical, For: 2 * time.Minute,
		// OutNoRoutes: a local connect or reply found no route.
		// InNoRoutes: a packet to forward found none (the sender gets ICMP
		// net-unreachable). Blackhole and unreachable routes count in
		// neither: see the runbook.
		Expr: `
sum by (<<node>>, netns, family) (
    rate(<<m "netcause_ip_out_no_routes_total">>[<<window>>])
  +
    rate(<<m "netcause_ip_in_no_routes_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `No route: {{ $labels.netns }} drops {{ $labels.family }} packets on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanize }} {{ $labels.family }} packets/s that match no route: its own connections fail with "network is unreachable", or packets it forwards are answered with ICMP net-unreachable. A missing default gateway, a deleted route or a broken peering. If the destination is a NAT address that should never reach this host, the NAT mapping is wrong instead.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Unroutable packets per second tolerated."},
		},
	},
	{
		Name: "NetcauseDestinationUnreachable", Cause: catalog.NoRoute, Layer: Network, Severity: Warning, For: 3 * time.Minute,
		// ICMP unreachables alone are common (UDP to closed ports, path
		// MTU discovery); together with failing connects they explain
		// them.
		Expr: `
sum by (<<node>>, netns, family) (
  rate(<<m "netcause_icmp_destination_unreachable_received_total">>[<<window>>])
) > <<p "min_rate">>
and on (<<node>>, netns)
  sum by (<<node>>, netns) (rate(<<m "netcause_tcp_attempt_fails_total">>[<<window>>])) > 0`,
		Summary:     `Connections fail with ICMP destination-unreachable in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} receives {{ $value | humanize }} ICMP destination-unreachable/s ({{ $labels.family }}) while its connection attempts fail. A router or this host says the destination cannot be reached: a route missing on the path, or the peer host down (its last hop cannot resolve it). A firewall REJECT answers the same way; NetcauseNoRoute, NetcauseInterfaceDown and the firewall alerts mute this one when they explain it.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "Unreachables per second tolerated."},
		},
	},
	{
		Name: "NetcauseFragmentationFailures", Cause: catalog.MTU, Layer: Network, Severity: Warning, For: 10 * time.Minute,
		// Path MTU discovery makes a few of these per new destination;
		// a sustained rate means the sender never learns (ICMP blocked)
		// or an MTU on the path is wrong.
		Expr: `
sum by (<<node>>, netns, family) (
  rate(<<m "netcause_ip_fragmentation_failures_total">>[<<window>>])
) > <<p "min_rate">>`,
		Summary:     `{{ $labels.family }} packets too big for the next hop in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} drops {{ $value | humanize }} {{ $labels.family }} packets/s that are larger than the outgoing MTU and may not be fragmented. The sender should shrink its packets on the ICMP fragmentation-needed it gets back; when this persists that ICMP is blocked on the way, or an MTU on the path is set wrong.`,
		Params: []Param{
			{Name: "min_rate", Default: "1", Kind: Number, Help: "Fragmentation failures per second tolerated (path MTU discovery makes a few)."},
		},
	},
}
