#!/bin/sh
# Rewrites the peer-MTU fixtures (peers.bin, peers.json, peer_remote.bin)
# from the running kernel. Run as root from the repository root:
# collector/testdata/netdev/capture_peers.sh
#
# The captured namespace holds ncpf0 (MTU 1400), a veth whose peer ncpf1
# (MTU 1500) is in a second namespace, and a bridge ncpfbr (MTU set to
# 1500) with the port ncpf2 (MTU 1400), a veth whose peer ncpf3 (MTU 9000)
# is in the same namespace. peer_remote.bin is the kernel's answer to
# RTM_GETLINK for ncpf1 asked from the first namespace with
# IFLA_TARGET_NETNSID.
set -eu
ns=ncpeerfix-$$
peer=ncpeerfixpeer-$$
cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip netns add "$peer"
ip -n "$ns" link set lo up
ip -n "$ns" link add ncpf0 type veth peer name ncpf1 netns "$peer"
ip -n "$ns" link set ncpf0 mtu 1400 up
ip -n "$peer" link set ncpf1 mtu 1500 up
ip -n "$ns" link add ncpf2 type veth peer name ncpf3
ip -n "$ns" link add ncpfbr type bridge
ip -n "$ns" link set ncpf2 mtu 1400 master ncpfbr up
ip -n "$ns" link set ncpfbr mtu 1500 up
ip -n "$ns" link set ncpf3 mtu 9000 up

ip netns exec "$ns" go test ./collector -count=1 -run '^TestNetdevPeerFixture$' -collector.capture
