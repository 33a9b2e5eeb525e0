package collector_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

// NETCAUSE_QDISC_CAPTURE=1 makes TestQdiscDumpMatchesTc rewrite the
// fixtures under testdata/qdisc from what this kernel sends.
const qdiscCaptureEnv = "NETCAUSE_QDISC_CAPTURE"

// qdiscQuiet turns IPv6 off in a test namespace before its links exist:
// router solicitations and MLD reports would otherwise pass through the
// qdiscs at times of the kernel's choosing and keep the counters moving.
func qdiscQuiet(n *nstest.NS) {
	n.Run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
	n.Run("sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
}

// qdiscLink adds a veth pair between a and b, addresses it and installs
// permanent neighbour entries, so no ARP crosses the qdiscs under test.
// extra goes to `ip link add` (e.g. numtxqueues).
func qdiscLink(t *testing.T, a *nstest.NS, aIf, aAddr string, b *nstest.NS, bIf, bAddr string, extra ...string) {
	t.Helper()
	args := append([]string{"ip", "link", "add", aIf}, extra...)
	a.Run(append(args, "type", "veth", "peer", "name", bIf, "netns", b.Name)...)
	a.Run("ip", "addr", "add", aAddr, "dev", aIf)
	b.Run("ip", "addr", "add", bAddr, "dev", bIf)
	a.Run("ip", "link", "set", aIf, "up")
	b.Run("ip", "link", "set", bIf, "up")
	aMAC, bMAC := qdiscMAC(t, a, aIf), qdiscMAC(t, b, bIf)
	a.Run("ip", "neigh", "replace", strings.Split(bAddr, "/")[0], "lladdr", bMAC, "dev", aIf, "nud", "permanent")
	b.Run("ip", "neigh", "replace", strings.Split(aAddr, "/")[0], "lladdr", aMAC, "dev", bIf, "nud", "permanent")
}

func qdiscMAC(t *testing.T, n *nstest.NS, dev string) string {
	t.Helper()
	var links []struct{ Address string }
	if err := json.Unmarshal([]byte(n.Run("ip", "-j", "link", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show dev %s in %s: %v %v", dev, n.Name, links, err)
	}
	return links[0].Address
}

// qdiscUDPSink opens a UDP socket on addr in n that nobody reads: the
// datagrams sent to it are accepted, so no ICMP port-unreachable comes back.
func qdiscUDPSink(t *testing.T, n *nstest.NS, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := n.Target().Do(func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatalf("listen udp %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { pc.Close() })
}

// qdiscBlast sends count datagrams of size bytes from n to addr over
// sockets distinct source ports (so a multiqueue device spreads them), as
// fast as the kernel takes them; bounded by count and by 10 s.
func qdiscBlast(t *testing.T, n *nstest.NS, addr string, sockets, count, size int) {
	t.Helper()
	buf := make([]byte, size)
	deadline := time.Now().Add(10 * time.Second)
	for s := 0; s < sockets; s++ {
		c, err := n.Dial("udp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial udp %s from %s: %v", addr, n.Name, err)
		}
		_ = c.SetWriteDeadline(deadline)
		for i := 0; i < count/sockets; i++ {
			if _, err := c.Write(buf); err != nil {
				c.Close()
				t.Fatalf("send to %s: %v", addr, err)
			}
		}
		c.Close()
	}
}

func tcQdiscs(t *testing.T, n *nstest.NS, args ...string) func() string {
	return func() string { return n.Run(append([]string{"tc", "-s", "-j", "qdisc", "show"}, args...)...) }
}

// scrapedQdiscs rebuilds tc's view of one namespace from a scrape.
func scrapedQdiscs(t *testing.T, s nstest.Samples, ns string) []collector.TcQdisc {
	t.Helper()
	type key struct{ dev, kind, handle, parent string }
	rows := map[key]*collector.TcQdisc{}
	var order []key
	for _, m := range []struct {
		name string
		set  func(q *collector.TcQdisc, v uint64)
	}{
		{"netcause_qdisc_sent_bytes_total", func(q *collector.TcQdisc, v uint64) { q.Bytes = v }},
		{"netcause_qdisc_sent_packets_total", func(q *collector.TcQdisc, v uint64) { q.Packets = v }},
		{"netcause_qdisc_drops_total", func(q *collector.TcQdisc, v uint64) { q.Drops = v }},
		{"netcause_qdisc_overlimits_total", func(q *collector.TcQdisc, v uint64) { q.Overlimits = v }},
		{"netcause_qdisc_requeues_total", func(q *collector.TcQdisc, v uint64) { q.Requeues = v }},
		{"netcause_qdisc_backlog_bytes", func(q *collector.TcQdisc, v uint64) { q.Backlog = v }},
		{"netcause_qdisc_backlog_packets", func(q *collector.TcQdisc, v uint64) { q.Qlen = v }},
	} {
		for _, smp := range s.Find(m.name, map[string]string{"netns": ns}) {
			k := key{smp.Labels["device"], smp.Labels["kind"], smp.Labels["handle"], smp.Labels["parent"]}
			q := rows[k]
			if q == nil {
				q = &collector.TcQdisc{Dev: k.dev, Kind: k.kind, Handle: k.handle, Parent: k.parent}
				rows[k] = q
				order = append(order, k)
			}
			m.set(q, uint64(smp.Value))
		}
	}
	out := make([]collector.TcQdisc, 0, len(order))
	for _, k := range order {
		out = append(out, *rows[k])
	}
	collector.SortTcQdiscs(out)
	return out
}

func diffQdiscs(t *testing.T, what string, got, want []collector.TcQdisc) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d qdiscs, tc shows %d\n got: %v\nwant: %v", what, len(got), len(want), got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s:\n got %v\n tc  %v", what, got[i], want[i])
		}
	}
}

// The acceptance case: a tbf with a tiny rate and queue on the sender's
// veth drops most of a burst. After the counters settle, every exported
// qdisc series of both test namespaces equals `tc -s -j qdisc show` run
// inside that namespace, and the host's series name none of their devices.
func TestQdiscTbfDropsExported(t *testing.T) {
	sender, receiver := nstest.New(t), nstest.New(t)
	qdiscQuiet(sender)
	qdiscQuiet(receiver)
	qdiscLink(t, sender, "ncqs0", "10.213.0.1/24", receiver, "ncqr0", "10.213.0.2/24")
	sender.Run("tc", "qdisc", "add", "dev", "ncqs0", "root", "tbf", "rate", "1mbit", "burst", "1600", "limit", "3000")
	qdiscUDPSink(t, receiver, "10.213.0.2:9000")
	qdiscBlast(t, sender, "10.213.0.2:9000", 1, 400, 1000)
	// A second shaper so slow (8 bit/s) that what it queued stays queued
	// for the whole test: the backlog gauges compare at a non-zero value.
	qdiscLink(t, sender, "ncqs1", "10.213.5.1/24", receiver, "ncqr1", "10.213.5.2/24")
	sender.Run("tc", "qdisc", "add", "dev", "ncqs1", "root", "tbf", "rate", "8bit", "burst", "1600", "limit", "3000")
	qdiscUDPSink(t, receiver, "10.213.5.2:9000")
	qdiscBlast(t, sender, "10.213.5.2:9000", 1, 10, 1000)

	readSender, readReceiver := tcQdiscs(t, sender), tcQdiscs(t, receiver)
	read := func() string { return readSender() + readReceiver() }
	before := nstest.Quiesce(t, 30*time.Second, 500*time.Millisecond, read)
	s := nstest.Scrape(t, "qdisc")
	if after := read(); after != before {
		t.Fatal("qdisc counters moved during the scrape; cannot compare exactly")
	}
	if v := s.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "qdisc"}); v != 1 {
		t.Errorf("qdisc collector success = %v; blind spots: %v", v, s.Find("netcause_collector_unavailable", map[string]string{"collector": "qdisc"}))
	}

	for _, ns := range []*nstest.NS{sender, receiver} {
		want, err := collector.ParseTcQdiscJSON([]byte(tcQdiscs(t, ns)()))
		if err != nil {
			t.Fatal(err)
		}
		diffQdiscs(t, ns.Name, scrapedQdiscs(t, s, ns.Name), want)
	}

	tbf := map[string]string{"netns": sender.Name, "device": "ncqs0", "kind": "tbf", "parent": "root"}
	drops := s.Must(t, "netcause_qdisc_drops_total", tbf)
	over := s.Must(t, "netcause_qdisc_overlimits_total", tbf)
	sent := s.Must(t, "netcause_qdisc_sent_packets_total", tbf)
	t.Logf("tbf on ncqs0: %v sent, %v dropped, %v overlimits", sent, drops, over)
	if drops == 0 || over == 0 {
		t.Errorf("tbf drops = %v, overlimits = %v: the burst did not overflow the shaper", drops, over)
	}
	// Nothing else crosses ncqs0 (no IPv6, static neighbours), so every
	// datagram was either passed on or dropped there.
	if queued := s.Must(t, "netcause_qdisc_backlog_packets", tbf); sent+drops+queued != 400 {
		t.Errorf("tbf sent %v + dropped %v + queued %v, want the 400 datagrams sent", sent, drops, queued)
	}

	stuck := map[string]string{"netns": sender.Name, "device": "ncqs1", "kind": "tbf", "parent": "root"}
	if b, p := s.Must(t, "netcause_qdisc_backlog_bytes", stuck), s.Must(t, "netcause_qdisc_backlog_packets", stuck); b == 0 || p == 0 {
		t.Errorf("8 bit/s tbf backlog = %vB %vp, want packets held", b, p)
	}

	host := s.Find("netcause_qdisc_drops_total", map[string]string{"netns": "host"})
	if len(host) == 0 {
		t.Error("no qdisc series for the host namespace")
	}
	for _, smp := range host {
		dev := smp.Labels["device"]
		if strings.HasPrefix(dev, "ncq") {
			t.Errorf("host series names a test namespace device: %v", smp.Labels)
		}
		if _, err := net.InterfaceByName(dev); err != nil {
			t.Errorf("host series for %q, which is not a host interface: %v", dev, err)
		}
	}
}

// Every qdisc kind this kernel offers, as `tc` sees it: the collector's
// decoding of the raw dump must equal tc's for tbf (one dropping, one
// holding a backlog), ingress, mq with its pfifo_fast children, clsact,
// htb with a pfifo leaf, and noqueue. With
// NETCAUSE_QDISC_CAPTURE=1 it also stores the dump and tc's output as the
// fixtures of TestQdiscFixture.
func TestQdiscDumpMatchesTc(t *testing.T) {
	src, dst := nstest.New(t), nstest.New(t)
	qdiscQuiet(src)
	qdiscQuiet(dst)
	qdiscLink(t, src, "ncqa0", "10.213.1.1/24", dst, "ncqb0", "10.213.1.2/24")
	qdiscLink(t, src, "ncqa1", "10.213.2.1/24", dst, "ncqb1", "10.213.2.2/24", "numtxqueues", "4")
	qdiscLink(t, src, "ncqa2", "10.213.3.1/24", dst, "ncqb2", "10.213.3.2/24")
	qdiscLink(t, src, "ncqa3", "10.213.4.1/24", dst, "ncqb3", "10.213.4.2/24")
	for _, args := range [][]string{
		{"qdisc", "add", "dev", "ncqa0", "root", "tbf", "rate", "1mbit", "burst", "1600", "limit", "3000"},
		{"qdisc", "add", "dev", "ncqa0", "ingress"},
		{"qdisc", "add", "dev", "ncqa1", "root", "handle", "5:", "mq"},
		{"qdisc", "add", "dev", "ncqa1", "clsact"},
		{"qdisc", "add", "dev", "ncqa2", "root", "handle", "1:", "htb", "default", "10"},
		{"class", "add", "dev", "ncqa2", "parent", "1:", "classid", "1:10", "htb", "rate", "2mbit", "ceil", "2mbit", "burst", "3000"},
		{"qdisc", "add", "dev", "ncqa2", "parent", "1:10", "handle", "10:", "pfifo", "limit", "10"},
		// 8 bit/s: what it queues stays queued, so backlog is not zero.
		{"qdisc", "add", "dev", "ncqa3", "root", "handle", "7:", "tbf", "rate", "8bit", "burst", "1600", "limit", "3000"},
	} {
		src.Run(append([]string{"tc"}, args...)...)
	}
	for i := 1; i <= 4; i++ {
		addr := fmt.Sprintf("10.213.%d.2:9000", i)
		qdiscUDPSink(t, dst, addr)
		qdiscBlast(t, src, addr, 8, 400, 1200)
	}

	read := tcQdiscs(t, src)
	before := nstest.Quiesce(t, 30*time.Second, 500*time.Millisecond, read)
	var links, qmsgs []netlink.Message
	if err := src.Target().Do(func() (err error) { links, qmsgs, err = collector.DumpQdiscs(); return err }); err != nil {
		t.Fatal(err)
	}
	if after := read(); after != before {
		t.Fatal("qdisc counters moved during the dump; cannot compare exactly")
	}
	got, err := collector.QdiscRows(links, qmsgs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := collector.ParseTcQdiscJSON([]byte(before))
	if err != nil {
		t.Fatal(err)
	}
	diffQdiscs(t, "dump vs tc", got, want)

	// The setup must have produced what this test claims to cover.
	kinds, backlog := map[string]int{}, false
	for _, q := range want {
		backlog = backlog || q.Backlog > 0 && q.Qlen > 0
		kinds[q.Kind]++
		if (q.Kind == "tbf" || q.Kind == "pfifo") && q.Drops == 0 {
			t.Errorf("%v: no drops; the burst did not overflow it", q)
		}
	}
	if !backlog {
		t.Error("no qdisc holds a backlog; the 8 bit/s tbf should")
	}
	for kind, n := range map[string]int{"tbf": 2, "ingress": 1, "mq": 1, "pfifo_fast": 4, "clsact": 1, "htb": 1, "pfifo": 1, "noqueue": 1} {
		if kinds[kind] < n {
			t.Errorf("tc shows %d %s qdiscs, want at least %d (setup changed?)", kinds[kind], kind, n)
		}
	}

	if os.Getenv(qdiscCaptureEnv) == "1" && !t.Failed() {
		for file, msgs := range map[string][]netlink.Message{"links.bin": links, "qdiscs.bin": qmsgs} {
			b, err := collector.JoinNetlink(msgs)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata/qdisc", file), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile("testdata/qdisc/tc.json", []byte(before), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("fixtures written to testdata/qdisc (%d link and %d qdisc messages)", len(links), len(qmsgs))
	}
}

// BenchmarkQdiscUpdate measures one Update of the qdisc collector in a
// namespace with 100 veth pairs (200 devices, left down), each first end
// under a tbf, plus loopback: 101 qdiscs (a down veth has no default
// qdisc yet), dumped, decoded and emitted per iteration.
func BenchmarkQdiscUpdate(b *testing.B) {
	ns := nstest.New(b)
	var links, tcs strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&links, "link add ncqbench%da type veth peer name ncqbench%db\n", i, i)
		fmt.Fprintf(&tcs, "qdisc add dev ncqbench%da root tbf rate 1mbit burst 1600 limit 3000\n", i)
	}
	for _, f := range []struct{ tool, script string }{{"ip", links.String()}, {"tc", tcs.String()}} {
		path := filepath.Join(b.TempDir(), f.tool)
		if err := os.WriteFile(path, []byte(f.script), 0o644); err != nil {
			b.Fatal(err)
		}
		ns.Run(f.tool, "-batch", path)
	}
	benchUpdate(b, "qdisc", ns)
}

// BenchmarkQdiscUpdateHost is the same in the host namespace as it is.
func BenchmarkQdiscUpdateHost(b *testing.B) { benchUpdate(b, "qdisc", nil) }

// benchUpdate runs one collector's Update in ns (nil: the exporter's own
// namespace, labelled host) per iteration and reports series per update.
func benchUpdate(b *testing.B, name string, ns *nstest.NS) {
	cs, err := collector.Build(slog.New(slog.DiscardHandler), name)
	if err != nil {
		b.Fatal(err)
	}
	c := cs[0].Collector
	target := netns.Target{Name: "host", Kind: "self"}
	if ns != nil {
		target = ns.Target()
	}
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan int)
	go func() {
		n := 0
		for range ch {
			n++
		}
		done <- n
	}()
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		if err := target.Do(func() error { return c.Update(target, ch) }); err != nil {
			b.Fatal(err)
		}
		iters++
	}
	close(ch)
	b.ReportMetric(float64(<-done)/float64(iters), "series/op")
}
