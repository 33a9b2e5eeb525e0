package collector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/netns"
)

// The fixtures in testdata/conntrack were captured by
// `go test ./collector -run TestConntrackTableFull -args -conntrack.capture`
// from one quiet moment of a namespace on Linux 6.18 (2 CPUs): 200 open
// connections and one entry made with conntrack -I (201 entries), 3 SYN+FIN
// segments (invalid) and 3 SYNs dropped with the table full (drop). The
// ctnetlink replies, the procfs files and `conntrack -S` describe the same
// state, so the parsers are checked against each other and against
// conntrack-tools, not against numbers written into the test.

const ctFixtures = "testdata/conntrack/"

func ctFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(ctFixtures + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ctFixtureTool returns the captured `conntrack -S` as cpu -> statistic.
func ctFixtureTool(t *testing.T) map[int][ctNumStats]uint64 {
	t.Helper()
	parsed, err := ParseConntrackS(string(ctFixture(t, "conntrack_S.txt")))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int][ctNumStats]uint64{}
	for cpu, vals := range parsed {
		var v [ctNumStats]uint64
		for i, name := range ctToolNames {
			n, ok := vals[name]
			if !ok {
				t.Fatalf("conntrack -S fixture lacks %s", name)
			}
			v[i] = n
		}
		out[cpu] = v
	}
	return out
}

// checkCPUStats compares decoded per-CPU statistics with `conntrack -S`.
func checkCPUStats(t *testing.T, source string, got []ctCPUStats, want map[int][ctNumStats]uint64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d CPUs, conntrack -S shows %d", source, len(got), len(want))
	}
	for _, cs := range got {
		w, ok := want[cs.cpu]
		if !ok {
			t.Errorf("%s: CPU %d not in conntrack -S", source, cs.cpu)
			continue
		}
		for i := range ctNumStats {
			if !cs.has[i] {
				t.Errorf("%s: CPU %d: %s missing; this kernel reports it", source, cs.cpu, ctToolNames[i])
			} else if cs.v[i] != w[i] {
				t.Errorf("%s: CPU %d: %s = %d, conntrack -S says %d", source, cs.cpu, ctToolNames[i], cs.v[i], w[i])
			}
		}
	}
}

func TestConntrackNetlinkFixture(t *testing.T) {
	cpus, err := decodeCTStatsCPU(ctFixture(t, "netlink_stats_cpu.bin"))
	if err != nil {
		t.Fatal(err)
	}
	tool := ctFixtureTool(t)
	checkCPUStats(t, "netlink", cpus, tool)

	g, err := decodeCTStatsGlobal(ctFixture(t, "netlink_stats_global.bin"))
	if err != nil {
		t.Fatal(err)
	}
	count, err := parseCTSysctl(ctFixture(t, "proc_sys_nf_conntrack_count"))
	if err != nil {
		t.Fatal(err)
	}
	limit, err := parseCTSysctl(ctFixture(t, "proc_sys_nf_conntrack_max"))
	if err != nil {
		t.Fatal(err)
	}
	if g.entries != count {
		t.Errorf("netlink entries = %d, nf_conntrack_count = %d", g.entries, count)
	}
	if !g.hasLimit || g.limit != limit {
		t.Errorf("netlink limit = %d (present %v), nf_conntrack_max = %d", g.limit, g.hasLimit, limit)
	}

	// The capture scenario must show in the fixture, or it tests little.
	var sum [ctNumStats]uint64
	for _, v := range tool {
		for i := range v {
			sum[i] += v[i]
		}
	}
	if sum[ctDrop] == 0 || sum[ctInvalid] == 0 || sum[ctInsert] == 0 || g.entries == 0 {
		t.Errorf("fixture lacks the table-full scenario (drop %d, invalid %d, insert %d, entries %d): recapture it",
			sum[ctDrop], sum[ctInvalid], sum[ctInsert], g.entries)
	}
}

func TestConntrackProcfsFixture(t *testing.T) {
	cpuIDs, err := parseCTCPUList(string(ctFixture(t, "sys_cpu_possible")))
	if err != nil {
		t.Fatal(err)
	}
	st, err := parseCTProcStat(bytes.NewReader(ctFixture(t, "proc_stat_nf_conntrack")), cpuIDs)
	if err != nil {
		t.Fatal(err)
	}
	checkCPUStats(t, "procfs", st.cpus, ctFixtureTool(t))
	count, err := parseCTSysctl(ctFixture(t, "proc_sys_nf_conntrack_count"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.hasEntries || st.entries != count {
		t.Errorf("stat file entries = %d (present %v), nf_conntrack_count = %d", st.entries, st.hasEntries, count)
	}
}

func TestParseCTProcStatColumns(t *testing.T) {
	// An older kernel's header (Linux 4.x: searched, delete_list, no
	// clashres or chainlength), with rows that are not CPUs 0 and 1.
	in := "entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n" +
		"0000000a  00000001 00000002 00000003 00000004 00000005 00000006 00000007 00000008 00000009 0000000a 0000000b 0000000c  0000000d 0000000e 0000000f 00000010\n" +
		"0000000a  00000011 00000012 00000013 00000014 00000015 00000016 00000017 00000018 00000019 0000001a 0000001b 0000001c  0000001d 0000001e 0000001f 00000020\n"
	st, err := parseCTProcStat(strings.NewReader(in), []int{0, 4})
	if err != nil {
		t.Fatal(err)
	}
	if !st.hasEntries || st.entries != 10 || len(st.cpus) != 2 {
		t.Fatalf("got %+v", st)
	}
	c := st.cpus[1]
	if c.cpu != 4 {
		t.Errorf("second row labelled cpu %d, want 4 from the possible list", c.cpu)
	}
	for stat, want := range map[ctStat]uint64{ctFound: 0x12, ctInvalid: 0x14, ctInsert: 0x18, ctInsertFailed: 0x19,
		ctDrop: 0x1a, ctEarlyDrop: 0x1b, ctError: 0x1c, ctSearchRestart: 0x20} {
		if !c.has[stat] || c.v[stat] != want {
			t.Errorf("%s = %#x (present %v), want %#x", ctToolNames[stat], c.v[stat], c.has[stat], want)
		}
	}
	if c.has[ctClashResolve] || c.has[ctChainTooLong] {
		t.Error("clash_resolve or chain_too_long reported from a kernel without those columns")
	}
	// Without a usable possible-CPU list the rows are numbered.
	st, err = parseCTProcStat(strings.NewReader(in), []int{0})
	if err != nil || st.cpus[1].cpu != 1 {
		t.Errorf("rows not numbered from 0 without a matching CPU list: %+v, %v", st.cpus, err)
	}
}

func TestParseCTProcStatErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"blank header":       "\n00000001\n",
		"no rows":            "entries found\n",
		"too few values":     "entries found drop\n00000001 00000002\n",
		"too many values":    "entries found\n00000001 00000002 00000003\n",
		"not hexadecimal":    "entries found\n00000001 0000000g\n",
		"negative":           "entries found\n00000001 -0000001\n",
		"overflowing 64 bit": "entries found\n00000001 10000000000000000\n",
	} {
		t.Run(name, func(t *testing.T) {
			if st, err := parseCTProcStat(strings.NewReader(in), nil); err == nil {
				t.Errorf("no error for %q: %+v", in, st)
			}
		})
	}
}

func TestParseCTSysctl(t *testing.T) {
	if v, err := parseCTSysctl([]byte("262144\n")); err != nil || v != 262144 {
		t.Errorf("got %d, %v", v, err)
	}
	for _, in := range []string{"", "\n", "-1", "12 13", "0x10", "abc", "99999999999999999999"} {
		if _, err := parseCTSysctl([]byte(in)); err == nil {
			t.Errorf("no error for %q", in)
		}
	}
}

func TestParseCTCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0\n":         {0},
		"0-1\n":       {0, 1},
		"0-3,8,10-11": {0, 1, 2, 3, 8, 10, 11},
	} {
		got, err := parseCTCPUList(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "3-1", "1,", ",", "-1", "0-", "0-99999", "0-4294967295", "1-2-3"} {
		if got, err := parseCTCPUList(in); err == nil {
			t.Errorf("no error for %q: %v", in, got)
		}
	}
}

// nlMessage builds a netlink message with a host-order header.
func nlMessage(typ, flags uint16, seq uint32, data []byte) []byte {
	b := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(data)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.NLMSG_HDRLEN+len(data)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ctBody builds an nfgenmsg for cpu followed by big-endian u32 attributes
// (type, value, type, value, ...).
func ctBody(cpu uint16, attrs ...uint32) []byte {
	b := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, byte(cpu >> 8), byte(cpu)}
	for i := 0; i+1 < len(attrs); i += 2 {
		a := make([]byte, 8)
		binary.NativeEndian.PutUint16(a[0:], 8)
		binary.NativeEndian.PutUint16(a[2:], uint16(attrs[i]))
		binary.BigEndian.PutUint32(a[4:], attrs[i+1])
		b = append(b, a...)
	}
	return b
}

func nlError(errno int32) []byte {
	d := make([]byte, 4+unix.NLMSG_HDRLEN)
	binary.NativeEndian.PutUint32(d, uint32(-errno))
	return nlMessage(unix.NLMSG_ERROR, 0, 1, d)
}

var (
	ctCPUType    = uint16(unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgGetStatsCPU)
	ctGlobalType = uint16(unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgGetStats)
	nlDone       = nlMessage(unix.NLMSG_DONE, unix.NLM_F_MULTI, 2, []byte{0, 0, 0, 0})
)

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeCTStatsCPUErrors(t *testing.T) {
	fixture := ctFixture(t, "netlink_stats_cpu.bin")
	firstLen := int(binary.NativeEndian.Uint32(fixture))
	withLen := func(l uint32) []byte {
		b := bytes.Clone(fixture)
		binary.NativeEndian.PutUint32(b, l)
		return b
	}
	// The first attribute of the first message, shortened to 2 value bytes.
	shortAttr := bytes.Clone(fixture)
	binary.NativeEndian.PutUint16(shortAttr[unix.NLMSG_HDRLEN+nfgenmsgLen:], 6)
	// The first attribute claiming more bytes than its message holds.
	longAttr := bytes.Clone(fixture)
	binary.NativeEndian.PutUint16(longAttr[unix.NLMSG_HDRLEN+nfgenmsgLen:], 200)

	for name, tc := range map[string]struct {
		in     []byte
		reason string // collector.Reason of the error
	}{
		"empty":                    {nil, ReasonError},
		"cut inside a header":      {fixture[:10], ReasonError},
		"cut inside a message":     {fixture[:firstLen-3], ReasonError},
		"without DONE":             {fixture[:len(fixture)-len(nlDone)], ReasonError},
		"length beyond the bytes":  {withLen(uint32(len(fixture) + 4)), ReasonError},
		"length below a header":    {withLen(8), ReasonError},
		"attribute of 2 bytes":     {shortAttr, ReasonError},
		"attribute beyond message": {longAttr, ReasonError},
		"only DONE":                {nlDone, ReasonError},
		"no nfgenmsg":              {concat(nlMessage(ctCPUType, unix.NLM_F_MULTI, 2, []byte{0, 0}), nlDone), ReasonError},
		"CPU twice":                {concat(nlMessage(ctCPUType, 0, 2, ctBody(0, 2, 1)), nlMessage(ctCPUType, 0, 2, ctBody(0, 2, 1)), nlDone), ReasonError},
		"foreign message type":     {concat(nlMessage(ctGlobalType, 0, 2, ctBody(0, 1, 1)), nlDone), ReasonError},
		"error code positive":      {nlError(-1), ReasonError},
		"error message short":      {nlMessage(unix.NLMSG_ERROR, 0, 2, []byte{1}), ReasonError},
		"kernel refuses: EPERM":    {nlError(int32(syscall.EPERM)), ReasonPermissionDenied},
		"kernel refuses: EINVAL":   {nlError(int32(syscall.EINVAL)), ReasonNotSupported},
		"kernel refuses: ENOENT":   {nlError(int32(syscall.ENOENT)), ReasonNotFound},
	} {
		t.Run(name, func(t *testing.T) {
			cpus, err := decodeCTStatsCPU(tc.in)
			if err == nil {
				t.Fatalf("no error, got %+v", cpus)
			}
			if r := Reason(err); r != tc.reason {
				t.Errorf("Reason(%v) = %s, want %s", err, r, tc.reason)
			}
		})
	}
}

func TestDecodeCTStatsCPUSkipsUnknownAttributes(t *testing.T) {
	// Attribute 1 (searched, no longer filled), 5 (ignore) and 99 (a
	// future one) are skipped; a kernel before 5.12 sends no 14 and 15.
	in := concat(nlMessage(ctCPUType, unix.NLM_F_MULTI, 2, ctBody(3, 1, 7, 5, 7, 99, 7, 10, 42)), nlDone)
	cpus, err := decodeCTStatsCPU(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) != 1 || cpus[0].cpu != 3 {
		t.Fatalf("got %+v", cpus)
	}
	for i := range ctNumStats {
		if want := i == ctDrop; cpus[0].has[i] != want {
			t.Errorf("%s present = %v, want %v", ctToolNames[i], cpus[0].has[i], want)
		}
	}
	if cpus[0].v[ctDrop] != 42 {
		t.Errorf("drop = %d, want 42", cpus[0].v[ctDrop])
	}
}

func TestDecodeCTStatsGlobalErrors(t *testing.T) {
	fixture := ctFixture(t, "netlink_stats_global.bin")
	first := int(binary.NativeEndian.Uint32(fixture))
	ack := fixture[first:]
	for name, in := range map[string][]byte{
		"empty":              nil,
		"without ACK":        fixture[:first],
		"only ACK":           ack,
		"two messages":       concat(fixture[:first], fixture[:first], ack),
		"no entries":         concat(nlMessage(ctGlobalType, unix.NLM_F_MULTI, 1, ctBody(0, 2, 5)), ack),
		"entries of 2 bytes": concat(nlMessage(ctGlobalType, unix.NLM_F_MULTI, 1, []byte{0, 0, 0, 0, 6, 0, 1, 0, 0, 1, 0, 0}), ack),
		"no nfgenmsg":        concat(nlMessage(ctGlobalType, unix.NLM_F_MULTI, 1, []byte{0}), ack),
		"kernel refuses":     nlError(int32(syscall.EPERM)),
		"per-CPU type":       concat(nlMessage(ctCPUType, unix.NLM_F_MULTI, 1, ctBody(0, 1, 5)), ack),
	} {
		t.Run(name, func(t *testing.T) {
			if g, err := decodeCTStatsGlobal(in); err == nil {
				t.Errorf("no error, got %+v", g)
			}
		})
	}
	// A kernel before 4.18 sends no limit: entries alone are valid.
	g, err := decodeCTStatsGlobal(concat(nlMessage(ctGlobalType, unix.NLM_F_MULTI, 1, ctBody(0, 1, 5)), ack))
	if err != nil || g.entries != 5 || g.hasLimit {
		t.Errorf("entries without limit: got %+v, %v", g, err)
	}
}

// ctFakeFS writes a procfs and sysfs tree from the fixtures; omit names
// files to leave out (paths relative to the tree roots).
func ctFakeFS(t *testing.T, omit ...string) (procRoot, sysRoot string) {
	t.Helper()
	root := t.TempDir()
	procRoot, sysRoot = filepath.Join(root, "proc"), filepath.Join(root, "sys")
	files := map[string]string{
		"proc/thread-self/net/stat/nf_conntrack":      "proc_stat_nf_conntrack",
		"proc/sys/net/netfilter/nf_conntrack_count":   "proc_sys_nf_conntrack_count",
		"proc/sys/net/netfilter/nf_conntrack_max":     "proc_sys_nf_conntrack_max",
		"sys/devices/system/cpu/possible":             "sys_cpu_possible",
		"sys/module/nf_conntrack/parameters/hashsize": "",
	}
	skip := map[string]bool{}
	for _, o := range omit {
		skip[o] = true
	}
	for path, fixture := range files {
		if skip[path] {
			continue
		}
		full := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var b []byte
		if fixture != "" {
			b = ctFixture(t, fixture)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procRoot, sysRoot
}

// ctCollect runs one Update of c and returns its samples.
func ctCollect(t *testing.T, c *conntrackCollector) (map[string]float64, error) {
	t.Helper()
	var err error
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		err = c.Update(netns.Target{Name: "fixture"}, ch)
	})
	return got, err
}

// ctWant is what the fixtures say every path must export.
func ctWant(t *testing.T) map[string]float64 {
	t.Helper()
	want := map[string]float64{}
	for cpu, v := range ctFixtureTool(t) {
		for i, s := range ctStats {
			want[fmt.Sprintf(`%s{cpu="%d",netns="fixture"}`, s.def.Name, cpu)] = float64(v[i])
		}
	}
	for name, fixture := range map[string]string{
		"netcause_conntrack_entries":       "proc_sys_nf_conntrack_count",
		"netcause_conntrack_entries_limit": "proc_sys_nf_conntrack_max",
	} {
		v, err := strconv.ParseFloat(strings.TrimSpace(string(ctFixture(t, fixture))), 64)
		if err != nil {
			t.Fatal(err)
		}
		want[name+`{netns="fixture"}`] = v
	}
	return want
}

func diffSamples(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s missing", k)
		} else if g != w {
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected series %s", k)
		}
	}
}

func fixtureNetlink(t *testing.T) func(bool) ([]byte, []byte, error) {
	global, perCPU := ctFixture(t, "netlink_stats_global.bin"), ctFixture(t, "netlink_stats_cpu.bin")
	return func(bool) ([]byte, []byte, error) { return global, perCPU, nil }
}

func failingNetlink(err error) func(bool) ([]byte, []byte, error) {
	return func(bool) ([]byte, []byte, error) { return nil, nil, err }
}

func testConntrackCollector(procRoot, sysRoot string, nl func(bool) ([]byte, []byte, error)) *conntrackCollector {
	c := newConntrackCollector(slog.New(slog.DiscardHandler))
	c.procRoot, c.sysRoot, c.netlink = procRoot, sysRoot, nl
	return c
}

func TestConntrackCollectorNetlink(t *testing.T) {
	// procfs is absent: the netlink path alone must export everything.
	procRoot, sysRoot := ctFakeFS(t, "proc/thread-self/net/stat/nf_conntrack",
		"proc/sys/net/netfilter/nf_conntrack_count", "proc/sys/net/netfilter/nf_conntrack_max")
	got, err := ctCollect(t, testConntrackCollector(procRoot, sysRoot, fixtureNetlink(t)))
	if err != nil {
		t.Fatal(err)
	}
	diffSamples(t, got, ctWant(t))
}

func TestConntrackCollectorProcfsFallback(t *testing.T) {
	procRoot, sysRoot := ctFakeFS(t)
	c := testConntrackCollector(procRoot, sysRoot, failingNetlink(fmt.Errorf("ctnetlink refused the request: %w", syscall.EPERM)))
	got, err := ctCollect(t, c)
	if err != nil {
		t.Fatalf("procfs complete, yet: %v", err)
	}
	diffSamples(t, got, ctWant(t))
}

func TestConntrackCollectorBlindSpots(t *testing.T) {
	eperm := fmt.Errorf("ctnetlink refused the request: %w", syscall.EPERM)
	noNfnetlink := fmt.Errorf("netfilter netlink: %w", os.NewSyscallError("socket", syscall.EPROTONOSUPPORT))
	const (
		stat  = "proc/thread-self/net/stat/nf_conntrack"
		count = "proc/sys/net/netfilter/nf_conntrack_count"
		max   = "proc/sys/net/netfilter/nf_conntrack_max"
	)
	for name, tc := range map[string]struct {
		omit    []string
		netlink error
		reason  string   // "" for success
		series  []string // metric names exported for the namespace
	}{
		"no CAP_NET_ADMIN, no procfs": {
			omit: []string{stat, count, max}, netlink: eperm, reason: ReasonPermissionDenied},
		"no nfnetlink, no procfs": {
			omit: []string{stat, count, max}, netlink: noNfnetlink, reason: ReasonNotFound},
		// CONFIG_NF_CONNTRACK_PROCFS off: the sysctls remain.
		"no CAP_NET_ADMIN, no stat file": {
			omit: []string{stat}, netlink: eperm, reason: ReasonPermissionDenied,
			series: []string{"netcause_conntrack_entries", "netcause_conntrack_entries_limit"}},
		// A namespace owned by another user namespace hides
		// nf_conntrack_max: normal, so not an error.
		"limit hidden": {
			omit: []string{max}, netlink: eperm,
			series: append([]string{"netcause_conntrack_entries"}, ctMetricNames()...)},
		"count sysctl missing, stat file has it": {
			omit: []string{count}, netlink: eperm,
			series: append([]string{"netcause_conntrack_entries", "netcause_conntrack_entries_limit"}, ctMetricNames()...)},
	} {
		t.Run(name, func(t *testing.T) {
			procRoot, sysRoot := ctFakeFS(t, tc.omit...)
			got, err := ctCollect(t, testConntrackCollector(procRoot, sysRoot, failingNetlink(tc.netlink)))
			switch {
			case tc.reason == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.reason != "" && err == nil:
				t.Errorf("no error, want reason %s", tc.reason)
			case tc.reason != "" && Reason(err) != tc.reason:
				t.Errorf("Reason(%v) = %s, want %s", err, Reason(err), tc.reason)
			}
			names := map[string]bool{}
			for k := range got {
				names[k[:strings.Index(k, "{")]] = true
			}
			if len(names) != len(tc.series) {
				t.Errorf("exported %v, want %v", names, tc.series)
			}
			for _, s := range tc.series {
				if !names[s] {
					t.Errorf("%s not exported", s)
				}
			}
		})
	}
}

func ctMetricNames() []string {
	var out []string
	for _, s := range ctStats {
		out = append(out, s.def.Name)
	}
	return out
}

func TestConntrackCollectorModuleNotLoaded(t *testing.T) {
	procRoot, sysRoot := ctFakeFS(t, "sys/module/nf_conntrack/parameters/hashsize")
	if err := os.RemoveAll(filepath.Join(sysRoot, "module/nf_conntrack")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(sysRoot, "module/other"), 0o755); err != nil {
		t.Fatal(err)
	}
	asked := false
	c := testConntrackCollector(procRoot, sysRoot, func(bool) ([]byte, []byte, error) {
		asked = true
		return nil, nil, errors.New("must not be asked")
	})
	got, err := ctCollect(t, c)
	if !errors.Is(err, errConntrackNotLoaded) || Reason(err) != ReasonNotFound {
		t.Errorf("got %v (reason %s), want errConntrackNotLoaded / not_found", err, Reason(err))
	}
	if asked {
		t.Error("ctnetlink was asked, which would make the kernel load nf_conntrack")
	}
	if len(got) != 0 {
		t.Errorf("exported %v", got)
	}

	// Without sysfs the collector cannot tell and asks the readers.
	if err := os.RemoveAll(filepath.Join(sysRoot, "module")); err != nil {
		t.Fatal(err)
	}
	c = testConntrackCollector(procRoot, sysRoot, fixtureNetlink(t))
	if _, err := ctCollect(t, c); err != nil {
		t.Errorf("without /sys/module: %v", err)
	}
}

func TestConntrackCollectorFallbackOnMalformedNetlink(t *testing.T) {
	procRoot, sysRoot := ctFakeFS(t)
	perCPU := ctFixture(t, "netlink_stats_cpu.bin")
	global := ctFixture(t, "netlink_stats_global.bin")
	c := testConntrackCollector(procRoot, sysRoot, func(bool) ([]byte, []byte, error) {
		return global, perCPU[:len(perCPU)-7], nil
	})
	got, err := ctCollect(t, c)
	if err != nil {
		t.Fatalf("procfs complete, yet: %v", err)
	}
	diffSamples(t, got, ctWant(t))
}

func FuzzDecodeCTStatsCPU(f *testing.F) {
	b, err := os.ReadFile(ctFixtures + "netlink_stats_cpu.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(nlDone)
	f.Add(nlError(int32(syscall.EPERM)))
	f.Fuzz(func(t *testing.T, in []byte) {
		cpus, err := decodeCTStatsCPU(in)
		if err != nil {
			return
		}
		if len(cpus) == 0 {
			t.Error("no CPUs without an error")
		}
		seen := map[int]bool{}
		for _, c := range cpus {
			if seen[c.cpu] {
				t.Errorf("CPU %d twice without an error", c.cpu)
			}
			seen[c.cpu] = true
		}
	})
}

func FuzzDecodeCTStatsGlobal(f *testing.F) {
	b, err := os.ReadFile(ctFixtures + "netlink_stats_global.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(nlError(int32(syscall.EINVAL)))
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = decodeCTStatsGlobal(in)
	})
}

func FuzzParseCTProcStat(f *testing.F) {
	b, err := os.ReadFile(ctFixtures + "proc_stat_nf_conntrack")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("entries found\n1 2\n")
	f.Fuzz(func(t *testing.T, in string) {
		st, err := parseCTProcStat(strings.NewReader(in), []int{0, 1})
		if err == nil && len(st.cpus) == 0 {
			t.Error("no rows without an error")
		}
	})
}

func FuzzParseCTCPUList(f *testing.F) {
	f.Add("0-1\n")
	f.Add("0-3,8,10-11")
	f.Fuzz(func(t *testing.T, in string) {
		cpus, err := parseCTCPUList(in)
		if err == nil && (len(cpus) == 0 || len(cpus) > ctMaxCPUs) {
			t.Errorf("%d CPUs without an error", len(cpus))
		}
	})
}

// BenchmarkConntrackUpdate is one scrape of the exporter's own namespace
// through ctnetlink: socket, two queries, decoding and the metrics.
func BenchmarkConntrackUpdate(b *testing.B) {
	benchConntrack(b, newConntrackCollector(slog.New(slog.DiscardHandler)))
}

// BenchmarkConntrackUpdateProcfs is the same through the procfs fallback.
func BenchmarkConntrackUpdateProcfs(b *testing.B) {
	c := newConntrackCollector(slog.New(slog.DiscardHandler))
	c.netlink = failingNetlink(syscall.EPERM)
	benchConntrack(b, c)
}

func benchConntrack(b *testing.B, c *conntrackCollector) {
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan int)
	go func() {
		n := 0
		for range ch {
			n++
		}
		done <- n
	}()
	t := netns.Target{Name: "host"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := c.Update(t, ch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(ch)
	b.ReportMetric(float64(<-done)/float64(b.N), "series/op")
}

// TestCtnetlinkSocketKeptAndRenewed asks this machine's kernel: the socket
// of the exporter's own namespace survives between reads, and one that
// fails is replaced rather than used again.
func TestCtnetlinkSocketKeptAndRenewed(t *testing.T) {
	s := ctnetlinkSocket{fd: -1}
	t.Cleanup(func() {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
	})
	if _, _, err := s.read(); err != nil {
		t.Fatalf("first read: %v", err)
	}
	fd := s.fd
	if _, _, err := s.read(); err != nil {
		t.Fatalf("second read: %v", err)
	}
	if fd < 0 || s.fd != fd {
		t.Fatalf("socket %d after the first read, %d after the second: not kept", fd, s.fd)
	}
	unix.Close(fd) // the socket breaks behind the reader's back
	if _, _, err := s.read(); err == nil {
		t.Fatal("read on a closed socket succeeded")
	}
	if s.fd != -1 {
		t.Fatalf("failed socket %d kept", s.fd)
	}
	global, perCPU, err := s.read()
	if err != nil {
		t.Fatalf("read after the failure: %v", err)
	}
	if _, err := decodeCTStatsGlobal(global); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeCTStatsCPU(perCPU); err != nil {
		t.Fatal(err)
	}
}
