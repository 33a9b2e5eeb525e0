package collector

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// The fixtures under testdata/qdisc are one namespace's RTM_GETLINK and
// RTM_GETQDISC dumps captured from this kernel by TestQdiscDumpMatchesTc
// (NETCAUSE_QDISC_CAPTURE=1), with `tc -s -j qdisc show` of the same
// moment in tc.json: tbf (dropping, and one holding a backlog), ingress,
// mq with four pfifo_fast children, clsact, htb with a pfifo leaf, noqueue.

func qdiscFixture(t testing.TB) (links, qmsgs []netlink.Message) {
	t.Helper()
	for file, dst := range map[string]*[]netlink.Message{"links.bin": &links, "qdiscs.bin": &qmsgs} {
		b, err := os.ReadFile("testdata/qdisc/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if *dst, err = SplitNetlink(b); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	return links, qmsgs
}

func qdiscFixtureTc(t testing.TB) []TcQdisc {
	t.Helper()
	b, err := os.ReadFile("testdata/qdisc/tc.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseTcQdiscJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

// The decoded dump must say exactly what tc said about the same kernel
// state, field by field, for every qdisc.
func TestQdiscFixtureMatchesTc(t *testing.T) {
	got, err := QdiscRows(qdiscFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	want := qdiscFixtureTc(t)
	if len(got) != len(want) {
		t.Fatalf("%d qdiscs decoded, tc shows %d:\n%v\n%v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("decoded %v\n     tc %v", got[i], want[i])
		}
	}
	var drops, backlog bool
	for _, q := range want {
		drops = drops || q.Drops > 0
		backlog = backlog || q.Backlog > 0
	}
	if !drops || !backlog {
		t.Errorf("fixture lacks drops (%v) or backlog (%v): recapture it", drops, backlog)
	}
}

// emitted gathers what c sends for the fixture, keyed like gatherValues.
func qdiscEmitted(t *testing.T, c *qdiscCollector) map[string]float64 {
	t.Helper()
	names, qs, err := qdiscsFromMessages(qdiscFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	var emitErr error
	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitErr = c.emit("fixture", names, qs, ch) })
	if emitErr != nil {
		t.Fatal(emitErr)
	}
	return got
}

func qdiscKey(metric string, q TcQdisc) string {
	return fmt.Sprintf(`netcause_qdisc_%s{device=%q,handle=%q,kind=%q,netns="fixture",parent=%q}`, metric, q.Dev, q.Handle, q.Kind, q.Parent)
}

func TestQdiscFixtureEmit(t *testing.T) {
	got := qdiscEmitted(t, &qdiscCollector{max: qdiscDefaultMax})
	want := qdiscFixtureTc(t)
	for _, q := range want {
		for metric, v := range map[string]uint64{
			"drops_total": q.Drops, "overlimits_total": q.Overlimits, "requeues_total": q.Requeues,
			"backlog_bytes": q.Backlog, "backlog_packets": q.Qlen,
			"sent_bytes_total": q.Bytes, "sent_packets_total": q.Packets,
		} {
			k := qdiscKey(metric, q)
			if g, ok := got[k]; !ok {
				t.Errorf("%s missing", k)
			} else if g != float64(v) {
				t.Errorf("%s = %v, tc says %d", k, g, v)
			}
		}
	}
	if n := len(want)*7 + 1; len(got) != n {
		t.Errorf("%d series, want 7 per qdisc + skipped = %d", len(got), n)
	}
	if v := got[`netcause_qdisc_skipped{netns="fixture"}`]; v != 0 {
		t.Errorf("skipped = %v, want 0", v)
	}
}

func TestQdiscDeviceFilterAndCap(t *testing.T) {
	devices := func(got map[string]float64) map[string]int {
		out := map[string]int{}
		for k := range got {
			if strings.HasPrefix(k, "netcause_qdisc_drops_total{") {
				out[strings.Split(strings.SplitN(k, `device="`, 2)[1], `"`)[0]]++
			}
		}
		return out
	}
	for _, tc := range []struct {
		name, include, exclude string
		max                    int
		want                   map[string]int
		skipped                float64
	}{
		{"all", "", "", 32, map[string]int{"lo": 1, "ncqa0": 2, "ncqa1": 6, "ncqa2": 2, "ncqa3": 1}, 0},
		// Anchored: "ncqa" alone matches no device.
		{"include", "ncqa[02]", "", 32, map[string]int{"ncqa0": 2, "ncqa2": 2}, 0},
		{"include is anchored", "ncqa", "", 32, map[string]int{}, 0},
		{"exclude", "", "lo|ncqa1", 32, map[string]int{"ncqa0": 2, "ncqa2": 2, "ncqa3": 1}, 0},
		{"both", "ncqa.*", "ncqa1", 32, map[string]int{"ncqa0": 2, "ncqa2": 2, "ncqa3": 1}, 0},
		// mq first, then its children in dump order: two kept, four skipped.
		{"cap", "", "", 2, map[string]int{"lo": 1, "ncqa0": 2, "ncqa1": 2, "ncqa2": 2, "ncqa3": 1}, 4},
		{"cap after filter", "ncqa1", "", 1, map[string]int{"ncqa1": 1}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			qdiscDeviceInclude, qdiscDeviceExclude, qdiscMaxPerDevice = tc.include, tc.exclude, tc.max
			t.Cleanup(func() { qdiscDeviceInclude, qdiscDeviceExclude, qdiscMaxPerDevice = "", "", qdiscDefaultMax })
			c, err := newQdiscCollector(nil)
			if err != nil {
				t.Fatal(err)
			}
			got := qdiscEmitted(t, c.(*qdiscCollector))
			if d := devices(got); fmt.Sprint(d) != fmt.Sprint(tc.want) {
				t.Errorf("qdiscs per device %v, want %v", d, tc.want)
			}
			if v := got[`netcause_qdisc_skipped{netns="fixture"}`]; v != tc.skipped {
				t.Errorf("skipped = %v, want %v", v, tc.skipped)
			}
			if tc.name == "cap" {
				for _, k := range []string{"mq", "pfifo_fast"} {
					if !strings.Contains(fmt.Sprint(got), `kind="`+k+`"`) {
						t.Errorf("no %s kept under the cap", k)
					}
				}
			}
		})
	}
}

func TestQdiscFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		include, exclude string
		max              int
	}{{"(", "", 32}, {"", "[", 32}, {"", "", 0}} {
		qdiscDeviceInclude, qdiscDeviceExclude, qdiscMaxPerDevice = tc.include, tc.exclude, tc.max
		if _, err := newQdiscCollector(nil); err == nil {
			t.Errorf("no error for include %q exclude %q max %d", tc.include, tc.exclude, tc.max)
		}
	}
	qdiscDeviceInclude, qdiscDeviceExclude, qdiscMaxPerDevice = "", "", qdiscDefaultMax
}

// qdiscMsg builds an RTM_NEWQDISC payload: a tcmsg and the attributes enc
// writes.
func qdiscMsg(t testing.TB, ifindex int32, handle, parent uint32, enc func(ae *netlink.AttributeEncoder)) []byte {
	t.Helper()
	b := make([]byte, tcmsgLen)
	binary.NativeEndian.PutUint32(b[4:], uint32(ifindex))
	binary.NativeEndian.PutUint32(b[8:], handle)
	binary.NativeEndian.PutUint32(b[12:], parent)
	ae := netlink.NewAttributeEncoder()
	enc(ae)
	attrs, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return append(b, attrs...)
}

func basicStats(bytes uint64, packets uint32, size int) []byte {
	b := make([]byte, size)
	binary.NativeEndian.PutUint64(b, bytes)
	binary.NativeEndian.PutUint32(b[8:], packets)
	return b
}

func queueStats(vals ...uint32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.NativeEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// stats2 writes TCA_STATS2 with the given nested attributes.
func stats2(basic, queue []byte, extra func(nae *netlink.AttributeEncoder)) func(ae *netlink.AttributeEncoder) {
	return func(ae *netlink.AttributeEncoder) {
		ae.String(tcaKind, "tbf")
		ae.Nested(tcaStats2, func(nae *netlink.AttributeEncoder) error {
			if basic != nil {
				nae.Bytes(tcaStatsBasic, basic)
			}
			if queue != nil {
				nae.Bytes(tcaStatsQueue, queue)
			}
			if extra != nil {
				extra(nae)
			}
			return nil
		})
	}
}

// The field order of gnet_stats_basic and gnet_stats_queue, with values
// that differ in every field, and the 12-byte basic of 32-bit ABIs.
func TestParseQdiscFields(t *testing.T) {
	for _, basicLen := range []int{12, 16} {
		b := qdiscMsg(t, 7, 0x80010000, tcHRoot, stats2(basicStats(1<<40+5, 6, basicLen), queueStats(1, 2, 3, 4, 5), nil))
		q, err := parseQdisc(b)
		if err != nil {
			t.Fatal(err)
		}
		want := qdisc{ifindex: 7, kind: "tbf", handle: 0x80010000, parent: tcHRoot, bytes: 1<<40 + 5, packets: 6,
			qlen: 1, backlog: 2, drops: 3, requeues: 4, overlimits: 5}
		if q != want {
			t.Errorf("basic %d bytes: got %+v, want %+v", basicLen, q, want)
		}
	}
	// Past 2^32 packets the kernel adds TCA_STATS_PKT64 with the full count.
	b := qdiscMsg(t, 7, 0, tcHRoot, stats2(basicStats(1, 5, 16), queueStats(0, 0, 0, 0, 0), func(nae *netlink.AttributeEncoder) {
		nae.Uint64(tcaStatsPkt64, 1<<33+5)
	}))
	if q, err := parseQdisc(b); err != nil || q.packets != 1<<33+5 {
		t.Errorf("TCA_STATS_PKT64: packets %d, err %v", q.packets, err)
	}
}

func TestParseQdiscMalformed(t *testing.T) {
	_, qmsgs := qdiscFixture(t)
	real := qdiscMsgOf(t, qmsgs, "tbf")
	longAttr := append([]byte(nil), real...)
	binary.NativeEndian.PutUint16(longAttr[tcmsgLen:], 0xfff0)
	for name, b := range map[string][]byte{
		"empty":                nil,
		"tcmsg cut":            real[:12],
		"attribute header cut": real[:tcmsgLen+2],
		"attribute past end":   longAttr,
		"attribute cut":        real[:tcmsgLen+6],
		"no attributes":        real[:tcmsgLen],
		"no stats2":            qdiscMsg(t, 1, 0, tcHRoot, func(ae *netlink.AttributeEncoder) { ae.String(tcaKind, "tbf") }),
		"no kind":              qdiscMsg(t, 1, 0, tcHRoot, func(ae *netlink.AttributeEncoder) { ae.Bytes(tcaStats2, nil) }),
		"kind not text":        qdiscMsg(t, 1, 0, tcHRoot, func(ae *netlink.AttributeEncoder) { ae.Bytes(tcaKind, []byte{0xff, 0xfe}) }),
		"stats2 not nested":    qdiscMsg(t, 1, 0, tcHRoot, func(ae *netlink.AttributeEncoder) { ae.String(tcaKind, "x"); ae.Bytes(tcaStats2, []byte{1, 2, 3}) }),
		"basic stats missing":  qdiscMsg(t, 1, 0, tcHRoot, stats2(nil, queueStats(1, 2, 3, 4, 5), nil)),
		"queue stats missing":  qdiscMsg(t, 1, 0, tcHRoot, stats2(basicStats(1, 2, 16), nil, nil)),
		"basic stats short":    qdiscMsg(t, 1, 0, tcHRoot, stats2(basicStats(1, 2, 16)[:8], queueStats(1, 2, 3, 4, 5), nil)),
		"queue stats short":    qdiscMsg(t, 1, 0, tcHRoot, stats2(basicStats(1, 2, 16), queueStats(1, 2, 3, 4), nil)),
		"pkt64 not 8 bytes":    qdiscMsg(t, 1, 0, tcHRoot, stats2(basicStats(1, 2, 16), queueStats(1, 2, 3, 4, 5), func(nae *netlink.AttributeEncoder) { nae.Uint32(tcaStatsPkt64, 9) })),
		"nested attribute past": qdiscMsg(t, 1, 0, tcHRoot, func(ae *netlink.AttributeEncoder) {
			ae.String(tcaKind, "x")
			ae.Bytes(tcaStats2, []byte{0xff, 0, 1, 0})
		}),
	} {
		t.Run(name, func(t *testing.T) {
			if q, err := parseQdisc(b); err == nil {
				t.Errorf("no error; got %+v", q)
			}
		})
	}
	// Every truncation of a real message: an error or a complete qdisc,
	// never a panic. Cuts inside the tcmsg, the kind or the statistics
	// must be errors.
	for n := 0; n < len(real); n++ {
		q, err := parseQdisc(real[:n])
		if err == nil && (q.kind != "tbf" || n < tcmsgLen) {
			t.Errorf("cut at %d of %d: decoded %+v", n, len(real), q)
		}
	}
}

func qdiscMsgOf(t *testing.T, msgs []netlink.Message, kind string) []byte {
	t.Helper()
	for _, m := range msgs {
		if q, err := parseQdisc(m.Data); err == nil && q.kind == kind {
			return m.Data
		}
	}
	t.Fatalf("no %s qdisc in the fixture", kind)
	return nil
}

func TestParseLinkName(t *testing.T) {
	links, _ := qdiscFixture(t)
	names := map[string]bool{}
	for _, m := range links {
		_, name, err := parseLinkName(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		names[name] = true
	}
	for _, want := range []string{"lo", "ncqa0", "ncqa1", "ncqa2", "ncqa3"} {
		if !names[want] {
			t.Errorf("%s not decoded from the fixture (got %v)", want, names)
		}
	}
	real := links[0].Data
	noName := make([]byte, ifinfomsgLen)
	for name, b := range map[string][]byte{
		"ifinfomsg cut": real[:10],
		"attribute cut": real[:ifinfomsgLen+3],
		"no name":       noName,
	} {
		if _, n, err := parseLinkName(b); err == nil {
			t.Errorf("%s: no error, name %q", name, n)
		}
	}
}

func TestQdiscDuplicateFailsBeforeSending(t *testing.T) {
	m := qdiscMsg(t, 1, 0, tcHRoot, stats2(basicStats(1, 2, 16), queueStats(1, 2, 3, 4, 5), nil))
	_, qs, err := qdiscsFromMessages(nil, []netlink.Message{
		{Header: netlink.Header{Type: unix.RTM_NEWQDISC}, Data: m},
		{Header: netlink.Header{Type: unix.RTM_NEWQDISC}, Data: m},
	})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 100)
	c := &qdiscCollector{max: qdiscDefaultMax}
	if err := c.emit("x", map[int32]string{1: "eth0"}, qs, ch); err == nil {
		t.Error("no error for a qdisc listed twice")
	}
	if len(ch) != 0 {
		t.Errorf("%d samples sent before the error", len(ch))
	}
	// A qdisc on a device the link dump did not list (created between the
	// two dumps) is left for the next scrape, not an error.
	if err := c.emit("x", map[int32]string{}, qs, ch); err != nil || len(ch) != 1 {
		t.Errorf("unknown device: err %v, %d samples (want only skipped)", err, len(ch))
	}
}

func TestTcHandleFormat(t *testing.T) {
	for in, want := range map[uint32]string{0: "0:", 0x80010000: "8001:", 0xffff0000: "ffff:", 0x00010010: "1:10"} {
		if got := tcHandle(in); got != want {
			t.Errorf("tcHandle(%#x) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[uint32]string{tcHRoot: "root", 0: "none", 0xfffffff1: "ffff:fff1", 0x00050004: "5:4", 3: ":3", 0x00010000: "1:"} {
		if got := tcParent(in); got != want {
			t.Errorf("tcParent(%#x) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseQdisc(f *testing.F) {
	_, qmsgs := qdiscFixture(f)
	for _, m := range qmsgs {
		f.Add(m.Data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseQdisc(b)
		if err == nil && q.kind == "" {
			t.Error("no error for a qdisc without a kind")
		}
	})
}

func FuzzParseLinkName(f *testing.F) {
	links, _ := qdiscFixture(f)
	for _, m := range links {
		f.Add(m.Data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, name, err := parseLinkName(b); err == nil && name == "" {
			t.Error("no error for a link without a name")
		}
	})
}

// FuzzQdiscDump feeds a raw qdisc dump through decoding and emitting, with
// every device named, so the per-device cap and the duplicate check run on
// arbitrary input: an error, or valid samples and no panic. Link messages
// have FuzzParseLinkName; leaving them out keeps inputs small, and the
// fuzzer minimises every new input, which takes long on big ones.
func FuzzQdiscDump(f *testing.F) {
	_, qmsgs := qdiscFixture(f)
	qb, err := JoinNetlink(qmsgs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(qb)
	f.Fuzz(func(t *testing.T, qb []byte) {
		qmsgs, err := SplitNetlink(qb)
		if err != nil {
			return
		}
		_, qs, err := qdiscsFromMessages(nil, qmsgs)
		if err != nil {
			return
		}
		names := map[int32]string{}
		for _, q := range qs {
			names[q.ifindex] = fmt.Sprint("dev", q.ifindex)
		}
		ch := make(chan prometheus.Metric, 7*len(qs)+1)
		if err := (&qdiscCollector{max: 4}).emit("fuzz", names, qs, ch); err != nil {
			return
		}
		close(ch)
		for m := range ch {
			if err := m.Write(&dto.Metric{}); err != nil {
				t.Fatalf("invalid sample: %v", err)
			}
		}
	})
}

// BenchmarkQdiscDecode measures decoding and emitting the fixture dump
// (5 links, 12 qdiscs) without a kernel; BenchmarkQdiscUpdate in the e2e
// file measures the collector against the kernel.
func BenchmarkQdiscDecode(b *testing.B) {
	links, qmsgs := qdiscFixture(b)
	c := &qdiscCollector{max: qdiscDefaultMax}
	ch := make(chan prometheus.Metric, 7*len(qmsgs)+1)
	b.ReportAllocs()
	for b.Loop() {
		names, qs, err := qdiscsFromMessages(links, qmsgs)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.emit("bench", names, qs, ch); err != nil {
			b.Fatal(err)
		}
		for len(ch) > 0 {
			<-ch
		}
	}
}
