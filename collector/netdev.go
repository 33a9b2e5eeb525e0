package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"

	"github.com/alecthomas/kingpin/v2"
	"github.com/mdlayher/ethtool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The netdev collector exports per-interface counters, MTU, state and speed
// of the target namespace. It asks rtnetlink from inside the namespace:
// /sys/class/net would show the namespace sysfs was mounted in, not the
// target, and /proc/net/dev lacks MTU, operstate and carrier changes.

func init() {
	Register("netdev", true, PerNamespace, func(*slog.Logger) (Collector, error) {
		f, err := newDeviceFilter(netdevDeviceInclude, netdevDeviceExclude)
		if err != nil {
			return nil, fmt.Errorf("--collector.netdev.device-include/-exclude: %w", err)
		}
		return &netdevCollector{filter: f}, nil
	})
}

// The flag targets start at their defaults so collector.Build works the
// same in tests, where kingpin never parses a command line.
var netdevDeviceInclude, netdevDeviceExclude string

func init() {
	kingpin.Flag("collector.netdev.device-include", "Regexp (anchored) of interfaces the netdev collector reads; empty reads all.").
		Default(netdevDeviceInclude).StringVar(&netdevDeviceInclude)
	kingpin.Flag("collector.netdev.device-exclude", "Regexp (anchored) of interfaces the netdev collector skips; applied after the include pattern.").
		Default(netdevDeviceExclude).StringVar(&netdevDeviceExclude)
}

var (
	netRxPackets      = counter("network", "receive_packets_total", "Packets received by the interface. IFLA_STATS64 rx_packets.", "device")
	netRxBytes        = counter("network", "receive_bytes_total", "Bytes received by the interface. rx_bytes.", "device").Reveals(catalog.Congestion)
	netRxErrors       = counter("network", "receive_errors_total", "Received packets with errors, all kinds together. rx_errors.", "device").Reveals(catalog.NICOverflow, catalog.MTU)
	netRxDropped      = counter("network", "receive_dropped_total", "Received packets dropped by the kernel or driver without an error: no buffer, frame larger than the MTU (veth, bridge), unknown protocol. rx_dropped.", "device").Reveals(catalog.NICOverflow, catalog.MTU)
	netRxMissed       = counter("network", "receive_missed_errors_total", "Packets the NIC missed because its receive FIFO or ring was full. rx_missed_errors.", "device").Reveals(catalog.NICOverflow)
	netRxFIFO         = counter("network", "receive_fifo_errors_total", "Receive FIFO overruns. rx_fifo_errors.", "device").Reveals(catalog.NICOverflow)
	netRxOver         = counter("network", "receive_over_errors_total", "Receive ring buffer overflows. rx_over_errors.", "device").Reveals(catalog.NICOverflow)
	netRxFrame        = counter("network", "receive_frame_errors_total", "Received frames with an alignment error (physical layer). rx_frame_errors.", "device").Reveals(catalog.Congestion)
	netRxCRC          = counter("network", "receive_crc_errors_total", "Received frames with a bad CRC (cable, optics, duplex mismatch). rx_crc_errors.", "device").Reveals(catalog.Congestion)
	netRxLength       = counter("network", "receive_length_errors_total", "Received frames with a bad length, oversized frames included on most NICs. rx_length_errors.", "device").Reveals(catalog.MTU)
	netTxPackets      = counter("network", "transmit_packets_total", "Packets sent by the interface. tx_packets.", "device")
	netTxBytes        = counter("network", "transmit_bytes_total", "Bytes sent by the interface. tx_bytes.", "device").Reveals(catalog.Congestion)
	netTxErrors       = counter("network", "transmit_errors_total", "Packets the interface failed to send, all kinds together. tx_errors.", "device").Reveals(catalog.Congestion)
	netTxDropped      = counter("network", "transmit_dropped_total", "Outgoing packets dropped by the driver (ring full, peer unable to take them). tx_dropped.", "device").Reveals(catalog.Congestion, catalog.NICOverflow)
	netTxFIFO         = counter("network", "transmit_fifo_errors_total", "Transmit FIFO underruns/overruns. tx_fifo_errors.", "device").Reveals(catalog.NICOverflow)
	netTxCarrier      = counter("network", "transmit_carrier_errors_total", "Packets not sent because the link had no carrier. tx_carrier_errors.", "device").Reveals(catalog.PeerDown)
	netTxAborted      = counter("network", "transmit_aborted_errors_total", "Transmissions aborted by the NIC (e.g. excessive collisions). tx_aborted_errors.", "device").Reveals(catalog.Congestion)
	netMTU            = gauge("network", "mtu_bytes", "The interface's MTU: the largest IP packet it sends or accepts. IFLA_MTU.", "device").Reveals(catalog.MTU)
	netUp             = gauge("network", "up", "1 if the interface's operational state is up, else 0 (loopback reports unknown, so 0). IFLA_OPERSTATE.", "device").Reveals(catalog.PeerDown)
	netInfo           = gauge("network", "info", "Always 1. operstate is one of unknown, notpresent, down, lowerlayerdown, testing, dormant, up; kind is the link type (veth, bridge, vxlan, …; empty for a physical NIC).", "device", "operstate", "kind")
	netSpeed          = gauge("network", "speed_bytes", "Link speed in bytes per second as the driver reports it (ethtool netlink); absent when the link reports none (down, virtual without a nominal speed).", "device").Reveals(catalog.Congestion)
	netCarrierChanges = counter("network", "carrier_changes_total", "Times the link went up or down (carrier changes). A rising count is a flapping link. IFLA_CARRIER_CHANGES.", "device").Reveals(catalog.PeerDown, catalog.Congestion)
)

// netdevStats maps IFLA_STATS64 fields to metrics.
var netdevStats = []struct {
	field int
	def   *catalog.Def
}{
	{stRxPackets, netRxPackets},
	{stRxBytes, netRxBytes},
	{stRxErrors, netRxErrors},
	{stRxDropped, netRxDropped},
	{stRxMissedErrors, netRxMissed},
	{stRxFIFOErrors, netRxFIFO},
	{stRxOverErrors, netRxOver},
	{stRxFrameErrors, netRxFrame},
	{stRxCRCErrors, netRxCRC},
	{stRxLengthErrors, netRxLength},
	{stTxPackets, netTxPackets},
	{stTxBytes, netTxBytes},
	{stTxErrors, netTxErrors},
	{stTxDropped, netTxDropped},
	{stTxFIFOErrors, netTxFIFO},
	{stTxCarrierErrors, netTxCarrier},
	{stTxAbortedErrors, netTxAborted},
}

type netdevCollector struct {
	filter deviceFilter
}

func (c *netdevCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	links, err := readLinks(false)
	if len(links) == 0 && err != nil {
		return err
	}
	speeds, speedErr := readLinkSpeeds()
	for _, l := range links {
		if c.filter.ignored(l.Name) {
			continue
		}
		emitNetdev(t.Name, l, speeds, ch)
	}
	// Peers are found among all links (an excluded bridge is still a
	// port's master) and reported for the included devices only.
	var peers []linkPeer
	for _, p := range linkPeers(links) {
		if !c.filter.ignored(p.device) {
			peers = append(peers, p)
		}
	}
	remote, peerErr := readRemoteLinks(remoteRefs(peers))
	emitPeerMTUs(t.Name, resolvePeerMTUs(links, peers, remote), ch)
	return errors.Join(err, speedErr, peerErr)
}

// emitNetdev sends the metrics of one interface; speeds maps interface
// index to megabits per second.
func emitNetdev(ns string, l netdevLink, speeds map[uint32]uint32, ch chan<- prometheus.Metric) {
	// Every metric but info carries exactly (netns, device): build the
	// label set once per interface.
	labels := netMTU.NewLabels(ns, l.Name)
	if l.Stats != nil {
		for _, s := range netdevStats {
			s.def.EmitWith(ch, float64(l.Stats[s.field]), labels)
		}
	}
	if l.HasMTU {
		netMTU.EmitWith(ch, float64(l.MTU), labels)
	}
	up := 0.0
	if l.OperState == ifOperUp {
		up = 1
	}
	netUp.EmitWith(ch, up, labels)
	netInfo.Emit(ch, 1, ns, l.Name, operStateName(l.OperState), l.Kind)
	if l.HasCarrierChanges {
		netCarrierChanges.EmitWith(ch, float64(l.CarrierChanges), labels)
	}
	if mbps, ok := speeds[l.Index]; ok {
		netSpeed.EmitWith(ch, float64(mbps)*1e6/8, labels)
	}
}

// readLinkSpeeds asks ethtool netlink for every interface's speed in one
// dump. Interfaces without a reported speed are left out. A kernel without
// ethtool netlink (before 5.6) or without link settings yields no speeds,
// which is not an error: speed is optional.
func readLinkSpeeds() (map[uint32]uint32, error) {
	c, err := ethtool.New()
	if err != nil {
		if ignorableEthtoolErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("ethtool netlink: %w", err)
	}
	defer c.Close()
	modes, err := c.LinkModes()
	if err != nil {
		if ignorableEthtoolErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("ethtool link modes: %w", err)
	}
	out := make(map[uint32]uint32, len(modes))
	for _, m := range modes {
		if s, ok := validSpeed(m.SpeedMegabits); ok {
			out[uint32(m.Interface.Index)] = s
		}
	}
	return out, nil
}

// validSpeed rejects SPEED_UNKNOWN (-1 sent as u32) and 0.
func validSpeed(mbps int) (uint32, bool) {
	if mbps <= 0 || mbps >= math.MaxUint32 {
		return 0, false
	}
	return uint32(mbps), true
}

// ignorableEthtoolErr reports errors that mean "this kernel or device has
// no such ethtool data": the family is not registered, or the operation is
// not supported.
func ignorableEthtoolErr(err error) bool {
	r := Reason(err)
	return r == ReasonNotFound || r == ReasonNotSupported
}

// deviceFilter selects interfaces by anchored include and exclude
// patterns; a nil pattern matches nothing.
type deviceFilter struct{ include, exclude *regexp.Regexp }

func newDeviceFilter(include, exclude string) (deviceFilter, error) {
	var f deviceFilter
	var err error
	if include != "" {
		if f.include, err = regexp.Compile("^(?:" + include + ")$"); err != nil {
			return f, err
		}
	}
	if exclude != "" {
		if f.exclude, err = regexp.Compile("^(?:" + exclude + ")$"); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (f deviceFilter) ignored(name string) bool {
	if f.include != nil && !f.include.MatchString(name) {
		return true
	}
	return f.exclude != nil && f.exclude.MatchString(name)
}
