package rules

import (
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// nodeHandshakesFail holds per node while its handshakes go unanswered or
// fail: the kernel's SYN retransmits and failed attempts, or the sampler's
// unanswered SYNs. Alerts about a state (a route, a NAT table) join on it
// so the state is reported when it hurts, wherever on the node the client
// runs.
const nodeHandshakesFail = `
  (
      (
          sum by (<<node>>) (rate(<<m "netcause_tcp_syn_retransmits_total">>[<<window>>]))
        +
          sum by (<<node>>) (rate(<<m "netcause_tcp_attempt_fails_total">>[<<window>>]))
      ) > 0
    or
      sum by (<<node>>) (rate(<<m "netcause_peer_syn_unanswered_total">>[<<window>>])) > 0
  )`

// Network layer: routing, ICMP unreachables, fragmentation.
var networkAlerts = []Alert{
	{
		Name: "NetcauseNoRoute", Cause: catalog.NoRoute, Layer: Network, Severity: Critical, For: 2 * time.Minute,
		// OutNoRoutes: a local connect or reply found no route.
		// InNoRoutes: a packet to forward found none (the sender gets ICMP
		// net-unreachable). Blackhole, unreachable and prohibit routes
		// count in neither: NetcauseDiscardRoute covers them.
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
		Name: "NetcauseDiscardRoute", Cause: catalog.NoRoute, Layer: Network, Severity: Critical, For: 2 * time.Minute,
		// A route that discards is evidence only while something uses
		// it: routing daemons install blackholes for prefixes they
		// aggregate (Calico one per address block), which are harmless.
		// IPv4 packets forwarded into such a route count in the
		// machine-wide in_no_route, which is then required; IPv6 counts
		// nothing for a blackhole (its unreachable and prohibit routes
		// count InNoRoutes, and NetcauseNoRoute fires), so the IPv6 branch
		// rests on the failing handshakes alone. Local connects into such
		// a route fail at once and count nowhere.
		Expr: `
(
    sum by (<<node>>, netns, family) (
      <<m "netcause_ip_routes" "family=\"ipv4\", type=~\"blackhole|unreachable|prohibit\"" (p "route_selector")>>
    ) > 0
  and on (<<node>>)
    sum by (<<node>>) (rate(<<m "netcause_route_input_no_route_total">>[<<window>>])) > <<p "min_rate">>
or
  sum by (<<node>>, netns, family) (
    <<m "netcause_ip_routes" "family=\"ipv6\", type=~\"blackhole|unreachable|prohibit\"" (p "route_selector")>>
  ) > 0
)
and on (<<node>>)` + nodeHandshakesFail,
		Summary:     `Routes that discard traffic in {{ $labels.netns }} on {{ $labels.instance }} while connections fail`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} holds {{ $value }} {{ $labels.family }} routes that discard what they match (blackhole, unreachable, prohibit) while handshakes on this node go unanswered or fail (and, for IPv4, received packets hit a discarding route or none). Such routes count in no no-route counter: forwarded packets vanish (blackhole) or are answered with ICMP host-unreachable or administratively-prohibited, local connects fail at once. A route added by hand or by a routing daemon (remote-triggered blackhole) covers the destination. Routes expected to discard belong in route_selector.`,
		Params: []Param{
			{Name: "min_rate", Default: "0", Kind: Number, Help: "IPv4 packets per second hitting a discarding route (or none), machine-wide, tolerated."},
			{Name: "route_selector", Default: "", Kind: Matchers, Help: `Matchers that pick the namespaces whose discarding routes count, e.g. netns!="host" where a routing daemon keeps blackholes in the host namespace.`},
		},
	},
	{
		Name: "NetcauseDefaultRouteLost", Cause: catalog.NoRoute, Layer: Network, Severity: Warning, For: 2 * time.Minute,
		// Only a default route that existed within lookback: many
		// namespaces have none by design (isolated networks, containers
		// without a network), and their absence explains nothing.
		// A connect without a route fails before any SYN leaves, so the
		// namespace's own no-route counters count as failing too.
		Expr: `
<<m "netcause_ip_default_route">> == 0
and on (<<node>>, netns, family)
  max_over_time(<<m "netcause_ip_default_route">>[<<p "lookback">>]) == 1
and on (<<node>>)
  (
      sum by (<<node>>) (
          rate(<<m "netcause_ip_out_no_routes_total">>[<<window>>])
        +
          rate(<<m "netcause_ip_in_no_routes_total">>[<<window>>])
      ) > 0
    or
      (
          sum by (<<node>>) (rate(<<m "netcause_tcp_syn_retransmits_total">>[<<window>>]))
        +
          sum by (<<node>>) (rate(<<m "netcause_tcp_attempt_fails_total">>[<<window>>]))
      ) > 0
    or
      sum by (<<node>>) (rate(<<m "netcause_peer_syn_unanswered_total">>[<<window>>])) > 0
  )`,
		Summary:     `{{ $labels.netns }} lost its {{ $labels.family }} default route on {{ $labels.instance }}`,
		Description: `netns {{ $labels.netns }} on {{ $labels.instance }} had a default route ({{ $labels.family }}) within the last <<p "lookback">> and has none now, while packets on this node find no route or handshakes go unanswered or fail. Everything beyond its connected and explicitly routed prefixes is unreachable: a DHCP lease that expired, a routing daemon that withdrew the route, a gateway interface reconfigured.`,
		Params: []Param{
			{Name: "lookback", Default: "1h", Kind: Duration, Help: "How recently the default route must have existed; namespaces without one for longer are taken as built that way."},
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
