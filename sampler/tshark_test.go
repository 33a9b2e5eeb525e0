package sampler_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/netcause/netcause/sampler"
)

// sharedPcaps lists the public captures the accuracy tests run on.
func sharedPcaps(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "pcaps")
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		t.Fatalf("no captures in %s: the accuracy tests need ../shared/pcaps beside the checkout (see shared/README.md)", dir)
	}
	return files
}

func requireTshark(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark not installed; `make test` installs it (apt-get install tshark)")
	}
}

// tsharkStream is what tshark says of one tcp.stream.
type tsharkStream struct {
	id           int
	first        int64 // ns
	a, b         string
	completeness int
	synFrom      string // endpoint of the first SYN without ACK
	synAckRTT    float64
	hasSynAckRTT bool
	rstFromPeer  bool // a RST from the endpoint that did not send the SYN
	resets       int
	retrans      int
}

type tsharkTotals struct {
	connections, handshakes, unanswered, refused, resets, retrans int
}

// runTshark reads file with tshark (two passes, so tcp.completeness is
// final on every frame) and groups its analysis per stream.
func runTshark(t *testing.T, file string) (map[int]*tsharkStream, tsharkTotals) {
	t.Helper()
	requireTshark(t)
	cmd := exec.Command("tshark", "-n", "-r", file, "-2", "-T", "fields", "-E", "occurrence=f",
		"-e", "tcp.stream", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport",
		"-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.flags",
		"-e", "tcp.analysis.retransmission", "-e", "tcp.analysis.ack_rtt", "-e", "tcp.completeness",
		"-Y", "tcp && !icmp && !icmpv6")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark on %s: %v: %s", file, err, stderr.String())
	}
	streams := map[int]*tsharkStream{}
	s := bufio.NewScanner(bytes.NewReader(out))
	for s.Scan() {
		f := strings.Split(s.Text(), "\t")
		if len(f) != 12 {
			t.Fatalf("tshark line with %d fields: %q", len(f), s.Text())
		}
		id, _ := strconv.Atoi(f[0])
		src := endpoint(f[2], f[3], f[4])
		dst := endpoint(f[5], f[6], f[7])
		flags, _ := strconv.ParseUint(strings.TrimPrefix(f[8], "0x"), 16, 16)
		st := streams[id]
		if st == nil {
			st = &tsharkStream{id: id, first: parseEpochNS(t, f[1])}
			st.a, st.b = src, dst
			if st.b < st.a {
				st.a, st.b = st.b, st.a
			}
			streams[id] = st
		}
		st.completeness, _ = strconv.Atoi(f[11])
		syn, ack, rst := flags&0x02 != 0, flags&0x10 != 0, flags&0x04 != 0
		if syn && !ack && st.synFrom == "" {
			st.synFrom = src
		}
		if syn && ack && !st.hasSynAckRTT && f[10] != "" {
			st.synAckRTT, _ = strconv.ParseFloat(f[10], 64)
			st.hasSynAckRTT = true
		}
		if rst {
			st.resets++
			if st.synFrom != "" && src != st.synFrom {
				st.rstFromPeer = true
			}
		}
		if f[9] == "1" {
			st.retrans++
		}
	}
	var tot tsharkTotals
	for _, st := range streams {
		tot.connections++
		if st.completeness&3 == 3 {
			tot.handshakes++
		}
		if st.completeness == 1 {
			tot.unanswered++
		}
		// Refused: the SYN got a RST from the other side and no SYN-ACK.
		if st.completeness&1 != 0 && st.completeness&2 == 0 && st.rstFromPeer {
			tot.refused++
		}
		tot.resets += st.resets
		tot.retrans += st.retrans
	}
	return streams, tot
}

func endpoint(ip4, ip6, port string) string {
	ip := ip4
	if ip == "" {
		ip = "[" + ip6 + "]"
	}
	return ip + ":" + port
}

// parseEpochNS parses tshark's "seconds.nanoseconds" exactly.
func parseEpochNS(t *testing.T, s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	secs, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		t.Fatalf("tshark time %q: %v", s, err)
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		t.Fatalf("tshark time %q: %v", s, err)
	}
	return secs*1e9 + ns
}

func recordEndpoint(e sampler.Endpoint) string {
	if e.Addr.Is4() {
		return fmt.Sprintf("%s:%d", e.Addr, e.Port)
	}
	return fmt.Sprintf("[%s]:%d", e.Addr, e.Port)
}

// compareWithTshark checks netcause's analysis of file against tshark's:
// the totals, and per connection the SYN to SYN-ACK time.
func compareWithTshark(t *testing.T, file string) {
	t.Helper()
	streams, want := runTshark(t, file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := sampler.ReadCapture(f, sampler.AnalyzeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Err != nil {
		t.Fatalf("%s: %v", file, a.Err)
	}
	rep := a.Report(sampler.AnalyzeOptions{})
	got := rep.Totals
	name := filepath.Base(file)
	check := func(what string, got, want int) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %s = %d, tshark says %d", name, what, got, want)
		}
	}
	check("connections", got.Connections, want.connections)
	check("handshakes", got.Handshakes, want.handshakes)
	check("unanswered_syns", got.UnansweredSYNs, want.unanswered)
	check("refused", got.Refused, want.refused)
	check("resets", int(got.Resets), want.resets)
	// ±3% is the acceptance bound; the captures here agree exactly, so a
	// drift shows up at once.
	if d := math.Abs(float64(int(got.Retransmissions) - want.retrans)); d > 0.03*float64(want.retrans) {
		t.Errorf("%s: retransmissions = %d, tshark says %d (more than 3%% apart)", name, got.Retransmissions, want.retrans)
	}
	check("retransmissions (exact)", int(got.Retransmissions), want.retrans)

	// Per connection: match tshark's streams by endpoints and first frame.
	type key struct {
		a, b  string
		first int64
	}
	byKey := map[key]*sampler.ConnRecord{}
	for i := range a.Records {
		r := &a.Records[i]
		x, y := recordEndpoint(r.Client), recordEndpoint(r.Server)
		if y < x {
			x, y = y, x
		}
		byKey[key{x, y, r.Start}] = r
	}
	ids := make([]int, 0, len(streams))
	for id := range streams {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	compared := 0
	for _, id := range ids {
		st := streams[id]
		r := byKey[key{st.a, st.b, st.first}]
		if r == nil {
			t.Errorf("%s: tcp.stream %d (%s <-> %s) has no netcause connection", name, id, st.a, st.b)
			continue
		}
		if int(r.Completeness) != st.completeness {
			t.Errorf("%s: tcp.stream %d: completeness %d, tshark %d", name, id, r.Completeness, st.completeness)
		}
		if st.hasSynAckRTT {
			compared++
			if r.SynToSynAck < 0 {
				t.Errorf("%s: tcp.stream %d: no SYN to SYN-ACK time, tshark has %.9fs", name, id, st.synAckRTT)
			} else if d := math.Abs(float64(r.SynToSynAck)/1e9 - st.synAckRTT); d > 1e-6 {
				t.Errorf("%s: tcp.stream %d: SYN to SYN-ACK %.9fs, tshark ack_rtt %.9fs", name, id, float64(r.SynToSynAck)/1e9, st.synAckRTT)
			}
		}
	}
	t.Logf("%s: %+v; %d SYN-ACK times compared", name, want, compared)
}

// TestAgainstTsharkSharedPcaps compares the offline analysis with tshark
// on every public capture in ../shared/pcaps.
func TestAgainstTsharkSharedPcaps(t *testing.T) {
	for _, f := range sharedPcaps(t) {
		t.Run(filepath.Base(f), func(t *testing.T) { compareWithTshark(t, f) })
	}
}
