package collector

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

const (
	routeFixtureMsgs = "testdata/route/routes.bin"
	routeFixtureV4   = "testdata/route/routes-ipv4.json"
	routeFixtureV6   = "testdata/route/routes-ipv6.json"
)

// captureRouteFixture writes the raw route dump (netlink headers included)
// and iproute2's reading of the same tables.
func captureRouteFixture(t *testing.T) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETROUTE, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofRtMsg),
	})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	files := map[string][]byte{routeFixtureMsgs: raw}
	for path, fam := range map[string]string{routeFixtureV4: "-4", routeFixtureV6: "-6"} {
		js, err := exec.Command("ip", fam, "-j", "route", "show", "table", "all").Output()
		if err != nil {
			t.Fatal(err)
		}
		files[path] = js
	}
	for path, b := range files {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fixtureRouteMessages(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(routeFixtureMsgs)
	if err != nil {
		t.Fatal(err)
	}
	nms, err := syscall.ParseNetlinkMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range nms {
		if m.Header.Type == unix.RTM_NEWROUTE {
			out = append(out, m.Data)
		}
	}
	if len(out) == 0 {
		t.Fatal("fixture holds no RTM_NEWROUTE message")
	}
	return out
}

// ipRoute is the part of `ip -j route show table all` the fixture test
// compares against; iproute2 leaves type out for unicast routes.
type ipRoute struct {
	Type string `json:"type"`
	Dst  string `json:"dst"`
}

// TestRouteFixture parses a route dump captured from this kernel and
// checks the counts by family and type, and the default routes, against
// what iproute2 listed from the same tables.
func TestRouteFixture(t *testing.T) {
	if *captureFixtures {
		captureRouteFixture(t)
	}
	s, err := parseRouteMessages(fixtureRouteMessages(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		af   uint8
		path string
	}{{unix.AF_INET, routeFixtureV4}, {unix.AF_INET6, routeFixtureV6}} {
		js, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		var routes []ipRoute
		if err := json.Unmarshal(js, &routes); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{}
		wantDefault := false
		for _, r := range routes {
			typ := r.Type
			if typ == "" {
				typ = "unicast"
			}
			want[typ]++
			wantDefault = wantDefault || r.Dst == "default" && typ == "unicast"
		}
		got := map[string]int{}
		for typ, n := range s[f.af].byType {
			got[routeTypeName(typ)] += n
		}
		if len(got) != len(want) {
			t.Errorf("family %d: types %v, iproute2 %v", f.af, got, want)
		}
		for typ, n := range want {
			if got[typ] != n {
				t.Errorf("family %d: %d %s routes, iproute2 lists %d", f.af, got[typ], typ, n)
			}
		}
		if s[f.af].defaultRoute != wantDefault {
			t.Errorf("family %d: default route %v, iproute2 %v", f.af, s[f.af].defaultRoute, wantDefault)
		}
	}

	// capture.sh set these up, so a type read from the wrong byte shows.
	v4, v6 := s[unix.AF_INET].byType, s[unix.AF_INET6].byType
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"ipv4 blackhole (two, plus a blackhole default)", v4[unix.RTN_BLACKHOLE], 3},
		{"ipv4 unreachable", v4[unix.RTN_UNREACHABLE], 1},
		{"ipv4 prohibit (table 1000)", v4[unix.RTN_PROHIBIT], 1},
		{"ipv4 throw (table 1000)", v4[unix.RTN_THROW], 1},
		{"ipv6 unreachable", v6[unix.RTN_UNREACHABLE], 1},
		{"ipv6 prohibit (table 1000)", v6[unix.RTN_PROHIBIT], 1},
		{"ipv6 blackhole", v6[unix.RTN_BLACKHOLE], 1},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
		}
	}
	if !s[unix.AF_INET].defaultRoute || !s[unix.AF_INET6].defaultRoute {
		t.Error("capture.sh added a default route in both families; one was not found")
	}
}

func TestRouteEmit(t *testing.T) {
	s, err := parseRouteMessages(fixtureRouteMessages(t))
	if err != nil {
		t.Fatal(err)
	}
	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitRoutes("fixture", s, ch) })
	for key, want := range map[string]float64{
		`netcause_ip_routes{family="ipv4",netns="fixture",type="blackhole"}`:   3,
		`netcause_ip_routes{family="ipv4",netns="fixture",type="unreachable"}`: 1,
		`netcause_ip_routes{family="ipv4",netns="fixture",type="prohibit"}`:    1,
		`netcause_ip_routes{family="ipv6",netns="fixture",type="blackhole"}`:   1,
		`netcause_ip_default_route{family="ipv4",netns="fixture"}`:             1,
		`netcause_ip_default_route{family="ipv6",netns="fixture"}`:             1,
	} {
		if v, ok := got[key]; !ok {
			t.Errorf("%s missing", key)
		} else if v != want {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}

	// An empty namespace: the discarding types are there at 0, and no
	// default route.
	got = gatherValues(t, func(ch chan<- prometheus.Metric) {
		s, err := parseRouteMessages(nil)
		if err != nil {
			t.Fatal(err)
		}
		emitRoutes("empty", s, ch)
	})
	want := map[string]float64{}
	for _, fam := range []string{"ipv4", "ipv6"} {
		for _, typ := range []string{"blackhole", "unreachable", "prohibit"} {
			want[`netcause_ip_routes{family="`+fam+`",netns="empty",type="`+typ+`"}`] = 0
		}
		want[`netcause_ip_default_route{family="`+fam+`",netns="empty"}`] = 0
	}
	if len(got) != len(want) {
		t.Errorf("empty namespace: %v, want %v", got, want)
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("empty namespace: %s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// rtMsg builds a route message body.
func rtMsg(family, dstLen, typ uint8, flags uint32, attrs ...[]byte) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0], b[1], b[4], b[7] = family, dstLen, unix.RT_TABLE_MAIN, typ
	binary.NativeEndian.PutUint32(b[8:], flags)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseRouteMessages(t *testing.T) {
	s, err := parseRouteMessages([][]byte{
		rtMsg(unix.AF_INET, 0, unix.RTN_UNICAST, 0, attr(unix.RTA_TABLE, u32(5000))),
		rtMsg(unix.AF_INET, 24, 42, 0), // a type a later kernel may add
		rtMsg(unix.AF_INET, 24, unix.RTN_UNSPEC, 0),
		rtMsg(unix.AF_INET6, 0, unix.RTN_UNREACHABLE, 0),                  // an unreachable default is no default
		rtMsg(unix.AF_INET6, 128, unix.RTN_UNICAST, unix.RTM_F_CLONED),    // an exception, not a route
		rtMsg(unix.AF_MPLS, 20, unix.RTN_UNICAST, 0),                      // not counted
		rtMsg(128 /* RTNL_FAMILY_IPMR */, 32, unix.RTN_MULTICAST, 0, nil), // not counted
	})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := s[unix.AF_INET], s[unix.AF_INET6]
	if !v4.defaultRoute || v6.defaultRoute {
		t.Errorf("default routes: ipv4 %v ipv6 %v, want true false", v4.defaultRoute, v6.defaultRoute)
	}
	if v4.byType[unix.RTN_UNICAST] != 1 || v6.byType[unix.RTN_UNICAST] != 0 || v6.byType[unix.RTN_UNREACHABLE] != 1 {
		t.Errorf("counts: ipv4 %v ipv6 %v", v4.byType, v6.byType)
	}
	// Two unknown types become one "other" series, not a duplicate.
	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitRoutes("x", s, ch) })
	if v := got[`netcause_ip_routes{family="ipv4",netns="x",type="other"}`]; v != 2 {
		t.Errorf("other = %v, want 2", v)
	}

	good := rtMsg(unix.AF_INET, 24, unix.RTN_BLACKHOLE, 0)
	for desc, msg := range map[string][]byte{
		"empty":                  nil,
		"short rtmsg":            make([]byte, 8),
		"table not u32":          rtMsg(unix.AF_INET, 0, unix.RTN_UNICAST, 0, attr(unix.RTA_TABLE, []byte{1})),
		"attribute past the end": append(rtMsg(unix.AF_INET, 0, unix.RTN_UNICAST, 0), 0xff, 0x00, 0x03, 0x00),
		"truncated header":       append(rtMsg(unix.AF_INET, 0, unix.RTN_UNICAST, 0), 8, 0),
	} {
		if _, err := parseRouteMessage(msg); err == nil {
			t.Errorf("%s: no error", desc)
		}
		// The well-formed route of the same dump is still counted.
		s, err := parseRouteMessages([][]byte{good, msg})
		if err == nil || s[unix.AF_INET].byType[unix.RTN_BLACKHOLE] != 1 {
			t.Errorf("%s in a dump: error %v, blackholes %d; want an error and 1", desc, err, s[unix.AF_INET].byType[unix.RTN_BLACKHOLE])
		}
	}
}

// FuzzParseRouteMessage: no input may panic, and a parsed dump always has
// both families.
func FuzzParseRouteMessage(f *testing.F) {
	for _, m := range fixtureRouteMessages(f) {
		f.Add(m)
	}
	f.Add(rtMsg(unix.AF_INET, 0, unix.RTN_UNICAST, 0, attr(unix.RTA_TABLE, u32(1000))))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := parseRouteMessages([][]byte{b})
		if s[unix.AF_INET] == nil || s[unix.AF_INET6] == nil {
			t.Fatalf("family missing: %v", s)
		}
		_ = gatherValues(t, func(ch chan<- prometheus.Metric) { emitRoutes("fuzz", s, ch) })
	})
}

func TestParseRTCache(t *testing.T) {
	cpus, err := parseCTCPUList(string(mustRead(t, "testdata/route/cpu_possible")))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parseRTCache(openFixture(t, "testdata/route/rt_cache"), cpus)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(cpus) {
		t.Fatalf("%d rows for %d possible CPUs", len(rows), len(cpus))
	}
	// The fixture is the file of a machine whose tests forwarded packets
	// into blackholes and through reverse-path filters: both columns are
	// non-zero, and reading them from a wrong column would give the
	// in_slow_tot values beside them, which differ.
	text := string(mustRead(t, "testdata/route/rt_cache"))
	lines := strings.Split(strings.TrimSpace(text), "\n")
	header := strings.Fields(lines[0])
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for i, r := range rows {
		f := strings.Fields(lines[i+1])
		if want := hexField(t, f[col["in_no_route"]]); r.noRoute != want {
			t.Errorf("CPU %d: in_no_route %d, want %d", r.cpu, r.noRoute, want)
		}
		if want := hexField(t, f[col["in_martian_src"]]); r.martianSrc != want {
			t.Errorf("CPU %d: in_martian_src %d, want %d", r.cpu, r.martianSrc, want)
		}
		if r.cpu != cpus[i] {
			t.Errorf("row %d named CPU %d, want %d", i, r.cpu, cpus[i])
		}
	}
	if rows[0].noRoute == 0 || rows[0].martianSrc == 0 {
		t.Error("fixture's CPU 0 counts no in_no_route or in_martian_src: the comparison above proves little")
	}
	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitRTCache("host", rows, ch) })
	if v := got[`netcause_route_input_no_route_total{cpu="0",netns="host"}`]; v != float64(rows[0].noRoute) {
		t.Errorf("emitted in_no_route of CPU 0 = %v, want %d", v, rows[0].noRoute)
	}
	if len(got) != 2*len(rows) {
		t.Errorf("%d series for %d CPUs, want 2 per CPU", len(got), len(rows))
	}

	// Without a matching possible-CPU list the rows are numbered.
	rows, err = parseRTCache(strings.NewReader("entries in_no_route in_martian_src\n1 a b\n1 c d\n"), []int{4})
	if err != nil || rows[1].cpu != 1 || rows[1].noRoute != 12 || rows[1].martianSrc != 13 {
		t.Errorf("numbered rows: %+v, %v", rows, err)
	}
}

func TestParseRTCacheErrors(t *testing.T) {
	for desc, in := range map[string]string{
		"empty":          "",
		"header only":    "entries in_no_route in_martian_src\n",
		"column missing": "entries in_no_route\n1 2\n",
		"short row":      "entries in_no_route in_martian_src\n1 2\n",
		"not hex":        "entries in_no_route in_martian_src\n1 zz 3\n",
		"overflow":       "entries in_no_route in_martian_src\n1 11111111111111111 3\n",
	} {
		if _, err := parseRTCache(strings.NewReader(in), nil); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

func FuzzParseRTCache(f *testing.F) {
	f.Add(string(mustRead(f, "testdata/route/rt_cache")))
	f.Add("in_no_route in_martian_src\n0 0\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseRTCache(strings.NewReader(in), []int{0, 0})
		if err != nil {
			return
		}
		if len(rows) == 0 {
			t.Fatal("no rows without error")
		}
		_ = gatherValues(t, func(ch chan<- prometheus.Metric) { emitRTCache("fuzz", rows, ch) })
	})
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexField(t *testing.T, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
