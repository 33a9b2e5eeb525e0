#!/bin/bash
# The sampler's benchmarks in one run, printed as markdown for
# docs/benchmarks.md:
#  - netcause analyze next to `tshark -q -z conv,tcp` on the same synthetic
#    1M-packet capture (best of ROUNDS, wall and CPU seconds);
#  - BenchmarkOffline: the offline path per packet on one core (CPU ns,
#    allocations);
#  - BenchmarkLiveReplay: live capture of 1M packets replayed at 100,000/s
#    into a veth with tcpreplay (CPU per packet, share of a core, drops);
#  - BenchmarkLiveSYNFlood: peak memory, connections and peer series under
#    a 10 s random-source SYN flood from hping3.
#
#   test/bench/sampler.sh            ROUNDS=5 test/bench/sampler.sh
#
# Needs root, tshark, tcpreplay and hping3 (test/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
for cmd in tshark tcpreplay hping3; do
	command -v "$cmd" >/dev/null || { echo "$cmd not installed: run test/setup.sh" >&2; exit 1; }
done
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

go build -o "$dir/netcause" ./cmd/netcause
go run ./sampler/synth/synthpcap -n 1000000 -o "$dir/1m.pcap" >&2

# best CMD...: the lowest wall time of ROUNDS runs, with its user+sys CPU.
best() {
	local w c min_w="" min_c=""
	for _ in $(seq "$ROUNDS"); do
		read -r w c < <(/usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1 | awk '{print $1, $2+$3}')
		if [ -z "$min_w" ] || awk "BEGIN{exit !($w < $min_w)}"; then min_w=$w min_c=$c; fi
	done
	echo "$min_w $min_c"
}

read -r tw tc < <(best tshark -n -r "$dir/1m.pcap" -q -z conv,tcp)
read -r nw nc < <(best "$dir/netcause" analyze "$dir/1m.pcap")
read -r jw jc < <(best "$dir/netcause" analyze --format json "$dir/1m.pcap")

echo "### Offline: 1,000,000 packets (synthetic, 36k connections), best of $ROUNDS"
echo
echo "| command | wall (s) | CPU (s) | tshark wall / this wall |"
echo "|---|---|---|---|"
echo "| \`tshark -n -r 1m.pcap -q -z conv,tcp\` | $tw | $tc | 1 |"
echo "| \`netcause analyze 1m.pcap\` | $nw | $nc | $(awk "BEGIN{printf \"%.0f\", $tw/$nw}") |"
echo "| \`netcause analyze --format json 1m.pcap\` | $jw | $jc | $(awk "BEGIN{printf \"%.0f\", $tw/$jw}") |"
echo
echo '```'
go test ./sampler -run '^$' -bench '^BenchmarkOffline$' -benchmem -benchtime=5000000x -count="$ROUNDS" | grep '^Benchmark'
go test ./sampler -run '^$' -bench '^BenchmarkLiveReplay$' -benchtime=1x -count="$ROUNDS" | grep '^Benchmark'
go test ./sampler -run '^$' -bench '^BenchmarkLiveSYNFlood$' -benchtime=1x -count=1 | grep '^Benchmark'
echo '```'
