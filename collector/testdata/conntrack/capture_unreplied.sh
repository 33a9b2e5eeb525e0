#!/bin/sh
# Rewrites unreplied_dump.bin and unreplied_conntrack_L.txt from the
# running kernel. Run as root from the repository root:
# collector/testdata/conntrack/capture_unreplied.sh
#
# client - router - server, the router forwarding and translating:
#   - 4 SYNs to server:9 SNATed to 10.236.9.9, an address the server has
#     no route back to: unreplied, snat, idle for seconds at the capture;
#   - 1 SYN the same way made just before the capture: unreplied, snat,
#     idle for less than 2 s (the collector leaves it out);
#   - 3 echo connections to server:8080, masqueraded to the router's own
#     address: replied;
#   - 1 SYN to 10.236.3.100:80, DNATed to 10.236.2.99 (nobody): unreplied,
#     dnat; 1 to 10.236.3.101:80, DNATed to 10.236.2.98 and SNATed:
#     unreplied, both;
#   - 1 UDP datagram to server:5555 (closed, not translated): unreplied,
#     none; the ICMP port-unreachable it draws does not count as a reply.
# The dump is every entry ctnetlink sends without a status filter;
# `conntrack -L -o extended` lists the same table right after it. Needs
# python3 (the listener) and conntrack-tools.
set -eu
c=ncuc-$$ r=ncur-$$ s=ncus-$$
bin=$(mktemp)
cleanup() {
	for n in $c $r $s; do ip netns del "$n" 2>/dev/null || true; done
	rm -f "$bin"
}
trap cleanup EXIT INT TERM
go test -c -o "$bin" ./collector

for n in $c $r $s; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n $c link add ncuc0 type veth peer name ncur0 netns $r
ip -n $r link add ncur1 type veth peer name ncus0 netns $s
ip -n $c addr add 10.236.1.2/24 dev ncuc0; ip -n $c link set ncuc0 up
ip -n $r addr add 10.236.1.1/24 dev ncur0; ip -n $r link set ncur0 up
ip -n $r addr add 10.236.2.1/24 dev ncur1; ip -n $r link set ncur1 up
ip -n $s addr add 10.236.2.2/24 dev ncus0; ip -n $s link set ncus0 up
ip -n $c route add default via 10.236.1.1
ip -n $s route add 10.236.1.0/24 via 10.236.2.1
ip netns exec $r sysctl -qw net.ipv4.ip_forward=1
ip netns exec $r iptables -t nat -A PREROUTING -d 10.236.3.100 -p tcp --dport 80 -j DNAT --to-destination 10.236.2.99
ip netns exec $r iptables -t nat -A PREROUTING -d 10.236.3.101 -p tcp --dport 80 -j DNAT --to-destination 10.236.2.98
ip netns exec $r iptables -t nat -A POSTROUTING -o ncur1 -d 10.236.2.98 -j SNAT --to-source 10.236.9.8
ip netns exec $r iptables -t nat -A POSTROUTING -o ncur1 -p tcp --dport 9 -j SNAT --to-source 10.236.9.9
ip netns exec $r iptables -t nat -A POSTROUTING -o ncur1 -p tcp --dport 8080 -j MASQUERADE

# A listener on 8080 that answers and closes; the SYNs to 9 never get
# that far (the SYN-ACK has no route).
ip netns exec $s timeout 20 python3 -c '
import socket
l = socket.create_server(("10.236.2.2", 8080))
for _ in range(3):
    c, _ = l.accept(); c.sendall(b"hi\n"); c.close()
' &
sleep 0.5
syn() { ip netns exec $c timeout "$2" bash -c "exec 3<>/dev/tcp/$1" 2>/dev/null || true; }
for i in 1 2 3; do syn 10.236.2.2/8080 2; done
for i in 1 2 3 4; do syn 10.236.2.2/9 0.3; done
syn 10.236.3.100/80 0.3
syn 10.236.3.101/80 0.3
ip netns exec $c bash -c 'echo x >/dev/udp/10.236.2.2/5555'
sleep 4
syn 10.236.2.2/9 0.3
cd collector
ip netns exec $r "$bin" -test.count=1 -test.run '^TestConntrackUnrepliedFixture$' -collector.capture
