package boards

import (
	"fmt"

	"github.com/netcause/netcause/dashboards/model"
)

func health() *model.Dashboard {
	b := newBoard(UIDHealth, "netcause / netcause health",
		"Can netcause see what it should? Scrapes and collectors, the namespaces and collectors it cannot read (blind spots, where no alert can fire), the caps it applied, and the sampler's capture: a silent alert pack is only good news when this board is clean.",
		datasourceVar(), instanceVar())
	s := scope{mInstance}
	const lg = "{{instance}}"

	b.row("Exporter and collectors")
	b.add(8, 7, timeline("Exporter scraped", "Whether Prometheus scrapes each exporter (its up series). Down: nothing on that node can alert.",
		qs(q(`max by (instance) (up{instance=~"$instance"})`, lg)),
		valueMap([3]string{"1", "up", "green"}, [3]string{"0", "down", "red"}),
		thresholds("red", step("green", 1)), runbooks("NetcauseExporterDown")))
	b.add(8, 7, timeseries("Scrape duration", unitSeconds,
		"How long Prometheus' scrape of each exporter takes (keep it well under the scrape interval and timeout).",
		qs(q(`max by (instance) (scrape_duration_seconds{instance=~"$instance"})`, lg+" scrape")),
		legendTable))
	b.add(8, 7, timeseries("Samples per scrape", unitCount,
		"Series each scrape returns: grows with namespaces, interfaces, firewall rules and peers; the caps (--netns.max, --collector.firewall.max-rules, --sampler.max-peers …) bound it.",
		qs(q(`max by (instance) (scrape_samples_scraped{instance=~"$instance"})`, lg)), legendTable))
	b.add(8, 7, table("Versions", unitPlain,
		"The exporter's version, revision and Go version on each node: after an upgrade, every node should show the new one.",
		qs(qt(s.gauge("max", "netcause_build_info", "instance, version, revision, goversion"))),
		organize([]string{"Time", "Value"}, []string{"instance", "version", "revision", "goversion"})))
	b.add(8, 7, timeseries("Exporter CPU", unitRatio,
		"CPU the exporter process uses, as a share of one core: collectors run at each scrape, the sampler continuously.",
		qs(q(s.rate("process_cpu_seconds_total", "instance"), lg)), legendTable))
	b.add(8, 7, timeseries("Exporter memory", unitBytes,
		"Resident memory of the exporter process: grows with namespaces, firewall rules and the sampler's connection table.",
		qs(q(s.gauge("max", "process_resident_memory_bytes", "instance"), lg)), legendTable))
	b.add(12, 8, timeseries("Collector duration", unitSeconds,
		"Time each collector took in the last scrape, over all namespaces it reads.",
		qs(q(s.gauge("max", "netcause_scrape_collector_duration_seconds", "instance, collector"), lg+" {{collector}}")),
		legendTable))
	b.add(12, 8, timeline("Collector success", "1 when the collector read every namespace in the scrape, 0 when any read failed: the blind spots table says where and why.",
		qs(q(s.gauge("min", "netcause_scrape_collector_success", "instance, collector"), lg+" {{collector}}")),
		valueMap([3]string{"1", "ok", "green"}, [3]string{"0", "failed", "red"}),
		thresholds("red", step("green", 1)), runbooks("NetcauseCollectorBlindSpot")))
	b.add(24, 8, table("Blind spots now", unitPlain,
		"Each collector and namespace netcause cannot read, and why: not_found (kernel module or file absent), not_supported (kernel or driver lacks it), permission_denied (a capability missing), error (see the exporter's log). The causes that collector reveals cannot alert there. Empty is good.",
		qs(qt(s.gauge("max", "netcause_collector_unavailable", "instance, collector, netns, reason"))),
		organize([]string{"Time", "Value"}, []string{"instance", "collector", "netns", "reason"}),
		evidence("NetcauseCollectorBlindSpot")))

	b.row("Namespaces")
	b.add(12, 8, timeseries("Namespaces read", unitCount,
		"Network namespaces read in each scrape, by how they were found: self (the exporter's own), named (ip netns), process (a container's).",
		qs(q(s.gauge("sum", "netcause_netns_targets", "instance, kind"), lg+" {{kind}}")), legendTable, stacked))
	b.add(12, 8, timeseries("Namespaces missed", unitCount,
		"Namespaces found but not read (beyond --netns.max), processes whose namespace could not be inspected (CAP_SYS_PTRACE missing), and whether discovery failed (1): containers there are invisible to every alert.",
		qs(q(s.gauge("max", "netcause_netns_skipped", "instance"), lg+" skipped (--netns.max)"),
			q(s.gauge("max", "netcause_netns_unreadable_processes", "instance"), lg+" unreadable processes"),
			q("1 - "+s.gauge("min", "netcause_netns_discovery_success", "instance"), lg+" discovery failed")),
		legendTable, runbooks("NetcauseNamespaceBlindSpot")))

	b.row("Caps and slow collectors")
	maxAge := alertParam("NetcauseFirewallCountersStale", "max_age")
	b.add(12, 8, timeseries("Firewall collection", unitSeconds,
		fmt.Sprintf("The firewall collector reads rules in the background: age of its last complete collection and how long one took. Older than a few scrape intervals: collections are slower than scrapes; past %g s (dashed, NetcauseFirewallCountersStale) the counters are frozen and a rule that starts dropping cannot alert.", maxAge),
		qs(q("time() - "+s.gauge("max", "netcause_firewall_last_success_timestamp_seconds", "instance, netns"), lg+" {{netns}} age"),
			q(s.gauge("max", "netcause_firewall_collect_duration_seconds", "instance, netns"), lg+" {{netns}} took")),
		legendTable, thresholds("green", step("red", maxAge)), runbooks("NetcauseFirewallCountersStale")))
	b.add(12, 8, timeseries("Series left out by caps", unitCount,
		"What the caps left out: discarding rules summed into (overflow) beyond --collector.firewall.max-rules, rules that count nothing, qdiscs beyond --collector.qdisc.max-per-device, driver statistics beyond --collector.ethtool.max-stats-per-device.",
		qs(q(s.gauge("sum", "netcause_firewall_rules_overflowed", "instance"), lg+" firewall rules over the cap"),
			q(s.gauge("sum", "netcause_firewall_uncounted_rules", "instance"), lg+" uncounted firewall rules"),
			q(s.gauge("sum", "netcause_qdisc_skipped", "instance"), lg+" qdiscs skipped"),
			q(s.gauge("sum", "netcause_ethtool_driver_stats_over_cap", "instance"), lg+" driver statistics over the cap")),
		legendTable, runbooks("NetcauseFirewallRulesUncounted")))

	b.row("Sampler")
	const sby = "instance, netns"
	const slg = "{{instance}} {{netns}}"
	sr := func(m, what string) model.Target { return q(s.rate(m, sby), slg+" "+what) }
	ratio := alertParam("NetcauseSamplerDropping", "ratio")
	b.add(8, 8, timeseries("Capture losses", unitRatio,
		fmt.Sprintf("Share of the packets the kernel should have handed to the sampler that it dropped because the capture ring was full. Above %g (dashed, NetcauseSamplerDropping) a missed SYN-ACK or reply reads as an absence, so the per-peer absence alerts are muted.", ratio),
		qs(q(s.rate("netcause_sampler_kernel_drops_total", sby)+"\n/\n"+s.rate("netcause_sampler_kernel_packets_total", sby), slg)),
		legendTable, thresholds("green", step("red", ratio)), runbooks("NetcauseSamplerDropping")))
	b.add(8, 8, timeseries("Packets", unitPPS,
		"Packets the kernel filter passed, those it dropped, those the sampler read, left aside (other interfaces, loopback copies, outside the filter), could not decode, and analysed on sampled connections.",
		qs(sr("netcause_sampler_kernel_packets_total", "kernel passed"),
			sr("netcause_sampler_kernel_drops_total", "kernel dropped"),
			sr("netcause_sampler_packets_captured_total", "captured"),
			sr("netcause_sampler_packets_ignored_total", "ignored"),
			sr("netcause_sampler_packets_undecodable_total", "undecodable"),
			sr("netcause_sampler_sampled_packets_total", "analysed (sampled)")),
		legendTable))
	b.add(8, 8, timeseries("Tracked connections", unitCount,
		"Connections tracked now against --sampler.max-connections, and connections evicted per second because the table was full (their outcome is lost).",
		qs(q(s.gauge("max", "netcause_sampler_connections", sby), slg+" tracked"),
			q(s.gauge("max", "netcause_sampler_connections_limit", sby), slg+" limit"),
			sr("netcause_sampler_connections_evicted_total", "evicted/s")),
		legendTable))
	b.add(12, 7, timeseries("Peers with their own series", unitCount,
		`Peers the sampler keeps series for, at most --sampler.max-peers; the rest are summed as peer="other".`,
		qs(q(s.gauge("max", "netcause_sampler_peers", sby), slg)), legendTable))
	b.add(12, 7, timeseries("Sample ratio", unitRatio,
		"Share of connections whose data packets are analysed (--sampler.rate): response latency, retransmits and unanswered requests come from these only.",
		qs(q(s.gauge("max", "netcause_sampler_sample_ratio", sby), slg)), legendTable, minMax(0, 1)))
	return b.d
}
