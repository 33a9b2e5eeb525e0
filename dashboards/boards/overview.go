package boards

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

// firingAlerts selects the pack's alerts firing now. Alerts about a whole
// node (blind spots, the exporter down) have no netns; the empty
// alternative keeps them whatever namespaces are selected.
const firingAlerts = `ALERTS{alertname=~"Netcause.+", alertstate="firing", instance=~"$instance", netns=~"${netns}|"}`

// alertsWithBoard adds a dashboard label to each alert: the uid of the board
// that shows its layer's evidence, for the alert table's link.
func alertsWithBoard() string {
	expr := firingAlerts
	uids := map[string][]string{}
	for _, l := range rules.Layers {
		uid, ok := LayerBoard[l]
		if !ok {
			fail("layer %s has no dashboard", l)
		}
		uids[uid] = append(uids[uid], string(l))
	}
	keys := make([]string, 0, len(uids))
	for uid := range uids {
		keys = append(keys, uid)
	}
	slices.Sort(keys)
	for _, uid := range keys {
		expr = fmt.Sprintf(`label_replace(%s, "dashboard", %q, "layer", %q)`, expr, uid, strings.Join(uids[uid], "|"))
	}
	return expr
}

// layerLoss is what one layer loses per second in each namespace: the sum
// of the counters that say a packet was dropped or a connection failed
// there.
type layerLoss struct {
	layer       rules.Layer
	title, unit string
	description string
	board       string
	terms       []string
}

func layerLosses(s scope) []layerLoss {
	by := "instance, netns"
	r := func(m string, extra ...string) string { return s.rate(m, by, extra...) }
	return []layerLoss{
		{rules.Link, "Link: interface, backlog and queue drops", unitPPS,
			"Packets dropped or failed by interfaces (rx/tx dropped and errors), by the CPUs' receive backlog (softnet, host namespace) and by root qdiscs. Growth here with quiet layers above: a NIC, ring, backlog, MTU or queue problem.",
			UIDInterfaces, []string{
				r("netcause_network_receive_dropped_total"), r("netcause_network_transmit_dropped_total"),
				r("netcause_network_receive_errors_total"), r("netcause_network_transmit_errors_total"),
				r("netcause_softnet_dropped_packets_total"), r("netcause_qdisc_drops_total", `parent="root"`),
			}},
		{rules.Network, "Network: routing, fragmentation, IP discards", unitPPS,
			"IP packets dropped for no route (in and out), failed fragmentation and reassembly, bad headers or addresses and discards, plus ICMP destination-unreachables received. No route and unreachables point at routing or a host down; fragmentation failures at an MTU on the path.",
			UIDTCP, []string{
				r("netcause_ip_out_no_routes_total"), r("netcause_ip_in_no_routes_total"),
				r("netcause_ip_fragmentation_failures_total"), r("netcause_ip_reassembly_failures_total"),
				r("netcause_ip_header_errors_total"), r("netcause_ip_address_errors_total"),
				r("netcause_ip_in_discards_total"), r("netcause_ip_out_discards_total"),
				r("netcause_icmp_destination_unreachable_received_total"),
			}},
		{rules.Transport, "Transport: retransmits, failed handshakes, resets, queue drops", unitEvents,
			"TCP segments retransmitted, SYN retransmits, failed connection attempts, resets of established connections, listen-queue and socket-buffer drops, and UDP datagrams dropped by full buffers. Retransmits alone mean loss somewhere on the path; the other layers say where.",
			UIDTCP, []string{
				r("netcause_tcp_retransmitted_segments_total"), r("netcause_tcp_syn_retransmits_total"),
				r("netcause_tcp_attempt_fails_total"), r("netcause_tcp_established_resets_total"),
				r("netcause_tcp_listen_drops_total"), r("netcause_tcp_backlog_drops_total"),
				r("netcause_tcp_receive_queue_drops_total"), r("netcause_tcp_out_of_order_drops_total"),
				r("netcause_udp_receive_errors_total"), r("netcause_udp_send_buffer_errors_total"),
			}},
		{rules.Netfilter, "Netfilter: firewall rules and conntrack", unitPPS,
			"Packets discarded by firewall rules and DROP policies, and packets conntrack dropped because its table was full (drop, early_drop) or an entry could not be inserted (insert_failed).",
			UIDNetfilter, []string{
				r("netcause_firewall_discarded_packets_total"),
				s.rec(rules.ConntrackDropsRate),
				r("netcause_conntrack_insert_failed_total"),
			}},
		{rules.Application, "Application: unanswered requests and resets (sampler)", unitEvents,
			"From the sampler's capture, summed over peers: requests that got no reply within the response timeout, and RSTs on established connections. The network delivered the request; the application did not answer, or died. Empty where the sampler is not enabled.",
			UIDTCP, []string{
				r("netcause_peer_requests_unanswered_total"), r("netcause_peer_resets_total"),
			}},
	}
}

func overview() *model.Dashboard {
	b := newBoard(UIDOverview, "netcause / Overview",
		"Where packets go missing or arrive late: the netcause alerts firing now with their cause, and drops and failures per node and namespace grouped by layer, with links down to the dashboard of each layer.",
		datasourceVar(), instanceVar(), netnsVar())
	s := scope{mInstance, mNetns}

	b.row("Alerts now")
	b.add(4, 8, stat("Firing netcause alerts", unitPlain,
		"netcause alerts firing now on the selected nodes, by severity. Critical: traffic between services fails now. Warning: degraded, at risk, or netcause cannot see part of it.",
		qs(q(`count by (severity) (`+firingAlerts+`)`, "{{severity}}")),
		noValue("0"), thresholds("green", step("orange", 1)),
		column("critical", "critical", thresholdsProp("green", step("red", 1)))))
	b.stack(4, 4,
		stat("Blind spots", unitPlain,
			"Collector and namespace pairs netcause cannot read now (a kernel feature missing, a capability lacking). Their causes cannot alert there. Details on the netcause health dashboard.",
			qs(q(`count(`+s.sel("netcause_collector_unavailable")+`)`, "blind spots")),
			noValue("0"), thresholds("green", step("orange", 1)),
			drill(UIDHealth, "netcause health"), runbooks("NetcauseCollectorBlindSpot")),
		stat("Exporters down", unitPlain,
			"netcause exporters Prometheus fails to scrape (up == 0): nothing on those nodes can alert.",
			qs(q(`count(up{instance=~"$instance"} == 0)`, "down")),
			noValue("0"), thresholds("green", step("red", 1)), runbooks("NetcauseExporterDown")))

	alertTable := table("Firing alerts and their cause", unitPlain,
		"Every netcause alert firing now, with the cause it names (the documented causes, syn_unanswered when the cause lies outside this node, blind_spot for netcause itself) and the layer it sits in. Click an alert for its runbook, its dashboard for the evidence.",
		qs(qt(alertsWithBoard())),
		// The dashboard column stays visible: a link can only read
		// fields the table still has.
		organize([]string{"Time", "Value", "__name__", "alertstate", "job"},
			[]string{"alertname", "severity", "cause", "layer", "instance", "netns", "device", "peer", "rule", "dashboard"}),
		column("alertname", "Alert", linksProp(model.DataLink{Title: "Runbook",
			URL: strings.TrimSuffix(rules.DefaultRunbookBaseURL, "/") + "/${__data.fields.alertname}.md", TargetBlank: true})),
		column("dashboard", "Dashboard", linksProp(model.DataLink{Title: "Open the dashboard of this layer",
			URL: "/d/${__data.fields.dashboard}?${__url_time_range}&${datasource:queryparam}&var-instance=${__data.fields.instance}"})),
		column("severity", "Severity", colored(), model.Property{ID: "mappings", Value: valueMap(
			[3]string{"critical", "critical", "red"}, [3]string{"warning", "warning", "orange"})}),
		column("cause", "Cause"), column("layer", "Layer"),
	)
	b.add(16, 8, alertTable)

	b.row("Where packets are lost, by layer")
	losses := layerLosses(s)
	var summary []model.Target
	var sumOpts []opt
	for i, l := range losses {
		summary = append(summary, qt(sumOf("instance, netns", l.terms...)))
		field := "Value #" + string(rune('A'+i))
		sumOpts = append(sumOpts, column(field, titleCase(string(l.layer)), unitProp(l.unit), colored(),
			thresholdsProp("transparent", step("orange", 0.001))))
	}
	sumOpts = append(sumOpts, organize([]string{"Time"}, []string{"instance", "netns"}),
		column("instance", "Node"), column("netns", "Namespace"))
	b.add(24, 7, table("Losses per node and namespace, by layer (now)", unitPPS,
		"Each layer's drops and failures per second over the last rate interval, per node and namespace: the first layer with a coloured cell, from the left, is where to look. Units: packets/s for link, network and netfilter; events/s (segments, connections, requests) for transport and application. The graphs below show them over time.",
		summary, sumOpts...))
	for i, l := range losses {
		w := 8
		if i >= 3 {
			w = 12
		}
		opts := []opt{drill(l.board, "Open the "+boardTitle(l.board)+" dashboard"), runbooks(alertsOfLayer(l.layer)...)}
		b.add(w, 8, timeseries(l.title, l.unit, l.description,
			qs(q(sumOf("instance, netns", l.terms...), "{{instance}} {{netns}}")), opts...))
	}

	b.row("Go deeper")
	b.add(24, 5, text("Where to look next", overviewLinks()))
	return b.d
}

// boardTitles names the boards in links.
var boardTitles = map[string]string{
	UIDOverview:   "Overview",
	UIDInterfaces: "Interfaces and NIC",
	UIDNetfilter:  "Netfilter",
	UIDTCP:        "TCP, IP and peers",
	UIDHealth:     "netcause health",
}

func boardTitle(uid string) string { return boardTitles[uid] }

func overviewLinks() string {
	items := []struct{ uid, what string }{
		{UIDInterfaces, "link layer: interface drops and errors, MTU mismatches, NIC rings, CPU backlog (softnet), qdisc drops"},
		{UIDNetfilter, "netfilter: conntrack fill and per-CPU drops, the firewall rules that discard packets with their text"},
		{UIDTCP, "network, transport and application: no route, ICMP, retransmits, SYN retransmits, resets, listen overflows; per peer handshake and response latency, unanswered SYNs and requests, refused connections, smallest MSS"},
		{UIDHealth, "netcause itself: what it cannot see (blind spots), collector timings, the sampler's capture"},
	}
	var sb strings.Builder
	for _, it := range items {
		fmt.Fprintf(&sb, "- [%s](%s): %s\n", boardTitle(it.uid), drillURL(it.uid), it.what)
	}
	sb.WriteString("\nEvery alert's runbook: [docs/runbooks](" + strings.TrimSuffix(rules.DefaultRunbookBaseURL, "/") + "/README.md).\n")
	return sb.String()
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
