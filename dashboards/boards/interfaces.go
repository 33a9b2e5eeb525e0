package boards

import (
	"fmt"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

func interfaces() *model.Dashboard {
	b := newBoard(UIDInterfaces, "netcause / Interfaces and NIC",
		"The link layer: which interface drops or fails packets and why: receive and transmit drops and errors, MTUs that differ from the rest of the node, NIC rings smaller than they could be, the CPUs' receive backlog (softnet) and the queues (qdiscs) in front of each interface.",
		datasourceVar(), instanceVar(), netnsVar(), interfaceVar())
	s := scope{mInstance, mNetns, mInterface}
	const by = "instance, netns, device"
	const lg = "{{instance}} {{netns}} {{device}}"
	r := func(m string) string { return s.rate(m, by) }
	kind := func(m, what string) model.Target { return q(r(m), lg+" "+what) }

	b.row("Drops and errors")
	b.add(8, 8, timeseries("Receive drops", unitPPS,
		"Received packets the kernel or driver dropped without an error (rx_dropped): no buffer, a frame larger than the MTU (veth, bridge), a protocol nothing handles. An interface with a small MTU drops its peers' full-size packets here.",
		qs(q(r("netcause_network_receive_dropped_total"), lg)), legendTable,
		runbooks("NetcauseInterfaceReceiveDrops", "NetcauseMTUDroppingPackets")))
	ratio := alertParam("NetcauseInterfaceReceiveDrops", "ratio")
	b.add(8, 8, timeseries("Receive drop ratio", unitRatio,
		fmt.Sprintf("Share of the packets an interface received that it dropped (the alert pack's %s). The dashed line is NetcauseInterfaceReceiveDrops' threshold.", rules.ReceiveDropRatio),
		qs(q(s.rec(rules.ReceiveDropRatio), lg)), legendTable,
		thresholds("green", step("red", ratio)), runbooks("NetcauseInterfaceReceiveDrops")))
	b.add(8, 8, timeseries("Transmit drops", unitPPS,
		"Outgoing packets the driver dropped (tx_dropped): its ring was full or the peer (a veth's other end) could not take them.",
		qs(q(r("netcause_network_transmit_dropped_total"), lg)), legendTable))
	b.add(8, 8, timeseries("Receive errors by kind", unitPPS,
		"Received frames with errors: CRC and frame errors point at the cable, optics or duplex; length errors at an MTU mismatch; missed, FIFO and over errors at a receive ring the CPU does not empty fast enough.",
		qs(kind("netcause_network_receive_crc_errors_total", "crc"),
			kind("netcause_network_receive_frame_errors_total", "frame"),
			kind("netcause_network_receive_length_errors_total", "length"),
			kind("netcause_network_receive_missed_errors_total", "missed"),
			kind("netcause_network_receive_fifo_errors_total", "fifo"),
			kind("netcause_network_receive_over_errors_total", "over"),
			kind("netcause_network_receive_errors_total", "all errors")),
		legendTable, runbooks("NetcauseInterfaceErrors", "NetcauseNICRingOverflow")))
	b.add(8, 8, timeseries("Transmit errors by kind", unitPPS,
		"Packets the interface failed to send: carrier errors mean the link was down; aborted and FIFO errors come from the NIC.",
		qs(kind("netcause_network_transmit_carrier_errors_total", "carrier"),
			kind("netcause_network_transmit_aborted_errors_total", "aborted"),
			kind("netcause_network_transmit_fifo_errors_total", "fifo"),
			kind("netcause_network_transmit_errors_total", "all errors")),
		legendTable, runbooks("NetcauseInterfaceErrors")))
	b.add(8, 8, timeseries("NIC receive overflows (driver statistics)", unitPPS,
		"Receive overflows the driver counts, normalised across drivers by reason: missed (NIC FIFO full), no_buffer (no free descriptor), fifo, queue_drop. Absent for virtual interfaces.",
		qs(q(s.rate("netcause_network_receive_overflow_total", by+", reason"), lg+" {{reason}}")),
		legendTable, runbooks("NetcauseNICRingOverflow")))
	b.add(12, 8, table("Driver drop and error statistics (ethtool -S)", unitPPS,
		"The busiest drop, miss and error counters of the drivers, by their driver name, per second over the last rate interval: the detail behind the normalised overflows.",
		qs(qt(`topk(20, `+s.rate("netcause_ethtool_driver_stat_total", by+", stat")+`)`)),
		organize([]string{"Time"}, []string{"instance", "netns", "device", "stat"}),
		column("Value", "per second", colored(), thresholdsProp("transparent", step("orange", 0.001))),
		sortBy("per second")))
	b.add(6, 8, timeseries("Packets received and sent", unitPPS,
		"Traffic through the interface, for scale: the drops above are a share of this.",
		qs(q(r("netcause_network_receive_packets_total"), lg+" rx"), q(r("netcause_network_transmit_packets_total"), lg+" tx")),
		legendTable))
	b.add(6, 8, timeseries("Bytes received and sent", unitBps,
		"Throughput through the interface, against its speed when the driver reports one.",
		qs(q(r("netcause_network_receive_bytes_total"), lg+" rx"), q(r("netcause_network_transmit_bytes_total"), lg+" tx"),
			q(s.gauge("max", "netcause_network_speed_bytes", by), lg+" link speed")),
		legendTable))

	b.row("MTU and link state")
	minMTU := alertParam("NetcauseInterfaceMTUTooSmall", "min_mtu")
	mtu := s.gauge("max", "netcause_network_mtu_bytes", by)
	withInfo := func(e string) string {
		return fmt.Sprintf("%s\n* on (%s) group_left (operstate, kind)\n  %s", e, by, s.gauge("max", "netcause_network_info", by+", operstate, kind"))
	}
	median := `quantile by (instance) (0.5, netcause_network_mtu_bytes{instance=~"$instance", device!="lo"})`
	// The highest MTU among the interface's peers (veth peer, bridge),
	// which is the one whose frames this interface must take.
	peer := s.gauge("max", "netcause_network_peer_mtu_bytes", by)
	b.add(14, 10, table("MTU per interface, against the node's usual MTU", unitPlain,
		fmt.Sprintf("Each interface's MTU next to the median MTU of the node's interfaces (loopback aside) and the MTU of its other end (its veth peer or its bridge, empty for other interfaces). An MTU below its neighbours' is the seed case: small packets pass, full-size ones are dropped. Red: below %g bytes (NetcauseInterfaceMTUTooSmall). Orange difference: smaller than the node's usual MTU; overlays (vxlan 1450, WireGuard 1420) are expected there. Red vs peer: the other end sends frames this interface drops (NetcauseMTUMismatch).", minMTU),
		qs(qt(withInfo(mtu)), qt(withInfo(fmt.Sprintf("(\n  %s\n- on (instance) group_left ()\n  %s\n)", mtu, median))),
			qt(withInfo(peer)), qt(withInfo(fmt.Sprintf("(\n  %s\n- on (%s)\n  %s\n)", mtu, by, peer)))),
		organize([]string{"Time"}, []string{"instance", "netns", "device", "kind", "operstate", "Value #A", "Value #B", "Value #C", "Value #D"}),
		column("Value #A", "MTU (bytes)", colored(), thresholdsProp("red", step("green", minMTU))),
		column("Value #B", "vs node median", colored(), thresholdsProp("orange", step("transparent", 0), step("blue", 1))),
		column("Value #C", "peer MTU"),
		column("Value #D", "vs peer", colored(), thresholdsProp("red", step("transparent", 0))),
		column("operstate", "state"), column("kind", "kind"),
		evidence("NetcauseInterfaceMTUTooSmall", "NetcauseMTUDroppingPackets", "NetcauseMTUMismatch")))
	b.add(10, 10, timeseries("MTU over time", unitPlain,
		"A step down is an MTU change; the drops it causes show in Receive drops above and in the peers' retransmits.",
		qs(q(mtu, lg)), legendTable, thresholds("red", step("green", minMTU)),
		runbooks("NetcauseInterfaceMTUTooSmall")))
	b.add(14, 8, timeline("Interface up", "Operational state: up, or down (loopback reports unknown, shown as down). An interface that goes down takes its routes and the peers behind it with it.",
		qs(q(s.gauge("max", "netcause_network_up", by), lg)),
		valueMap([3]string{"1", "up", "green"}, [3]string{"0", "down", "red"}),
		thresholds("red", step("green", 1)), runbooks("NetcauseInterfaceDown")))
	b.add(10, 8, timeseries("Carrier changes", unitCount,
		"Times the link went down or up within each rate interval; a steady count is a flapping link, losing packets each time.",
		qs(q(s.increase("netcause_network_carrier_changes_total", by, RateInterval), lg)),
		legendTable, runbooks("NetcauseInterfaceFlapping")))

	b.row("NIC rings")
	const rby = by + ", direction"
	b.add(14, 8, table("Ring sizes: current against the maximum", unitPlain,
		"Descriptors in each NIC ring (ethtool -g) and the most the NIC allows. A ring that overflows (receive overflows above) and is below its maximum can simply be grown: ethtool -G DEVICE rx MAX.",
		qs(qt(s.gauge("max", "netcause_network_ring_entries", rby)),
			qt(s.gauge("max", "netcause_network_ring_max_entries", rby)),
			qt(s.gauge("max", "netcause_network_ring_entries", rby)+"\n/\n("+s.gauge("max", "netcause_network_ring_max_entries", rby)+" > 0)")),
		organize([]string{"Time"}, []string{"instance", "netns", "device", "direction"}),
		column("Value #A", "current"), column("Value #B", "maximum"),
		column("Value #C", "current / maximum", unitProp(unitRatio), colored(),
			thresholdsProp("blue", step("transparent", 1))),
		runbooks("NetcauseNICRingOverflow")))
	b.add(10, 8, timeseries("Ring size", unitPlain,
		"Current ring sizes over time: a change shows when someone resized a ring.",
		qs(q(s.gauge("max", "netcause_network_ring_entries", rby), lg+" {{direction}}")), legendTable))

	b.row("CPU receive backlog (softnet, per host)")
	// softnet is read once per host: the namespace and interface
	// selections do not apply to it.
	h := scope{mInstance}
	const cby = "instance, cpu"
	const clg = "{{instance}} cpu {{cpu}}"
	b.add(8, 8, timeseries("Backlog drops", unitPPS,
		fmt.Sprintf("Packets dropped because a CPU's receive backlog already held net.core.netdev_max_backlog packets: per CPU and in total (the alert pack's %s). One CPU dropping alone: receive steering (RPS/RSS) sends it everything.", rules.SoftnetDropsRate),
		qs(q(h.rec(rules.SoftnetDropsRate), "{{instance}} all CPUs"),
			q(h.rate("netcause_softnet_dropped_packets_total", cby), clg)),
		legendTable, runbooks("NetcauseSoftnetDrops")))
	b.add(8, 8, timeseries("Time squeezes", unitEvents,
		"Times a CPU's receive softirq stopped with packets left because it ran out of budget (net.core.netdev_budget, netdev_budget_usecs). Squeezes before drops: the CPU falls behind.",
		qs(q(h.rate("netcause_softnet_time_squeezes_total", cby), clg)), legendTable))
	b.add(8, 8, timeseries("Backlog length and flow-limit drops", unitCount,
		"Packets waiting in each CPU's backlog when read, and packets per second the per-flow limit dropped (net.core.flow_limit_cpu_bitmap).",
		qs(q(h.gauge("max", "netcause_softnet_backlog_packets", cby), clg+" queued"),
			q(h.rate("netcause_softnet_flow_limit_packets_total", cby), clg+" flow-limit drops/s")),
		legendTable))

	b.row("Queues (qdisc)")
	const qby = by + ", kind, handle, parent"
	const qlg = lg + " {{kind}} {{handle}}"
	b.add(8, 8, timeseries("Qdisc drops", unitPPS,
		"Packets each qdisc dropped: queue full, a shaper's limit, an AQM decision. A classful root also counts its children's drops.",
		qs(q(s.rate("netcause_qdisc_drops_total", qby), qlg)), legendTable, runbooks("NetcauseQdiscDrops")))
	qratio := alertParam("NetcauseQdiscDrops", "ratio")
	b.add(8, 8, timeseries("Root qdisc drop ratio", unitRatio,
		fmt.Sprintf("Share of the packets sent through a device's root qdisc that it dropped (the alert pack's %s). Dashed: NetcauseQdiscDrops' threshold.", rules.QdiscDropRatio),
		qs(q(s.rec(rules.QdiscDropRatio), lg)), legendTable,
		thresholds("green", step("red", qratio)), runbooks("NetcauseQdiscDrops")))
	b.add(8, 8, timeseries("Overlimits and requeues", unitEvents,
		"Overlimits: times a qdisc held back or dropped a packet because a rate or size limit was hit (a shaper at work). Requeues: the driver's queue was busy.",
		qs(q(s.rate("netcause_qdisc_overlimits_total", qby), qlg+" overlimits"),
			q(s.rate("netcause_qdisc_requeues_total", qby), qlg+" requeues")),
		legendTable))
	b.add(12, 8, timeseries("Qdisc backlog (packets)", unitCount,
		"Packets queued in each qdisc when read: a standing queue adds latency before it drops.",
		qs(q(s.gauge("max", "netcause_qdisc_backlog_packets", qby), qlg)), legendTable))
	b.add(12, 8, timeseries("Qdisc backlog (bytes)", unitBytes,
		"Bytes queued in each qdisc when read.",
		qs(q(s.gauge("max", "netcause_qdisc_backlog_bytes", qby), qlg)), legendTable))
	return b.d
}
