#!/bin/bash
# Per-collector scrape cost of netcause next to node_exporter, in the same
# run, on the same interfaces: both exporters run inside one throwaway
# network namespace holding N veth interfaces, and each reports its own
# per-collector duration (netcause_scrape_collector_duration_seconds,
# node_scrape_collector_duration_seconds). Prints a markdown table of the
# median over ROUNDS scrapes. Each exporter runs one collector at a time.
#
#   test/bench/scrape.sh [N...]        default: 100 1000
#   ROUNDS=30 test/bench/scrape.sh 100
#   PAIRS="softnet:softnet conntrack:conntrack" test/bench/scrape.sh 100
#
# Needs root, iproute2, curl and prometheus-node-exporter; builds bin/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-20}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(100 1000)

make -s build
ne=$(command -v prometheus-node-exporter || command -v node_exporter)
ns=ncbench-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# pairs: netcause collector name, node_exporter collector name
pairs=${PAIRS:-"netdev:netdev snmp:netstat conntrack:conntrack ethtool:ethtool softnet:softnet"}

# every netcause collector, to turn all but one off
all=$(bin/netcause_exporter --help 2>&1 | grep -o -- '--\[no-\]collector\.[a-z_]*' | sed 's/.*collector\.//')

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

echo "| interfaces | collector | netcause median (ms) | node_exporter median (ms) | ratio |"
echo "|---|---|---|---|---|"
for n in "${sizes[@]}"; do
	ip netns del "$ns" 2>/dev/null || true
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	# n veth interfaces: n/2 pairs, both ends in the namespace, all up.
	{
		for ((i = 0; i < n / 2; i++)); do
			echo "link add vb$i type veth peer name vc$i"
			echo "link set vb$i up"
			echo "link set vc$i up"
		done
	} | ip -n "$ns" -batch -
	# conntrack: make the namespace track connections, as a node would.
	ip netns exec "$ns" iptables -A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT 2>/dev/null || true

	# One collector at a time in each exporter, so that neither's figure
	# includes waiting for a core behind its own other collectors.
	for p in $pairs; do
		a=${p%%:*} b=${p#*:}
		off=()
		for c in $all; do [ "$c" = "$a" ] || off+=("--no-collector.$c"); done
		ip netns exec "$ns" bin/netcause_exporter --web.listen-address=127.0.0.1:10717 --log.level=error \
			"${off[@]}" "--collector.$a" &
		pids+=($!)
		ip netns exec "$ns" "$ne" --web.listen-address=127.0.0.1:9100 --log.level=error \
			--collector.disable-defaults "--collector.$b" &
		pids+=($!)
		sleep 1
		xs=() ys=()
		for ((r = 0; r < ROUNDS + 2; r++)); do
			nc=$(ip netns exec "$ns" curl -sf http://127.0.0.1:10717/metrics)
			nd=$(ip netns exec "$ns" curl -sf http://127.0.0.1:9100/metrics)
			((r < 2)) && continue # warm-up: caches, first netlink sockets
			xs+=("$(awk -v c="$a" '$1 == "netcause_scrape_collector_duration_seconds{collector=\""c"\"}" {print $2}' <<<"$nc")")
			ys+=("$(awk -v c="$b" '$1 == "node_scrape_collector_duration_seconds{collector=\""c"\"}" {print $2}' <<<"$nd")")
		done
		x=$(printf '%s\n' "${xs[@]}" | grep . | median)
		y=$(printf '%s\n' "${ys[@]}" | grep . | median)
		awk -v n="$n" -v a="$a" -v b="$b" -v x="$x" -v y="$y" 'BEGIN {
			if (x == "nan" || y == "nan") { printf "| %d | %s / %s | %s | %s | n/a |\n", n, a, b, x, y; exit }
			printf "| %d | %s / %s | %.3f | %.3f | %.2f |\n", n, a, b, x*1000, y*1000, (y > 0 ? x/y : 0) }'
		for q in "${pids[@]}"; do kill "$q" 2>/dev/null || true; done
		wait 2>/dev/null || true
		pids=()
	done
done
