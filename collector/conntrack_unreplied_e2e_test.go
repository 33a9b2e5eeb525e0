package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/nstest"
)

// unrepliedInTool counts the [UNREPLIED] entries of `conntrack -L -o
// extended` whose reply tuple shows a source NAT (the reply goes to another
// address than the original source), and all entries.
func unrepliedInTool(t *testing.T, ns *nstest.NS) (snat, unreplied, all int) {
	t.Helper()
	out := ns.Run("conntrack", "-L", "-o", "extended")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "ipv") {
			continue // conntrack's summary line
		}
		all++
		if !strings.Contains(line, "[UNREPLIED]") {
			continue
		}
		unreplied++
		var src, dst []string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "src="); ok {
				src = append(src, v)
			}
			if v, ok := strings.CutPrefix(f, "dst="); ok {
				dst = append(dst, v)
			}
		}
		if len(src) == 2 && len(dst) == 2 && dst[1] != src[0] {
			snat++
		}
	}
	return snat, unreplied, all
}

// The NAT mismatch of the catalogue: a router SNATs connections to an
// address the server has no route back to. Each SYN leaves an unreplied,
// source-translated conntrack entry in the router, which the collector
// must count exactly as conntrack-tools lists them, while connections it
// masquerades to its own (routable) address are answered and not counted.
// The router's SYN_SENT timeout is raised to 300 s, so the count is right
// only if the collector reads that namespace's own timeout.
func TestConntrackUnrepliedSNAT(t *testing.T) {
	client, router, server := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "ncnc0", "10.237.1.2/24", router, "ncnr0", "10.237.1.1/24")
	nstest.Veth(t, router, "ncnr1", "10.237.2.1/24", server, "ncns0", "10.237.2.2/24")
	client.Run("ip", "route", "add", "default", "via", "10.237.1.1")
	router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	router.Run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ncnr1", "-p", "tcp", "--dport", "9", "-j", "SNAT", "--to-source", "10.237.9.9")
	router.Run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ncnr1", "-p", "tcp", "--dport", "8080", "-j", "MASQUERADE")
	router.Run("sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_syn_sent=300")
	server.EchoServer("10.237.2.2:8080")
	server.Listen("tcp", "10.237.2.2:9")

	if done := client.EchoTraffic(t, "10.237.2.2:8080", 3, 1000, 5*time.Second); done != 3 {
		t.Fatalf("%d of 3 masqueraded echo connections completed; the healthy path is broken", done)
	}
	const n = 5
	for i := 0; i < n; i++ {
		if c, err := client.Dial("tcp", "10.237.2.2:9", 300*time.Millisecond); err == nil {
			c.Close()
			t.Fatal("a connection through the broken SNAT succeeded")
		}
	}
	// Past the 2 s an entry must be idle to count.
	time.Sleep(3500 * time.Millisecond)

	snat, unreplied, all := unrepliedInTool(t, router)
	s := nstest.Scrape(t, "conntrack_unreplied")
	if s2, u2, a2 := unrepliedInTool(t, router); s2 != snat || u2 != unreplied || a2 != all {
		t.Fatal("the router's conntrack table changed during the scrape")
	}
	t.Logf("router: %d entries, %d unreplied, %d of them source-translated", all, unreplied, snat)
	if snat != n || unreplied != n {
		t.Fatalf("conntrack -L shows %d unreplied (%d SNAT) entries after %d SYNs into the broken SNAT; the setup is wrong", unreplied, snat, n)
	}
	got := func(ns, nat, proto string) float64 {
		return s.Must(t, "netcause_conntrack_unreplied_entries", map[string]string{"netns": ns, "nat": nat, "protocol": proto})
	}
	if v := got(router.Name, "snat", "tcp"); v != float64(snat) {
		t.Errorf("unreplied_entries{netns=router,nat=snat,protocol=tcp} = %v, conntrack -L lists %d", v, snat)
	}
	total := 0.0
	for _, smp := range s.Find("netcause_conntrack_unreplied_entries", map[string]string{"netns": router.Name}) {
		total += smp.Value
	}
	if total != float64(unreplied) {
		t.Errorf("router's unreplied entries sum to %v, conntrack -L lists %d unreplied", total, unreplied)
	}
	if v := s.Must(t, "netcause_conntrack_unreplied_truncated", map[string]string{"netns": router.Name}); v != 0 {
		t.Errorf("truncated = %v with %d entries and the default limit", v, all)
	}
	// No conntrack in the client: zeros, not absence.
	if v := got(client.Name, "snat", "tcp"); v != 0 {
		t.Errorf("client unreplied snat tcp = %v, want 0", v)
	}
	if n := len(s.Find("netcause_conntrack_unreplied_entries", map[string]string{"netns": client.Name})); n != 16 {
		t.Errorf("client exports %d unreplied series, want 16 (4 nat x 4 protocol)", n)
	}
	noBlindSpot(t, s, router.Name)

	// The kernel sends only the unreplied entries: the cost follows them,
	// not the table.
	var size int
	if err := router.Target().Do(func() (err error) { size, err = collector.ConntrackUnrepliedDumpSize(); return err }); err != nil {
		t.Fatal(err)
	}
	if size != unreplied || all <= unreplied {
		t.Errorf("the filtered dump handed over %d entries; the table holds %d, %d unreplied", size, all, unreplied)
	}

	// At the limit the dump stops and says so.
	restore := collector.SetConntrackUnrepliedLimit(2)
	defer restore()
	s = nstest.Scrape(t, "conntrack_unreplied")
	if v := s.Must(t, "netcause_conntrack_unreplied_truncated", map[string]string{"netns": router.Name}); v != 1 {
		t.Errorf("truncated = %v with %d unreplied entries and a limit of 2, want 1", v, unreplied)
	}
	if v := got(router.Name, "snat", "tcp"); v != 2 {
		t.Errorf("unreplied snat tcp = %v at a limit of 2, want 2", v)
	}
}
