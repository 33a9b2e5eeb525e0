package e2e

import (
	"os/exec"
	"testing"
)

// crossCheck compares one netcause figure with node_exporter's figure for
// the same thing. node_exporter is read before and after netcause, so a
// counter that moved between the reads is still judged exactly: netcause's
// value must lie between node_exporter's two.
type crossCheck struct {
	what string
	// nc and ne compute the figure from a scrape, per device when device
	// is true; ok is false when the series is absent.
	nc, ne func(s scrape, dev string) (float64, bool)
	device bool
}

type scrape = interface {
	Get(name string, match map[string]string) (float64, bool)
}

func sum(names ...string) func(s scrape, dev string) (float64, bool) {
	return func(s scrape, dev string) (float64, bool) {
		total := 0.0
		for _, n := range names {
			m := map[string]string{}
			if dev != "" {
				m["device"] = dev
			}
			if len(n) > 9 && n[:9] == "netcause_" {
				m["netns"] = "host"
			}
			v, ok := s.Get(n, m)
			if !ok {
				return 0, false
			}
			total += v
		}
		return total, true
	}
}

// For the host namespace, netcause and node_exporter agree on the figures
// both export: interface drops, errors and MTU, conntrack entries and limit,
// and TCP retransmissions.
func TestAgreesWithNodeExporter(t *testing.T) {
	ne, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		t.Fatal("prometheus-node-exporter not installed; make test installs it (Debian package prometheus-node-exporter)")
	}
	neAddr := startCommand(t, ne, "--collector.disable-defaults", "--collector.netdev", "--collector.netclass",
		"--collector.netstat", "--collector.conntrack", "--log.level=error",
		// Debian builds exclude lo by default; compare every interface.
		"--collector.netdev.device-exclude=^$")
	ncAddr := startExporter(t, nil)

	checks := []crossCheck{
		// /proc/net/dev, which node_exporter 1.5 reads, folds missed
		// errors into its drop column.
		{"rx drops", sum("netcause_network_receive_dropped_total", "netcause_network_receive_missed_errors_total"),
			sum("node_network_receive_drop_total"), true},
		{"rx errors", sum("netcause_network_receive_errors_total"), sum("node_network_receive_errs_total"), true},
		{"tx drops", sum("netcause_network_transmit_dropped_total"), sum("node_network_transmit_drop_total"), true},
		{"tx errors", sum("netcause_network_transmit_errors_total"), sum("node_network_transmit_errs_total"), true},
		{"rx packets", sum("netcause_network_receive_packets_total"), sum("node_network_receive_packets_total"), true},
		{"MTU", sum("netcause_network_mtu_bytes"), sum("node_network_mtu_bytes"), true},
		{"Tcp RetransSegs", sum("netcause_tcp_retransmitted_segments_total"), sum("node_netstat_Tcp_RetransSegs"), false},
		// node_exporter reads /proc/sys, netcause ctnetlink.
		{"conntrack entries", sum("netcause_conntrack_entries"), sum("node_nf_conntrack_entries"), false},
		{"conntrack limit", sum("netcause_conntrack_entries_limit"), sum("node_nf_conntrack_entries_limit"), false},
	}

	before := scrapeURL(t, "http://"+neAddr+"/metrics")
	nc := scrapeURL(t, "http://"+ncAddr+"/metrics")
	after := scrapeURL(t, "http://"+neAddr+"/metrics")

	var devices []string
	for _, smp := range nc.Find("netcause_network_mtu_bytes", map[string]string{"netns": "host"}) {
		devices = append(devices, smp.Labels["device"])
	}
	if len(devices) == 0 {
		t.Fatal("netcause exported no host interfaces")
	}
	compared := 0
	for _, c := range checks {
		devs := []string{""}
		if c.device {
			devs = devices
		}
		for _, dev := range devs {
			got, ok := c.nc(nc, dev)
			if !ok {
				t.Errorf("%s %s: netcause series missing", c.what, dev)
				continue
			}
			lo, ok1 := c.ne(before, dev)
			hi, ok2 := c.ne(after, dev)
			if !ok1 || !ok2 {
				t.Errorf("%s %s: node_exporter series missing", c.what, dev)
				continue
			}
			if lo > hi {
				lo, hi = hi, lo // a gauge may move down
			}
			if got < lo || got > hi {
				t.Errorf("%s %s: netcause %v, node_exporter %v then %v", c.what, dev, got, lo, hi)
			}
			compared++
		}
	}
	t.Logf("%d figures agree over %d host interfaces", compared, len(devices))
}
