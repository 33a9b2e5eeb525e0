package collector

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The qdisc collector exports the statistics of every queueing discipline
// of every device in the target namespace: what the kernel dropped because
// a queue was full or a shaper said no, and what sits queued right now. It
// dumps them over rtnetlink (RTM_GETQDISC) on a socket opened inside the
// namespace, as `tc -s qdisc show` does, so a container's tbf or fq_codel
// shows under that container's netns label and nowhere else.
//
// What it lists matches `tc qdisc show`: the qdiscs the kernel marks
// invisible (the default inner fifo of a tbf, for one) are left out, as tc
// leaves them out unless asked.

func init() {
	Register("qdisc", true, PerNamespace, newQdiscCollector)
}

// qdiscDefaultMax is the default of --collector.qdisc.max-per-device. A
// device has one root qdisc, maybe an ingress or clsact one, and a few
// more under a classful root; a multiqueue NIC has one per transmit queue
// under its mq root, and mq's own counters already sum those children, so
// cutting the long tail loses no device total.
const qdiscDefaultMax = 32

// The flag targets start at their defaults so collector.Build works the
// same in tests, where kingpin never parses a command line.
var (
	qdiscDeviceInclude, qdiscDeviceExclude string
	qdiscMaxPerDevice                      = qdiscDefaultMax
)

func init() {
	kingpin.Flag("collector.qdisc.device-include",
		"Regexp (anchored) of the devices whose qdiscs the qdisc collector exports; empty exports all.").
		Default(qdiscDeviceInclude).StringVar(&qdiscDeviceInclude)
	kingpin.Flag("collector.qdisc.device-exclude",
		"Regexp (anchored) of devices whose qdiscs the qdisc collector skips; applied after the include pattern.").
		Default(qdiscDeviceExclude).StringVar(&qdiscDeviceExclude)
	kingpin.Flag("collector.qdisc.max-per-device",
		"Most qdiscs exported per device, in the kernel's dump order (root first); the rest are counted in netcause_qdisc_skipped.").
		Default(strconv.Itoa(qdiscDefaultMax)).IntVar(&qdiscMaxPerDevice)
}

var qdiscLabelsHelp = " Labels: device, kind (tbf, fq_codel, pfifo_fast and so on), handle and parent as tc prints them (parent \"root\" for the root qdisc); at most --collector.qdisc.max-per-device (default " +
	strconv.Itoa(qdiscDefaultMax) + ") qdiscs per device. A classful or multiqueue root (htb, mq and so on) also counts what its children count."

var (
	qdiscLabels      = []string{"device", "kind", "handle", "parent"}
	qdiscDrops       = counter("qdisc", "drops_total", "Packets this qdisc dropped: queue full, shaper limit or AQM decision. 32-bit kernel counter that wraps."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.Congestion, catalog.NICOverflow)
	qdiscOverlimits  = counter("qdisc", "overlimits_total", "Times this qdisc held a packet back (or dropped it) because a rate or size limit was exceeded. 32-bit kernel counter that wraps."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.Congestion)
	qdiscRequeues    = counter("qdisc", "requeues_total", "Packets the qdisc had to queue again because the driver's transmit queue was busy. 32-bit kernel counter that wraps."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.NICOverflow)
	qdiscBacklogB    = gauge("qdisc", "backlog_bytes", "Bytes queued in this qdisc when it was read."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.Congestion, catalog.NICOverflow)
	qdiscBacklogP    = gauge("qdisc", "backlog_packets", "Packets queued in this qdisc when it was read (tc's qlen)."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.Congestion, catalog.NICOverflow)
	qdiscSentBytes   = counter("qdisc", "sent_bytes_total", "Bytes this qdisc passed on."+qdiscLabelsHelp, qdiscLabels...)
	qdiscSentPackets = counter("qdisc", "sent_packets_total", "Packets this qdisc passed on; the denominator of its drop ratio."+qdiscLabelsHelp, qdiscLabels...).Reveals(catalog.Congestion)
	qdiscSkipped     = gauge("qdisc", "skipped", "Qdiscs of this namespace found but not exported in this scrape because their device already had --collector.qdisc.max-per-device.")
)

type qdiscCollector struct {
	filter deviceFilter // shared with netdev: anchored include and exclude
	max    int
}

func newQdiscCollector(_ *slog.Logger) (Collector, error) {
	if qdiscMaxPerDevice < 1 {
		return nil, fmt.Errorf("--collector.qdisc.max-per-device must be at least 1, got %d", qdiscMaxPerDevice)
	}
	f, err := newDeviceFilter(qdiscDeviceInclude, qdiscDeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.qdisc.device-include/-exclude: %w", err)
	}
	return &qdiscCollector{filter: f, max: qdiscMaxPerDevice}, nil
}

func (c *qdiscCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	links, qmsgs, err := dumpQdiscs()
	if err != nil {
		return err
	}
	names, qs, err := qdiscsFromMessages(links, qmsgs)
	if err != nil {
		return err
	}
	return c.emit(t.Name, names, qs, ch)
}

// qdiscDumpTimeout bounds one namespace's dumps; the kernel answers in
// milliseconds, so hitting it means something is wrong.
const qdiscDumpTimeout = 10 * time.Second

// dumpQdiscs returns the raw RTM_NEWLINK and RTM_NEWQDISC messages of the
// calling thread's network namespace. The socket is opened here, on the
// thread the exporter moved into the target namespace, and keeps that
// namespace for its life.
func dumpQdiscs() (links, qdiscs []netlink.Message, err error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(qdiscDumpTimeout)); err != nil {
		return nil, nil, fmt.Errorf("rtnetlink socket: %w", err)
	}

	// Only names are needed from the links; RTEXT_FILTER_SKIP_STATS keeps
	// the kernel from filling every message with interface counters.
	// Kernels that predate the bit ignore it.
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(unix.IFLA_EXT_MASK, rtextFilterSkipStats)
	attrs, err := ae.Encode()
	if err != nil {
		return nil, nil, err
	}
	links, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   append(make([]byte, ifinfomsgLen), attrs...),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rtnetlink link dump: %w", err)
	}
	qdiscs, err = c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETQDISC, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, tcmsgLen),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("rtnetlink qdisc dump: %w", err)
	}
	return links, qdiscs, nil
}

const rtextFilterSkipStats = 1 << 3 // RTEXT_FILTER_SKIP_STATS

// qdiscsFromMessages decodes the two dumps: ifindex -> device name, and
// the qdiscs in dump order. Any malformed message fails the whole read.
func qdiscsFromMessages(links, qmsgs []netlink.Message) (map[int32]string, []qdisc, error) {
	names := make(map[int32]string, len(links))
	for _, m := range links {
		if m.Header.Type != unix.RTM_NEWLINK {
			continue
		}
		idx, name, err := parseLinkName(m.Data)
		if err != nil {
			return nil, nil, err
		}
		names[idx] = name
	}
	qs := make([]qdisc, 0, len(qmsgs))
	for _, m := range qmsgs {
		if m.Header.Type != unix.RTM_NEWQDISC {
			continue
		}
		q, err := parseQdisc(m.Data)
		if err != nil {
			return nil, nil, err
		}
		qs = append(qs, q)
	}
	return names, qs, nil
}

// emit sends the samples of the qdiscs that pass the device filter, at
// most c.max per device. A qdisc whose device is not in names was added
// between the two dumps and waits for the next scrape. Two qdiscs with the
// same labels cannot come from a real kernel; they fail the read before
// anything is sent, since duplicate series would fail the whole scrape.
func (c *qdiscCollector) emit(ns string, names map[int32]string, qs []qdisc, ch chan<- prometheus.Metric) error {
	type labels struct{ device, kind, handle, parent string }
	perDevice := map[int32]int{}
	seen := make(map[labels]bool, len(qs))
	out := make([]labels, 0, len(qs))
	outQ := make([]*qdisc, 0, len(qs))
	skipped := 0
	for i := range qs {
		q := &qs[i]
		dev, ok := names[q.ifindex]
		if !ok || c.filter.ignored(dev) {
			continue
		}
		if perDevice[q.ifindex] >= c.max {
			skipped++
			continue
		}
		perDevice[q.ifindex]++
		l := labels{dev, q.kind, tcHandle(q.handle), tcParent(q.parent)}
		if seen[l] {
			return fmt.Errorf("qdisc dump lists %s %s handle %s parent %s twice", l.device, l.kind, l.handle, l.parent)
		}
		seen[l] = true
		out = append(out, l)
		outQ = append(outQ, q)
	}
	for i, l := range out {
		q := outQ[i]
		lv := []string{ns, l.device, l.kind, l.handle, l.parent}
		qdiscDrops.Emit(ch, float64(q.drops), lv...)
		qdiscOverlimits.Emit(ch, float64(q.overlimits), lv...)
		qdiscRequeues.Emit(ch, float64(q.requeues), lv...)
		qdiscBacklogB.Emit(ch, float64(q.backlog), lv...)
		qdiscBacklogP.Emit(ch, float64(q.qlen), lv...)
		qdiscSentBytes.Emit(ch, float64(q.bytes), lv...)
		qdiscSentPackets.Emit(ch, float64(q.packets), lv...)
	}
	qdiscSkipped.Emit(ch, float64(skipped), ns)
	return nil
}
