#!/bin/sh
# The firewall collector's benchmark, printed as markdown for
# docs/benchmarks.md: one collection of a throwaway namespace holding a
# generated ruleset, timed back to back with the tool an engineer would run
# on the same rules (iptables-save -c for iptables-legacy and iptables-nft,
# nft list ruleset for native nftables), for a firewall-like and a
# kube-proxy-like ruleset of 10k and 50k rules, per backend.
#
#   test/bench/firewall/run.sh            ITER=20 test/bench/firewall/run.sh
#
# Targets (issue 3): collection wall time at most half the tool's, and at
# most 20 MiB allocated per collection at 50k rules. The script exits 1
# when a row misses one. Needs root and the iptables and nftables packages
# (test/setup.sh installs them).
set -eu
cd "$(dirname "$0")/../../.."
ITER=${ITER:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^BenchmarkFirewall$' -benchtime "${ITER}x" -timeout 60m ./collector/ >"$out" 2>&1 || {
	cat "$out" >&2
	exit 1
}

echo "| ruleset | rules | backend | netcause ms | tool | tool ms | ratio | MiB/collection | first collection MiB, ms | series |"
echo "|---|---:|---|---:|---|---:|---:|---:|---:|---:|"
awk -v iter="$ITER" '
/^BenchmarkFirewall\// {
	split($1, p, "/")
	set = substr(p[2], 5); rules = substr(p[3], 7); backend = substr(p[4], 9)
	sub(/-[0-9]+$/, "", backend)
	delete m
	for (i = 3; i < NF; i += 2) m[$(i + 1)] = $i
	tool = backend == "nftables" ? "nft list ruleset" : backend "-save -c"
	ok = m["ratio"] <= 0.5 && (rules < 50000 || m["MiB/collection"] <= 20)
	if (!ok) bad++
	printf "| %s | %s | %s | %.1f | `%s` | %.1f | %.2f%s | %.1f | %.1f, %.0f | %d |\n",
		set, rules, backend, m["netcause-ms"], tool, m["tool-ms"], m["ratio"], ok ? "" : " (miss)",
		m["MiB/collection"], m["first-MiB"], m["first-ms"], m["series"]
}
END {
	printf "\nMedians of %s back-to-back iterations each; go test -bench BenchmarkFirewall -benchtime %sx ./collector/.\n", iter, iter
	exit bad > 0
}' "$out"
