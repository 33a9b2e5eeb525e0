package rules

import "time"

// Meta: what netcause cannot see. A silent pack is only good news when these
// are silent too.
var metaAlerts = []Alert{
	{
		Name: "NetcauseExporterDown", Cause: BlindSpot, Layer: Meta, Severity: Warning, For: 5 * time.Minute,
		// up is Prometheus' own series; the job is the deployment's
		// choice.
		Expr:        `up{<<p "job_selector">>} == 0`,
		Summary:     `netcause exporter {{ $labels.instance }} is down`,
		Description: `Prometheus cannot scrape the netcause exporter on {{ $labels.instance }} (job {{ $labels.job }}): no alert of this pack can fire for that node. If the host itself is down, every service on it is unreachable.`,
		Params: []Param{
			{Name: "job_selector", Default: `job="netcause"`, Kind: Matchers, Help: "Matchers for the exporter's scrape job on up."},
		},
	},
	{
		Name: "NetcauseCollectorBlindSpot", Cause: BlindSpot, Layer: Meta, Severity: Warning, For: 15 * time.Minute,
		Expr: `
max by (<<node>>, collector, netns, reason) (
  <<m "netcause_collector_unavailable">>
) == 1`,
		Summary:     `netcause cannot run collector {{ $labels.collector }} in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `The {{ $labels.collector }} collector fails in netns {{ $labels.netns }} on {{ $labels.instance }} ({{ $labels.reason }}): the causes it reveals cannot alert there. not_found: kernel module or file absent; not_supported: kernel or driver lacks it; permission_denied: a capability is missing; error: see the exporter's log.`,
	},
	{
		Name: "NetcauseNamespaceBlindSpot", Cause: BlindSpot, Layer: Meta, Severity: Warning, For: 15 * time.Minute,
		Expr: `
  label_replace(max by (<<node>>) (<<m "netcause_netns_skipped">>) > 0, "reason", "netns_max", "", "")
or
  label_replace(max by (<<node>>) (<<m "netcause_netns_unreadable_processes">>) > 0, "reason", "unreadable", "", "")
or
  label_replace(max by (<<node>>) (<<m "netcause_netns_discovery_success">>) == 0, "reason", "discovery_failed", "", "")`,
		Summary:     `netcause does not see every network namespace on {{ $labels.instance }}`,
		Description: `netcause on {{ $labels.instance }} misses network namespaces ({{ $labels.reason }}, {{ $value }}): netns_max means more namespaces than --netns.max; unreadable means processes whose namespace it may not inspect (CAP_SYS_PTRACE missing); discovery_failed means the namespace scan failed. Drops inside those containers cannot alert.`,
	},
	{
		Name: "NetcauseSamplerDropping", Cause: BlindSpot, Layer: Meta, Severity: Warning, For: 2 * time.Minute,
		Expr: `
  sum by (<<node>>, netns) (rate(<<m "netcause_sampler_kernel_drops_total">>[<<window>>]))
/
  sum by (<<node>>, netns) (rate(<<m "netcause_sampler_kernel_packets_total">>[<<window>>]))
> <<p "ratio">>`,
		Summary:     `The sampler misses {{ $value | humanizePercentage }} of the packets in {{ $labels.netns }} on {{ $labels.instance }}`,
		Description: `The kernel drops {{ $value | humanizePercentage }} of the packets it should hand to netcause's sampler in netns {{ $labels.netns }} on {{ $labels.instance }}: its capture ring overflows. Per-peer counts undercount, and a missed SYN-ACK or reply reads as an absence, so the per-peer "unanswered" alerts of this namespace are muted while this fires.`,
		Params: []Param{
			{Name: "ratio", Default: "0.01", Kind: Number, Help: "Share of packets the capture loses."},
		},
	},
}
