package collector_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

var conntrackCapture = flag.Bool("conntrack.capture", false,
	"rewrite testdata/conntrack from the live kernel at the end of TestConntrackTableFull")

const (
	ctMaxPath   = "/proc/sys/net/netfilter/nf_conntrack_max"
	ctCountPath = "/proc/sys/net/netfilter/nf_conntrack_count"
)

// ctLink is a client and a server namespace joined by a veth on
// 10.173.<n>.0/24. The client's ruleset has an nft ct rule, so the kernel
// tracks the client's connections; the server has no rule, so nothing is
// tracked there. The server accepts connections and holds them open until
// the test ends.
type ctLink struct {
	client, server     *nstest.NS
	clientIP, serverIP string
	addr               string
}

func newCTLink(t *testing.T, n int) ctLink {
	t.Helper()
	for bin, pkg := range map[string]string{"conntrack": "conntrack", "nft": "nftables", "hping3": "hping3"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed; `make test` installs it (apt-get install %s)", bin, pkg)
		}
	}
	client, server := nstest.New(t), nstest.New(t)
	clientIP, serverIP := fmt.Sprintf("10.173.%d.1", n), fmt.Sprintf("10.173.%d.2", n)
	nstest.Veth(t, client, "ctc0", clientIP+"/24", server, "cts0", serverIP+"/24")
	client.Run("nft", "add", "table", "ip", "nctest")
	client.Run("nft", "add", "chain", "ip", "nctest", "out", "{ type filter hook output priority 0 ; }")
	client.Run("nft", "add", "rule", "ip", "nctest", "out", "ct", "state", "new", "counter")

	addr := net.JoinHostPort(serverIP, "8080")
	l := server.Listen("tcp", addr)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ctLink{client: client, server: server, clientIP: clientIP, serverIP: serverIP, addr: addr}
}

// exercise makes counters other than drop non-zero, so comparisons with
// `conntrack -S` check more than zeros: one entry inserted through
// ctnetlink (insert, and one more entry) and three SYN+FIN segments, which
// conntrack marks invalid.
func (l ctLink) exercise(t *testing.T) {
	t.Helper()
	l.client.Run("conntrack", "-I", "-p", "udp", "-s", l.clientIP, "-d", l.serverIP, "--sport", "1000", "--dport", "53", "-t", "120")
	// The server drops SYN+FIN without an answer, so hping3 exits 1.
	if out, _ := l.client.RunErr("hping3", "-q", "-c", "3", "-i", "u100000", "-S", "-F", "-p", "8080", l.serverIP); !strings.Contains(out, "3 packets transmitted") {
		t.Fatalf("hping3 did not send its 3 SYN+FIN segments:\n%s", out)
	}
}

// hold opens n connections from the client and keeps them open until the
// test ends.
func (l ctLink) hold(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c, err := l.client.Dial("tcp", l.addr, 2*time.Second)
		if err != nil {
			t.Fatalf("connection %d of %d to %s: %v", i+1, n, l.addr, err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// tool returns `conntrack -S` and `conntrack -C` of the client namespace.
func (l ctLink) tool(t *testing.T) string {
	return l.client.Run("conntrack", "-S") + "count " + l.client.Run("conntrack", "-C")
}

// quiesce waits until the client's conntrack counters stop moving.
func (l ctLink) quiesce(t *testing.T) string {
	return nstest.Quiesce(t, 30*time.Second, 500*time.Millisecond, func() string { return l.tool(t) })
}

// toolCount returns the `conntrack -C` figure of l.tool output.
func toolCount(t *testing.T, out string) float64 {
	t.Helper()
	_, c, ok := strings.Cut(out, "count ")
	if !ok {
		t.Fatalf("no count in %q", out)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(c), 64)
	if err != nil {
		t.Fatalf("conntrack -C: %v", err)
	}
	return v
}

// toolStats parses the `conntrack -S` part of l.tool output.
func toolStats(t *testing.T, out string) map[int]map[string]uint64 {
	t.Helper()
	s, _, _ := strings.Cut(out, "count ")
	stats, err := collector.ParseConntrackS(s)
	if err != nil {
		t.Fatal(err)
	}
	return stats
}

// checkStatsEqual fails unless every per-CPU statistic exported for ns
// equals what `conntrack -S` printed, and exactly its CPUs are exported.
func checkStatsEqual(t *testing.T, s nstest.Samples, ns string, tool map[int]map[string]uint64) {
	t.Helper()
	for field, metric := range collector.ConntrackToolMetrics() {
		if got := len(s.Find(metric, map[string]string{"netns": ns})); got != len(tool) {
			t.Errorf("%s{netns=%s}: %d CPU series, conntrack -S shows %d CPUs", metric, ns, got, len(tool))
		}
		for cpu, vals := range tool {
			want, ok := vals[field]
			if !ok {
				t.Errorf("conntrack -S has no %s for cpu %d", field, cpu)
				continue
			}
			got := s.Must(t, metric, map[string]string{"netns": ns, "cpu": strconv.Itoa(cpu)})
			if got != float64(want) {
				t.Errorf("%s{netns=%s,cpu=%d} = %v, conntrack -S says %s=%d", metric, ns, cpu, got, field, want)
			}
		}
	}
}

// sumField adds a `conntrack -S` field over the CPUs.
func sumField(tool map[int]map[string]uint64, field string) uint64 {
	var n uint64
	for _, v := range tool {
		n += v[field]
	}
	return n
}

// sumMetric adds a metric of ns over the CPUs.
func sumMetric(s nstest.Samples, metric, ns string) float64 {
	var n float64
	for _, smp := range s.Find(metric, map[string]string{"netns": ns}) {
		n += smp.Value
	}
	return n
}

func readUint(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func noBlindSpot(t *testing.T, s nstest.Samples, ns string) {
	t.Helper()
	if u := s.Find("netcause_collector_unavailable", map[string]string{"collector": "conntrack", "netns": ns}); len(u) != 0 {
		t.Errorf("conntrack reported as unavailable in %s: %v", ns, u)
	}
}

// Opening N connections in a namespace raises its exported entries by at
// least N; a namespace whose ruleset does not use conntrack reports a true
// 0, not a blind spot; the limit is the machine-wide nf_conntrack_max, the
// same in every namespace and read-only outside the initial one.
func TestConntrackEntriesInNamespace(t *testing.T) {
	link := newCTLink(t, 1)
	client, server := link.client.Name, link.server.Name

	s0 := nstest.Scrape(t, "conntrack")
	before := s0.Must(t, "netcause_conntrack_entries", map[string]string{"netns": client})

	const n = 40
	link.hold(t, n)
	link.exercise(t)
	tool := link.quiesce(t)
	s := nstest.Scrape(t, "conntrack")
	if link.tool(t) != tool {
		t.Fatal("conntrack counters moved during the scrape; cannot compare exactly")
	}

	after := s.Must(t, "netcause_conntrack_entries", map[string]string{"netns": client})
	if after < before+n {
		t.Errorf("entries{netns=%s} went from %v to %v after opening %d connections; want a rise of at least %d", client, before, after, n, n)
	}
	if want := toolCount(t, tool); after != want {
		t.Errorf("entries{netns=%s} = %v, conntrack -C says %v", client, after, want)
	}
	stats := toolStats(t, tool)
	checkStatsEqual(t, s, client, stats)
	if got := sumMetric(s, "netcause_conntrack_invalid_total", client); got < 3 {
		t.Errorf("invalid_total{netns=%s} sums to %v after 3 SYN+FIN segments, want at least 3", client, got)
	}
	if got := sumMetric(s, "netcause_conntrack_inserted_total", client); got != 1 {
		t.Errorf("inserted_total{netns=%s} sums to %v after one conntrack -I, want 1", client, got)
	}
	t.Logf("conntrack -S and -C in %s with %d connections open:\n%s", client, n, tool)

	// The server accepted the same connections, but nothing in its
	// namespace uses conntrack: 0 entries is the truth there.
	if got := s.Must(t, "netcause_conntrack_entries", map[string]string{"netns": server}); got != 0 {
		t.Errorf("entries{netns=%s} = %v in a namespace without conntrack rules, want 0", server, got)
	}
	noBlindSpot(t, s, client)
	noBlindSpot(t, s, server)

	// The limit: what sysctl shows inside the namespace, the host's value,
	// and not writable from inside the namespace on this kernel.
	sysctl := strings.TrimSpace(link.client.Run("sysctl", "-n", "net.netfilter.nf_conntrack_max"))
	limit := s.Must(t, "netcause_conntrack_entries_limit", map[string]string{"netns": client})
	if formatFloat(limit) != sysctl {
		t.Errorf("entries_limit{netns=%s} = %v, sysctl net.netfilter.nf_conntrack_max in it says %s", client, limit, sysctl)
	}
	if host := float64(readUint(t, ctMaxPath)); limit != host {
		t.Errorf("entries_limit{netns=%s} = %v, the initial namespace's nf_conntrack_max is %v: the help text says it is global", client, limit, host)
	}
	// (sysctl -w exits 0 even when the write fails, so write the file.)
	err := link.client.Target().Do(func() error { return os.WriteFile(ctMaxPath, []byte(sysctl), 0o644) })
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("writing nf_conntrack_max inside a namespace returned %v, want permission denied: the help text says it is read-only there", err)
	}
}

// ctMaxMarker records the original nf_conntrack_max while a test has
// lowered it, so a test binary killed inside that window (go test's
// -timeout does not run cleanups) is repaired by the next run.
const ctMaxMarker = "/run/netcause-test-nf_conntrack_max"

// restoreStaleConntrackMax puts back a limit a killed test left lowered.
func restoreStaleConntrackMax(t *testing.T) {
	b, err := os.ReadFile(ctMaxMarker)
	if err != nil {
		return
	}
	var pid int
	var orig string
	if _, err := fmt.Sscan(string(b), &pid, &orig); err != nil {
		t.Fatalf("%s: %v", ctMaxMarker, err)
	}
	if err := syscall.Kill(pid, 0); err == nil || !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("another test (pid %d) has lowered nf_conntrack_max right now; run again when it is done (or remove %s if pid %d is no test)", pid, ctMaxMarker, pid)
	}
	if err := os.WriteFile(ctMaxPath, []byte(orig), 0o644); err != nil {
		t.Fatalf("restoring nf_conntrack_max=%s left by pid %d: %v", orig, pid, err)
	}
	os.Remove(ctMaxMarker)
	t.Logf("restored nf_conntrack_max=%s left lowered by killed test pid %d", orig, pid)
}

// busiestOtherNamespace returns the largest conntrack entry count among
// the host and the named namespaces other than skip.
func busiestOtherNamespace(t *testing.T, skip string) (string, uint64) {
	name, most := "host", readUint(t, ctCountPath)
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if e.Name() == skip {
			continue
		}
		tg := netns.Target{Name: e.Name(), Path: filepath.Join("/run/netns", e.Name()), Kind: "named"}
		var b []byte
		// A namespace of another test may vanish meanwhile: skip it.
		if err := tg.Do(func() (err error) { b, err = os.ReadFile(ctCountPath); return err }); err != nil {
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > most {
			name, most = e.Name(), v
		}
	}
	return name, most
}

// With nf_conntrack_max lowered to what a namespace holds, its new
// connections fail, and the exported drop, early_drop and insert_failed
// counters rise by exactly what `conntrack -S` shows in it.
//
// nf_conntrack_max is writable only in the initial namespace, so the test
// lowers the host's value, which every namespace of the machine compares
// its own count with. It lowers it to the test namespace's count, after
// checking no other namespace holds as many entries, for about a third of
// a second, and restores it in t.Cleanup as well.
func TestConntrackTableFull(t *testing.T) {
	restoreStaleConntrackMax(t)
	link := newCTLink(t, 2)
	client := link.client.Name

	// Hold enough connections that the lowered limit stays above what
	// other tests' namespaces are likely to hold.
	const held = 200
	link.hold(t, held)
	link.exercise(t)
	toolBefore := link.quiesce(t)
	sBefore := nstest.Scrape(t, "conntrack")
	if link.tool(t) != toolBefore {
		t.Fatal("conntrack counters moved during the scrape; cannot compare exactly")
	}
	checkStatsEqual(t, sBefore, client, toolStats(t, toolBefore))

	count := uint64(toolCount(t, toolBefore))
	if count < held {
		t.Fatalf("conntrack -C = %d with %d connections open", count, held)
	}
	if ns, most := busiestOtherNamespace(t, client); most >= count {
		t.Fatalf("namespace %s holds %d conntrack entries, at least the %d of the test namespace: lowering nf_conntrack_max would drop its connections too; not lowering it", ns, most, count)
	}

	orig := strings.TrimSpace(string(ctMust(os.ReadFile(ctMaxPath))))
	restored := false
	restore := func() {
		if restored {
			return
		}
		if err := os.WriteFile(ctMaxPath, []byte(orig), 0o644); err != nil {
			t.Errorf("restoring nf_conntrack_max=%s: %v", orig, err)
			return
		}
		restored = true
		os.Remove(ctMaxMarker)
	}
	t.Cleanup(restore)
	if err := os.WriteFile(ctMaxMarker, fmt.Appendf(nil, "%d %s\n", os.Getpid(), orig), 0o644); err != nil {
		t.Fatal(err)
	}

	// The lowered window: three connection attempts in parallel, each
	// bounded below the 1 s SYN retransmission, then restore at once.
	const attempts = 3
	lowered := time.Now()
	if err := os.WriteFile(ctMaxPath, []byte(strconv.FormatUint(count, 10)), 0o644); err != nil {
		t.Fatalf("lowering nf_conntrack_max to %d: %v", count, err)
	}
	dialErrs := make([]error, attempts)
	var wg sync.WaitGroup
	for i := range dialErrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := link.client.Dial("tcp", link.addr, 250*time.Millisecond)
			if err == nil {
				c.Close()
			}
			dialErrs[i] = err
		}()
	}
	wg.Wait()
	var seenInNS []byte
	nsErr := link.client.Target().Do(func() (err error) { seenInNS, err = os.ReadFile(ctMaxPath); return err })
	restore()
	t.Logf("nf_conntrack_max was %d (not %s) for %v", count, orig, time.Since(lowered).Round(time.Millisecond))

	if nsErr != nil || strings.TrimSpace(string(seenInNS)) != strconv.FormatUint(count, 10) {
		t.Errorf("inside %s nf_conntrack_max read %q (%v) while the host's was %d: the help text says it is global", client, seenInNS, nsErr, count)
	}
	failed := 0
	for i, err := range dialErrs {
		if err == nil {
			t.Errorf("connection attempt %d succeeded with the table full", i+1)
		} else {
			failed++
		}
	}

	toolAfter := link.quiesce(t)
	sAfter := nstest.Scrape(t, "conntrack")
	if link.tool(t) != toolAfter {
		t.Fatal("conntrack counters moved during the scrape; cannot compare exactly")
	}
	checkStatsEqual(t, sAfter, client, toolStats(t, toolAfter))

	tb, ta := toolStats(t, toolBefore), toolStats(t, toolAfter)
	var rise uint64
	for field, metric := range map[string]string{
		"drop":          "netcause_conntrack_dropped_total",
		"early_drop":    "netcause_conntrack_early_dropped_total",
		"insert_failed": "netcause_conntrack_insert_failed_total",
	} {
		want := sumField(ta, field) - sumField(tb, field)
		got := sumMetric(sAfter, metric, client) - sumMetric(sBefore, metric, client)
		t.Logf("%s rose by %v (conntrack -S: %s rose by %d)", metric, got, field, want)
		if got != float64(want) {
			t.Errorf("%s{netns=%s} rose by %v, conntrack -S %s rose by %d", metric, client, got, field, want)
		}
		rise += want
	}
	if rise < uint64(failed) {
		t.Errorf("%d connection attempts failed but drop+early_drop+insert_failed rose by only %d", failed, rise)
	}
	if got := sAfter.Must(t, "netcause_conntrack_entries_limit", map[string]string{"netns": client}); formatFloat(got) != orig {
		t.Errorf("entries_limit after restoring = %v, want %s", got, orig)
	}
	noBlindSpot(t, sAfter, client)

	if *conntrackCapture {
		captureConntrackFixtures(t, link)
	}
}

// captureConntrackFixtures writes the netlink replies, the procfs files
// and `conntrack -S` of the client namespace, all from one quiet moment,
// to testdata/conntrack.
func captureConntrackFixtures(t *testing.T, link ctLink) {
	t.Helper()
	tool := link.quiesce(t)
	var global, perCPU []byte
	if err := link.client.Target().Do(func() (err error) {
		global, perCPU, err = collector.ConntrackNetlinkReplies()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"netlink_stats_global.bin":    global,
		"netlink_stats_cpu.bin":       perCPU,
		"proc_stat_nf_conntrack":      []byte(link.client.ProcNet("stat/nf_conntrack")),
		"proc_sys_nf_conntrack_count": []byte(link.client.Run("cat", ctCountPath)),
		"proc_sys_nf_conntrack_max":   []byte(link.client.Run("cat", ctMaxPath)),
		"sys_cpu_possible":            ctMust(os.ReadFile("/sys/devices/system/cpu/possible")),
		"conntrack_S.txt":             []byte(link.client.Run("conntrack", "-S")),
	}
	if link.tool(t) != tool {
		t.Fatal("counters moved during the capture; run it again")
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join("testdata/conntrack", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("rewrote testdata/conntrack")
}

func ctMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ctChildEnv, when set to "<namespace>:<output file>", makes
// TestConntrackProcfsFallbackWithoutNetAdmin run as the child its parent
// started without CAP_NET_ADMIN.
const ctChildEnv = "NETCAUSE_CONNTRACK_CHILD"

type ctChildResult struct {
	NetlinkErr string
	Fallback   nstest.Samples // the registered collector: netlink denied, procfs answers
	Blind      nstest.Samples // procfs absent too (an empty procfs root)
}

// Without CAP_NET_ADMIN the kernel refuses ctnetlink (EPERM) but procfs is
// readable: the collector falls back to procfs and exports the same values
// as `conntrack -S`, with success 1. With procfs absent as well the
// namespace becomes a blind spot with reason permission_denied.
//
// The test runs its own binary again through setpriv with CAP_NET_ADMIN
// removed, so the kernel, not a mock, refuses netlink.
func TestConntrackProcfsFallbackWithoutNetAdmin(t *testing.T) {
	if v := os.Getenv(ctChildEnv); v != "" {
		conntrackChild(t, v)
		return
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv not installed; `make test` installs it (apt-get install util-linux)")
	}
	link := newCTLink(t, 3)
	client := link.client.Name
	link.hold(t, 20)
	link.exercise(t)
	tool := link.quiesce(t)

	out := filepath.Join(t.TempDir(), "child.json")
	cmd := exec.Command("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--",
		os.Args[0], "-test.run=^TestConntrackProcfsFallbackWithoutNetAdmin$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), ctChildEnv+"="+client+":"+out)
	done := make(chan error, 1)
	var output []byte
	go func() {
		var err error
		output, err = cmd.CombinedOutput()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("child without CAP_NET_ADMIN failed: %v\n%s", err, output)
		}
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("child without CAP_NET_ADMIN did not finish in 2 minutes:\n%s", output)
	}
	if link.tool(t) != tool {
		t.Fatal("conntrack counters moved while the child scraped; cannot compare exactly")
	}
	var res ctChildResult
	if err := json.Unmarshal(ctMust(os.ReadFile(out)), &res); err != nil {
		t.Fatal(err)
	}

	t.Logf("the child's ctnetlink error: %s", res.NetlinkErr)
	if !strings.Contains(res.NetlinkErr, "operation not permitted") {
		t.Errorf("ctnetlink without CAP_NET_ADMIN returned %q, want EPERM", res.NetlinkErr)
	}

	s := res.Fallback
	noBlindSpot(t, s, client)
	if got := s.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "conntrack"}); got != 1 {
		t.Errorf("success = %v with the procfs fallback, want 1; unavailable: %v", got, s["netcause_collector_unavailable"])
	}
	if got, want := s.Must(t, "netcause_conntrack_entries", map[string]string{"netns": client}), toolCount(t, tool); got != want {
		t.Errorf("procfs entries{netns=%s} = %v, conntrack -C says %v", client, got, want)
	}
	sysctl := strings.TrimSpace(link.client.Run("sysctl", "-n", "net.netfilter.nf_conntrack_max"))
	if got := s.Must(t, "netcause_conntrack_entries_limit", map[string]string{"netns": client}); formatFloat(got) != sysctl {
		t.Errorf("procfs entries_limit{netns=%s} = %v, sysctl says %s", client, got, sysctl)
	}
	checkStatsEqual(t, s, client, toolStats(t, tool))

	b := res.Blind
	if got := b.Must(t, "netcause_collector_unavailable", map[string]string{"collector": "conntrack", "netns": client}); got != 1 {
		t.Errorf("blind spot gauge = %v", got)
	}
	if u := b.Find("netcause_collector_unavailable", map[string]string{"collector": "conntrack", "netns": client, "reason": "permission_denied"}); len(u) != 1 {
		t.Errorf("want the blind spot of %s with reason permission_denied (netlink refused, procfs absent), got %v", client, b["netcause_collector_unavailable"])
	}
	if got := b.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "conntrack"}); got != 0 {
		t.Errorf("success = %v with neither source readable, want 0", got)
	}
	if e := b.Find("netcause_conntrack_entries", map[string]string{"netns": client}); len(e) != 0 {
		t.Errorf("entries exported with neither source readable: %v", e)
	}
}

// conntrackChild is the child of TestConntrackProcfsFallbackWithoutNetAdmin.
func conntrackChild(t *testing.T, arg string) {
	ns, out, ok := strings.Cut(arg, ":")
	if !ok {
		t.Fatalf("%s=%q: want namespace:file", ctChildEnv, arg)
	}
	status := string(ctMust(os.ReadFile("/proc/self/status")))
	_, capEff, _ := strings.Cut(status, "CapEff:")
	caps, err := strconv.ParseUint(strings.Fields(capEff)[0], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	const capNetAdmin = 12
	if caps&(1<<capNetAdmin) != 0 {
		t.Fatalf("child still has CAP_NET_ADMIN (CapEff %x)", caps)
	}

	var res ctChildResult
	target := netns.Target{Name: ns, Path: "/run/netns/" + ns, Kind: "named"}
	nlErr := target.Do(collector.ReadConntrackNetlink)
	if nlErr == nil {
		t.Fatal("ctnetlink answered without CAP_NET_ADMIN")
	}
	res.NetlinkErr = nlErr.Error()
	res.Fallback = nstest.Scrape(t, "conntrack")

	logger := slog.New(slog.DiscardHandler)
	blind := collector.NewConntrackCollectorForTest(t.TempDir(), "/sys", nil)
	e := exporter.New([]collector.Enabled{{Name: "conntrack", Scope: collector.PerNamespace, Collector: blind}},
		netns.Options{SelfName: "host", Named: true, Max: 1000}, logger)
	mfs, err := exporter.NewRegistry(e).Gather()
	if err != nil {
		t.Fatal(err)
	}
	res.Blind = nstest.FromFamilies(mfs)

	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
