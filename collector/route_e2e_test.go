package collector_test

import (
	"encoding/json"
	"errors"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
)

// ipRouteTypes counts `ip -j route show table all` of one family in ns by
// type, the way an engineer would list them.
func ipRouteTypes(t *testing.T, ns *nstest.NS, family string) (map[string]float64, bool) {
	t.Helper()
	out := ns.Run("ip", family, "-j", "route", "show", "table", "all")
	var routes []struct {
		Type string `json:"type"`
		Dst  string `json:"dst"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("ip %s -j route show table all in %s: %v: %s", family, ns.Name, err, out)
	}
	byType := map[string]float64{}
	def := false
	for _, r := range routes {
		typ := r.Type
		if typ == "" {
			typ = "unicast"
		}
		byType[typ]++
		def = def || r.Dst == "default" && typ == "unicast"
	}
	return byType, def
}

// routeTopology is client - router - server, the router forwarding.
type routeTopology struct{ client, router, server *nstest.NS }

func newRouteTopology(t *testing.T) routeTopology {
	t.Helper()
	tp := routeTopology{nstest.New(t), nstest.New(t), nstest.New(t)}
	// Without duplicate address detection IPv6 adds its link-local
	// routes as the links come up, not a second or two later, when the
	// test may be comparing tables.
	for _, ns := range []*nstest.NS{tp.client, tp.router, tp.server} {
		ns.Run("sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
	}
	nstest.Veth(t, tp.client, "ncrc0", "10.235.1.2/24", tp.router, "ncrr0", "10.235.1.1/24")
	nstest.Veth(t, tp.router, "ncrr1", "10.235.2.1/24", tp.server, "ncrs0", "10.235.2.2/24")
	tp.client.Run("ip", "route", "add", "default", "via", "10.235.1.1")
	tp.server.Run("ip", "route", "add", "10.235.1.0/24", "via", "10.235.2.1")
	tp.router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	return tp
}

// TestRouteDiscardingRoutes: a router holding blackhole, unreachable and
// prohibit routes. The exported counts must equal what `ip route show
// table all` lists in each namespace, the default routes must be where
// they were added, and a local connect into the blackhole must fail
// without any counter moving: the reason the collector exists.
func TestRouteDiscardingRoutes(t *testing.T) {
	tp := newRouteTopology(t)
	r := tp.router
	r.Run("ip", "route", "add", "blackhole", "10.235.2.2/32")
	r.Run("ip", "route", "add", "blackhole", "10.235.9.0/24")
	r.Run("ip", "route", "add", "unreachable", "10.235.10.0/24")
	r.Run("ip", "route", "add", "prohibit", "10.235.11.0/24", "table", "1000")
	r.Run("ip", "-6", "route", "add", "blackhole", "fd00:235::/48")
	tp.client.Run("ip", "-6", "addr", "add", "fd00:235:1::2/64", "dev", "ncrc0", "nodad")
	tp.client.Run("ip", "-6", "route", "add", "default", "via", "fd00:235:1::1")

	// IPv6 adds link-local and multicast routes a moment after a link
	// comes up: wait until every namespace's tables hold still.
	listing := func() string {
		out := ""
		for _, ns := range []*nstest.NS{tp.client, r, tp.server} {
			out += ns.Run("ip", "-6", "route", "show", "table", "all") + ns.Run("ip", "-4", "route", "show", "table", "all")
		}
		return out
	}
	before := nstest.Quiesce(t, 20*time.Second, 500*time.Millisecond, listing)
	s := nstest.Scrape(t, "route")
	if listing() != before {
		t.Fatal("routes changed during the scrape; cannot compare exactly")
	}
	for _, ns := range []*nstest.NS{tp.client, r, tp.server} {
		for _, fam := range []struct{ flag, label string }{{"-4", "ipv4"}, {"-6", "ipv6"}} {
			want, def := ipRouteTypes(t, ns, fam.flag)
			for _, typ := range []string{"blackhole", "unreachable", "prohibit"} {
				if _, ok := want[typ]; !ok {
					want[typ] = 0 // always exported
				}
			}
			got := s.Find("netcause_ip_routes", map[string]string{"netns": ns.Name, "family": fam.label})
			if len(got) != len(want) {
				t.Errorf("%s %s: %d route types exported, ip route lists %v", ns.Name, fam.label, len(got), want)
			}
			for _, smp := range got {
				if w := want[smp.Labels["type"]]; smp.Value != w {
					t.Errorf("%s %s: %s routes = %v, ip route lists %v", ns.Name, fam.label, smp.Labels["type"], smp.Value, w)
				}
			}
			wantDef := 0.0
			if def {
				wantDef = 1
			}
			if v := s.Must(t, "netcause_ip_default_route", map[string]string{"netns": ns.Name, "family": fam.label}); v != wantDef {
				t.Errorf("%s %s: default route %v, ip route says %v", ns.Name, fam.label, v, wantDef)
			}
		}
	}
	for _, c := range []struct {
		ns       *nstest.NS
		fam, typ string
		want     float64
		because  string
	}{
		{r, "ipv4", "blackhole", 2, "two blackholes added"},
		{r, "ipv4", "unreachable", 1, "one unreachable added"},
		{r, "ipv4", "prohibit", 1, "one prohibit added in table 1000"},
		{r, "ipv6", "blackhole", 1, "one IPv6 blackhole added"},
		{tp.client, "ipv4", "blackhole", 0, "none in the client"},
	} {
		if v := s.Must(t, "netcause_ip_routes", map[string]string{"netns": c.ns.Name, "family": c.fam, "type": c.typ}); v != c.want {
			t.Errorf("%s %s %s = %v, want %v (%s)", c.ns.Name, c.fam, c.typ, v, c.want, c.because)
		}
	}
	for _, c := range []struct {
		ns   *nstest.NS
		fam  string
		want float64
	}{{tp.client, "ipv4", 1}, {tp.client, "ipv6", 1}, {r, "ipv4", 0}, {tp.server, "ipv4", 0}} {
		if v := s.Must(t, "netcause_ip_default_route", map[string]string{"netns": c.ns.Name, "family": c.fam}); v != c.want {
			t.Errorf("default route of %s %s = %v, want %v", c.ns.Name, c.fam, v, c.want)
		}
	}
	if len(s.Find("netcause_ip_default_route", map[string]string{"netns": "host"})) != 2 {
		t.Error("host namespace's default_route series missing")
	}

	// A connect into the blackhole fails at once with EINVAL, and neither
	// OutNoRoutes nor AttemptFails count it.
	snmpBefore := r.ProcNet("snmp")
	_, err := r.Dial("tcp", "10.235.2.2:80", 2*time.Second)
	if !errors.Is(err, syscall.EINVAL) {
		t.Errorf("connect into a blackhole: %v, want EINVAL", err)
	}
	after := r.ProcNet("snmp")
	for _, f := range []struct{ section, field string }{{"Ip", "OutNoRoutes"}, {"Tcp", "AttemptFails"}, {"Tcp", "ActiveOpens"}} {
		if b, a := procNetValue(t, snmpBefore, f.section, f.field), procNetValue(t, after, f.section, f.field); a != b {
			t.Errorf("%s %s moved from %s to %s: the kernel now counts blackholed connects; revisit the route collector's premise", f.section, f.field, b, a)
		}
	}
}

// TestRouteCacheCountsDiscards: packets forwarded into a blackhole and an
// unreachable route, and packets a reverse-path filter drops, are counted
// by the machine-wide rt_cache statistics. Other tests may add to them
// meanwhile, so the test checks a lower bound: at least one count per
// packet sent.
func TestRouteCacheCountsDiscards(t *testing.T) {
	if _, err := exec.LookPath("hping3"); err != nil {
		t.Fatal("hping3 not installed; `make test` installs it (apt-get install hping3)")
	}
	tp := newRouteTopology(t)
	r := tp.router
	r.Run("ip", "route", "add", "blackhole", "10.235.2.2/32")
	r.Run("ip", "route", "add", "unreachable", "10.235.12.0/24")
	r.Run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.ncrr0.rp_filter=1")

	sum := func(s nstest.Samples, metric string) float64 {
		total := 0.0
		for _, smp := range s.Find(metric, map[string]string{"netns": "host"}) {
			total += smp.Value
		}
		return total
	}
	const n = 300
	before := nstest.Scrape(t, "route_cache")
	if len(before.Find("netcause_route_input_no_route_total", nil)) == 0 {
		t.Fatal("no netcause_route_input_no_route_total series")
	}
	if len(before.Find("netcause_route_input_no_route_total", map[string]string{"netns": r.Name})) != 0 {
		t.Error("route_cache is HostOnly but exported a series for a test namespace")
	}
	hping := func(args ...string) {
		out, err := tp.client.RunErr(append([]string{"hping3", "-q", "--udp", "-c", strconv.Itoa(n), "-i", "u500", "-p", "9"}, args...)...)
		// hping3 exits 1 when nothing answered, which is the point here.
		if err != nil && !errors.As(err, new(interface{ ExitCode() int })) {
			t.Fatalf("hping3 %v: %v\n%s", args, err, out)
		}
	}
	hping("10.235.2.2")   // blackhole
	hping("10.235.12.34") // unreachable
	// Sources from the server's subnet arriving from the client's side:
	// the router's reverse-path filter drops them as martians. Sent to the
	// router's own address: a packet into the blackhole fails its route
	// lookup before the source is checked.
	hping("-a", "10.235.2.77", "10.235.1.1")
	after := nstest.Scrape(t, "route_cache")

	if d := sum(after, "netcause_route_input_no_route_total") - sum(before, "netcause_route_input_no_route_total"); d < 2*n {
		t.Errorf("in_no_route grew by %v after %d packets into a blackhole and %d into an unreachable route, want >= %d", d, n, n, 2*n)
	}
	if d := sum(after, "netcause_route_input_martian_source_total") - sum(before, "netcause_route_input_martian_source_total"); d < n {
		t.Errorf("in_martian_src grew by %v after %d spoofed packets, want >= %d", d, n, n)
	}
	// The same packets are invisible to the router's own InNoRoutes.
	if v := procNetValue(t, r.ProcNet("netstat"), "IpExt", "InNoRoutes"); v != "0" {
		t.Errorf("router InNoRoutes = %s after blackhole and unreachable drops, want 0", v)
	}
}
