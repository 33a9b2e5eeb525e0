#!/bin/sh
# Rewrites the netdev and ethtool fixtures from the running kernel. Run as
# root from the repository root: collector/testdata/netdev/capture.sh
#
# netdev and the veth driver statistics are captured inside a throwaway
# namespace holding lo, a bridge and ncfix0, a veth with MTU 100 whose peer
# (in a second namespace, offloads off) sent it pings larger than that, so
# its rx dropped is non-zero. Ring parameters are read (not changed) from
# the first interface of the host namespace that has them, since no virtual
# device that can live in a test namespace has rings on this kernel.
set -eu
ns=ncfix-$$
peer=ncfixpeer-$$
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip netns add "$peer"
ip -n "$ns" link set lo up
ip -n "$ns" link add ncfix0 type veth peer name ncfix1 netns "$peer"
ip -n "$ns" addr add 10.213.77.1/24 dev ncfix0
ip -n "$peer" addr add 10.213.77.2/24 dev ncfix1
ip -n "$ns" link set ncfix0 mtu 100 up
ip -n "$peer" link set ncfix1 up
ip netns exec "$peer" ethtool -K ncfix1 tso off gso off
ip -n "$ns" link add ncfixbr type bridge
# Datagrams of 1028 bytes cannot enter an MTU-100 veth: dropped. bash's
# /dev/udp sends them without needing ping or nc installed.
ip netns exec "$peer" bash -c 'for i in 1 2 3; do head -c 1000 /dev/zero >/dev/udp/10.213.77.1/9; done'
sleep 0.2

ip netns exec "$ns" go test ./collector -count=1 -run '^(TestNetdevFixture|TestEthtoolStatsFixture)$' -collector.capture
go test ./collector -count=1 -run '^TestEthtoolRingFixture$' -collector.capture
