#!/bin/sh
# Rewrites the route fixtures from the running kernel. Run as root from the
# repository root: collector/testdata/route/capture.sh
#
# The route dump is captured inside a throwaway namespace holding a route
# of every type the collector names, in the main table and in table 1000
# (above 255, so only RTA_TABLE carries it), for IPv4 and IPv6, with a
# default route in both families and an ECMP IPv6 route. rt_cache is copied
# from the host as it is: its rows are machine-wide.
set -eu
ns=ncroutefix-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add ncrt0 type veth peer name ncrt1
ip -n "$ns" addr add 10.234.0.1/24 dev ncrt0
ip -n "$ns" addr add fd00:234::1/64 dev ncrt0 nodad
ip -n "$ns" addr add fd00:234:1::1/64 dev ncrt1 nodad
ip -n "$ns" link set ncrt0 up
ip -n "$ns" link set ncrt1 up
ip -n "$ns" route add default via 10.234.0.2
ip -n "$ns" route add blackhole 10.234.5.0/24
ip -n "$ns" route add blackhole 10.234.6.0/24
ip -n "$ns" route add unreachable 10.234.7.0/24
ip -n "$ns" route add prohibit 10.234.8.0/24 table 1000
ip -n "$ns" route add throw 10.234.9.0/24 table 1000
# A blackhole default is not a default route.
ip -n "$ns" route add blackhole default table 1000
ip -n "$ns" -6 route add default via fd00:234::2
ip -n "$ns" -6 route add fd00:234:2::/48 nexthop via fd00:234::3 nexthop via fd00:234:1::3
ip -n "$ns" -6 route add unreachable fd00:234:6::/48
ip -n "$ns" -6 route add prohibit fd00:234:7::/48 table 1000
ip -n "$ns" -6 route add blackhole fd00:234:8::/48

ip netns exec "$ns" go test ./collector -count=1 -run '^TestRouteFixture$' -collector.capture
cat /proc/net/stat/rt_cache >collector/testdata/route/rt_cache
cat /sys/devices/system/cpu/possible >collector/testdata/route/cpu_possible
