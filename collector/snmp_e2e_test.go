package collector_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
)

// procNetValue returns a field of /proc/PID/net/snmp or netstat text.
func procNetValue(t *testing.T, text, section, field string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i += 2 {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != section+":" {
			continue
		}
		for j, n := range names {
			if n == field && j < len(vals) {
				return vals[j]
			}
		}
	}
	t.Fatalf("%s %s not found", section, field)
	return ""
}

// The seed case: a random 30% DROP rule in a container's INPUT chain makes
// TCP retransmit. The exported RetransSegs and SynRetrans of that namespace
// must equal its own /proc/PID/net counters, and the host must not see them.
func TestSNMPRetransmitsInNamespace(t *testing.T) {
	client, server := nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "ncc0", "10.201.0.1/24", server, "ncs0", "10.201.0.2/24")
	server.Run("iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", "0.30", "-j", "DROP")
	server.EchoServer("10.201.0.2:8080")

	done := client.EchoTraffic(t, "10.201.0.2:8080", 20, 32<<10, 8*time.Second)
	t.Logf("%d of 20 echo connections completed through the 30%% drop", done)

	read := func() string { return server.ProcNet("snmp") + server.ProcNet("netstat") }
	before := nstest.Quiesce(t, 40*time.Second, 1500*time.Millisecond, read)
	s := nstest.Scrape(t, "snmp")
	if after := read(); after != before {
		t.Fatal("counters moved during the scrape; cannot compare exactly")
	}

	for _, c := range []struct{ metric, section, field string }{
		{"netcause_tcp_retransmitted_segments_total", "Tcp", "RetransSegs"},
		{"netcause_tcp_syn_retransmits_total", "TcpExt", "TCPSynRetrans"},
		{"netcause_tcp_passive_opens_total", "Tcp", "PassiveOpens"},
	} {
		got := s.Must(t, c.metric, map[string]string{"netns": server.Name})
		want := procNetValue(t, before, c.section, c.field)
		if g := formatFloat(got); g != want {
			t.Errorf("%s{netns=%s} = %s, /proc/PID/net says %s %s = %s", c.metric, server.Name, g, c.section, c.field, want)
		}
	}
	if got := s.Must(t, "netcause_tcp_retransmitted_segments_total", map[string]string{"netns": server.Name}); got == 0 {
		t.Error("no retransmissions through a 30% drop rule: the test did not exercise loss")
	}
	if len(s.Find("netcause_tcp_retransmitted_segments_total", map[string]string{"netns": "host"})) != 1 {
		t.Error("host namespace series missing")
	}
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
