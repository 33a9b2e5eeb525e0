package sampler_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
	"github.com/netcause/netcause/sampler"
)

// End-to-end tests of the live sampler: real traffic between two network
// namespaces (client 10.213.N.1, server 10.213.N.2, one subnet per test),
// the sampler capturing inside them. Where a figure can be had from the
// kernel or from tshark, the test compares with that.

type pair struct {
	client, server         *nstest.NS
	clientIP, serverIP     string
	clientIf, serverIf     string
	clientAddr, serverAddr string // serverIP:8080
}

// newPair connects two namespaces with offloads off, so every packet on
// the wire is one packet in a capture.
func newPair(t *testing.T, n int) *pair {
	t.Helper()
	p := &pair{client: nstest.New(t), server: nstest.New(t),
		clientIP: fmt.Sprintf("10.213.%d.1", n), serverIP: fmt.Sprintf("10.213.%d.2", n),
		clientIf: fmt.Sprintf("nc%dc", n), serverIf: fmt.Sprintf("nc%ds", n)}
	nstest.Veth(t, p.client, p.clientIf, p.clientIP+"/24", p.server, p.serverIf, p.serverIP+"/24")
	offloadsOff(t, p.client, p.clientIf)
	offloadsOff(t, p.server, p.serverIf)
	p.serverAddr = p.serverIP + ":8080"
	return p
}

func offloadsOff(t *testing.T, ns *nstest.NS, dev string) {
	t.Helper()
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Fatal("ethtool not installed; `make test` installs it")
	}
	ns.Run("ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off")
}

func liveConfig() sampler.LiveConfig {
	return sampler.LiveConfig{Tracker: sampler.Config{
		MaxConnections: 1000, SYNTimeout: 2 * time.Second, ResponseTimeout: 2 * time.Second,
		IdleTimeout: 30 * time.Second, ClosedTimeout: 5 * time.Second, SampleRate: 1,
	}, MaxPeers: 10}
}

func startLive(t *testing.T, ns *nstest.NS, cfg sampler.LiveConfig) *sampler.Live {
	t.Helper()
	l, err := sampler.StartLive(ns.Target(), cfg)
	if err != nil {
		t.Fatalf("start sampler in %s: %v", ns.Name, err)
	}
	t.Cleanup(l.Close)
	return l
}

// peerOf returns the stats of peer label, or false.
func peerOf(s sampler.LiveStats, label string) (sampler.PeerSnapshot, bool) {
	for _, p := range s.Peers {
		if p.Label == label {
			return p, true
		}
	}
	return sampler.PeerSnapshot{}, false
}

// waitPeer polls the sampler (at most limit) until cond holds for peer.
func waitPeer(t *testing.T, l *sampler.Live, label string, limit time.Duration, what string, cond func(p sampler.PeerSnapshot) bool) sampler.PeerSnapshot {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		s := l.Snapshot()
		if s.Err != nil {
			t.Fatalf("capture stopped: %v", s.Err)
		}
		p, ok := peerOf(s, label)
		if ok && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s not seen for peer %s; sampler has %+v", limit, what, label, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tcpdump records a namespace interface to a pcap file until stop. It
// returns once tcpdump says it is listening.
func tcpdump(t *testing.T, ns *nstest.NS, dev string) (file string, stop func()) {
	t.Helper()
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump not installed; `make test` installs it")
	}
	file = filepath.Join(t.TempDir(), ns.Name+".pcap")
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "tcpdump", "-i", dev, "-s", "128", "-U", "--immediate-mode", "-n", "-w", file)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	listening := make(chan string, 1)
	go func() {
		var out strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := stderr.Read(buf)
			out.Write(buf[:n])
			if strings.Contains(out.String(), "listening on") {
				listening <- ""
				_, _ = io.Copy(io.Discard, stderr)
				return
			}
			if err != nil {
				listening <- out.String()
				return
			}
		}
	}()
	select {
	case msg := <-listening:
		if msg != "" {
			t.Fatalf("tcpdump failed: %s", msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump not listening after 10s")
	}
	stopped := false
	return file, func() {
		if stopped {
			return
		}
		stopped = true
		time.Sleep(300 * time.Millisecond) // let the last packets reach the capture
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Fatal("tcpdump did not stop within 5s")
		}
	}
}

// procNetstat returns a counter of the namespace's /proc/net/snmp or
// netstat, read from a thread inside it.
func procNetstat(t *testing.T, ns *nstest.NS, section, field string) int {
	t.Helper()
	var text string
	err := ns.Target().Do(func() error {
		for _, f := range []string{"snmp", "netstat"} {
			b, err := os.ReadFile(filepath.Join(netns.ProcNet, f))
			if err != nil {
				return err
			}
			text += string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(text, "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != section+":" || len(vals) != len(names) || vals[0] != names[0] {
			continue
		}
		for j, n := range names {
			if n == field {
				v, _ := strconv.Atoi(vals[j])
				return v
			}
		}
	}
	t.Fatalf("%s %s not found", section, field)
	return 0
}

func within(got, want, tol time.Duration) bool { return got >= want-tol && got <= want+tol }

// A server that answers each request after 300 ms: both ends see a
// response latency of 300 ms, the client's including a LAN round trip.
func TestLiveResponseLatency(t *testing.T) {
	p := newPair(t, 1)
	cl, sv := startLive(t, p.client, liveConfig()), startLive(t, p.server, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	const delay = 300 * time.Millisecond
	l := p.server.Listen("tcp", p.serverAddr)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 100)
		for range 3 {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			time.Sleep(delay)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := p.client.Dial("tcp", p.serverAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	for range 3 {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	for _, side := range []struct {
		l     *sampler.Live
		peer  string
		role  int
		upper time.Duration
	}{{cl, p.serverIP, 0, 10 * time.Millisecond}, {sv, p.clientIP, 1, 5 * time.Millisecond}} {
		ps := waitPeer(t, side.l, side.peer, 5*time.Second, "3 responses", func(ps sampler.PeerSnapshot) bool {
			return ps.Stats.Response[side.role].Count == 3
		})
		h := ps.Stats.Response[side.role]
		avg := time.Duration(h.Sum / float64(h.Count) * 1e9)
		if avg < delay || avg > delay+side.upper {
			t.Errorf("peer %s role %d: response latency %v, want %v (+%v)", side.peer, side.role, avg, delay, side.upper)
		}
		if ps.Stats.Handshake[side.role].Count != 1 || ps.Stats.Unanswered[side.role] != 0 {
			t.Errorf("peer %s: handshakes %d unanswered %d", side.peer, ps.Stats.Handshake[side.role].Count, ps.Stats.Unanswered[side.role])
		}
	}
	stop()
	compareWithTshark(t, file)
	a := analyzeFile(t, file)
	if r := a.Records; len(r) != 1 || r[0].Responses != 3 || !within(time.Duration(r[0].ResponseSum/3), delay+time.Millisecond, 5*time.Millisecond) {
		t.Errorf("netcause analyze of the client capture: %+v", r)
	}
}

func analyzeFile(t *testing.T, file string) *sampler.Analysis {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := sampler.ReadCapture(f, sampler.AnalyzeOptions{})
	if err != nil || a.Err != nil {
		t.Fatalf("%s: %v %v", file, err, a.Err)
	}
	return a
}

// A server whose INPUT chain drops SYNs: the client's SYNs go unanswered
// and are retransmitted, as many times as the client kernel says.
func TestLiveSYNDrop(t *testing.T) {
	p := newPair(t, 2)
	p.server.Run("iptables", "-A", "INPUT", "-p", "tcp", "--syn", "--dport", "8080", "-j", "DROP")
	p.server.Listen("tcp", p.serverAddr)
	cl, sv := startLive(t, p.client, liveConfig()), startLive(t, p.server, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	before := procNetstat(t, p.client, "TcpExt", "TCPSynRetrans")
	if _, err := p.client.Dial("tcp", p.serverAddr, 4*time.Second); err == nil {
		t.Fatal("connected through a SYN drop rule")
	}
	retrans := procNetstat(t, p.client, "TcpExt", "TCPSynRetrans") - before
	if retrans < 1 {
		t.Fatalf("the client kernel retransmitted no SYN (TCPSynRetrans +%d)", retrans)
	}
	ps := waitPeer(t, cl, p.serverIP, 5*time.Second, "an unanswered SYN", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.SynUnanswered[0] == 1
	})
	if got := ps.Stats.SynRetransmits[0]; got != uint64(retrans) {
		t.Errorf("SYN retransmissions %d, client kernel TCPSynRetrans +%d", got, retrans)
	}
	if ps.Stats.Handshake[0].Count != 0 || ps.Stats.Refused[0] != 0 {
		t.Errorf("handshakes %d refused %d for a dropped SYN", ps.Stats.Handshake[0].Count, ps.Stats.Refused[0])
	}
	// The server captures the SYNs before its INPUT chain drops them.
	waitPeer(t, sv, p.clientIP, 5*time.Second, "an unanswered SYN at the server", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.SynUnanswered[1] == 1 && ps.Stats.SynRetransmits[1] == uint64(retrans)
	})
	stop()
	compareWithTshark(t, file)
}

// A closed port answers SYNs with RST: refused, as many as the client
// kernel's AttemptFails.
func TestLiveRefused(t *testing.T) {
	p := newPair(t, 3)
	cl := startLive(t, p.client, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	before := procNetstat(t, p.client, "Tcp", "AttemptFails")
	for range 3 {
		if _, err := p.client.Dial("tcp", p.serverAddr, 2*time.Second); err == nil {
			t.Fatal("connected to a closed port")
		}
	}
	fails := procNetstat(t, p.client, "Tcp", "AttemptFails") - before
	if fails != 3 {
		t.Fatalf("client kernel AttemptFails +%d, want 3", fails)
	}
	ps := waitPeer(t, cl, p.serverIP, 3*time.Second, "3 refused SYNs", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Refused[0] == uint64(fails)
	})
	if ps.Stats.SynUnanswered[0] != 0 || ps.Stats.Resets != [2]uint64{} {
		t.Errorf("unanswered %v resets %v: a refusal is neither", ps.Stats.SynUnanswered, ps.Stats.Resets)
	}
	stop()
	compareWithTshark(t, file)
}

// TestHelperServer is not a test: the server-killed test runs the test
// binary as a server process in the server namespace, to kill it.
func TestHelperServer(t *testing.T) {
	addr := os.Getenv("NETCAUSE_SAMPLER_HELPER")
	if addr == "" {
		return
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		os.Exit(3)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(4)
		}
		defer c.Close() // never read: data waits in the receive queue
		time.AfterFunc(60*time.Second, func() { os.Exit(0) })
	}
}

// A server process killed with data unread resets its connection: the
// client sees a RST received, the server side a RST sent.
func TestLiveServerKilled(t *testing.T) {
	p := newPair(t, 4)
	cl, sv := startLive(t, p.client, liveConfig()), startLive(t, p.server, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	srv := p.server.Start("env", "NETCAUSE_SAMPLER_HELPER="+p.serverAddr, os.Args[0], "-test.run=^TestHelperServer$")
	var c net.Conn
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if out, _ := p.server.RunErr("ss", "-Hltn", "sport = :8080"); strings.Contains(out, "LISTEN") {
			if c, err = p.client.Dial("tcp", p.serverAddr, 2*time.Second); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("helper server never listened: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	waitPeer(t, cl, p.serverIP, 3*time.Second, "the request", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Packets[0] >= 3
	})
	if err := srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatal("read from a killed server succeeded")
	}
	ps := waitPeer(t, cl, p.serverIP, 3*time.Second, "a RST received", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Resets[1] >= 1
	})
	if ps.Stats.Refused[0] != 0 {
		t.Errorf("refused %d: the connection was established", ps.Stats.Refused[0])
	}
	waitPeer(t, sv, p.clientIP, 3*time.Second, "a RST sent", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Resets[0] >= 1
	})
	stop()
	compareWithTshark(t, file)
}

// The seed case: the server's interface has MTU 100, so its SYN-ACK
// advertises a tiny MSS.
func TestLiveMTU100(t *testing.T) {
	p := newPair(t, 5)
	p.server.Run("ip", "link", "set", p.serverIf, "mtu", "100")
	p.server.EchoServer(p.serverAddr)
	cl := startLive(t, p.client, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	c, err := p.client.Dial("tcp", p.serverAddr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	ps := waitPeer(t, cl, p.serverIP, 3*time.Second, "a small-MSS handshake", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.SmallMSS == 1
	})
	if ps.MinMSS == 0 || ps.MinMSS >= 536 {
		t.Errorf("smallest MSS %d, want below 536", ps.MinMSS)
	}
	stop()
	a := analyzeFile(t, file)
	if len(a.Records) != 1 || a.Records[0].MSS[1] != ps.MinMSS {
		t.Errorf("the capture's SYN-ACK MSS (%+v) differs from the sampler's %d", a.Records, ps.MinMSS)
	}
}

// A rate-limited path delays the SYN-ACK behind a queue of other packets:
// the handshake latency is the time connect() took.
func TestLiveDelayedSynAck(t *testing.T) {
	p := newPair(t, 6)
	p.server.EchoServer(p.serverAddr)
	// 1 Mbit/s out of the server: 50 kB queued ahead of the SYN-ACK hold
	// it about 400 ms.
	p.server.Run("tc", "qdisc", "add", "dev", p.serverIf, "root", "tbf", "rate", "1mbit", "burst", "1600", "limit", "200000")
	cl := startLive(t, p.client, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	// An unconnected socket: the client's port-unreachable answers must
	// not fail the writes.
	var u net.PacketConn
	if err := p.server.Target().Do(func() (err error) { u, err = net.ListenPacket("udp", p.serverIP+":0"); return err }); err != nil {
		t.Fatal(err)
	}
	dst := &net.UDPAddr{IP: net.ParseIP(p.clientIP), Port: 9}
	for range 36 {
		if _, err := u.WriteTo(make([]byte, 1400), dst); err != nil {
			t.Fatal(err)
		}
	}
	u.Close()
	start := time.Now()
	c, err := p.client.Dial("tcp", p.serverAddr, 5*time.Second)
	connect := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if connect < 200*time.Millisecond {
		t.Fatalf("connect took %v: the SYN-ACK was not delayed", connect)
	}
	ps := waitPeer(t, cl, p.serverIP, 3*time.Second, "a handshake", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Handshake[0].Count == 1
	})
	got := time.Duration(ps.Stats.Handshake[0].Sum * 1e9)
	if !within(got, connect, 5*time.Millisecond) {
		t.Errorf("handshake latency %v, connect() took %v", got, connect)
	}
	stop()
	compareWithTshark(t, file)
}

// At a sample rate of 0.3 the kernel passes data packets of about 30% of
// connections: every connection still shows its handshake, and exactly the
// sampled ones show a response time.
func TestLiveSampling(t *testing.T) {
	p := newPair(t, 12)
	p.server.EchoServer(p.serverAddr)
	cfg := liveConfig()
	cfg.Tracker.SampleRate = 0.3
	cl := startLive(t, p.client, cfg)
	const conns = 30
	if n := p.client.EchoTraffic(t, p.serverAddr, conns, 2000, 3*time.Second); n != conns {
		t.Fatalf("%d of %d echo connections completed", n, conns)
	}
	ps := waitPeer(t, cl, p.serverIP, 5*time.Second, "every handshake", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Handshake[0].Count == conns
	})
	sampled := ps.Stats.Sampled[0]
	if sampled == 0 || sampled == conns {
		t.Fatalf("%d of %d connections sampled at rate 0.3", sampled, conns)
	}
	waitPeer(t, cl, p.serverIP, 3*time.Second, "a response per sampled connection", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.Response[0].Count == sampled
	})
	s := cl.Snapshot()
	// Unsampled connections send their data packets past the capture.
	if s.Tracker.Sampled >= s.Tracker.TCP {
		t.Errorf("all %d TCP packets were of sampled connections", s.Tracker.TCP)
	}
	t.Logf("%d of %d connections sampled; %d of %d TCP packets captured were theirs", sampled, conns, s.Tracker.Sampled, s.Tracker.TCP)
}

// A router whose route to the server has a smaller MTU than the client's
// link (the path MTU problem of causes.md item 9, the way it looks when
// ICMP gets through): the client's full-size segments carry DF, the router
// answers them with fragmentation-needed, and the client's sampler counts
// those for the server, as many as tshark finds in the client's capture,
// with the router's next-hop MTU. Client 10.213.8.1, router 10.213.8.2 /
// 10.213.18.2, server 10.213.18.1.
func TestLiveFragNeeded(t *testing.T) {
	requireTshark(t)
	client, router, server := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "nc8c", "10.213.8.1/24", router, "nc8rc", "10.213.8.2/24")
	nstest.Veth(t, router, "nc8rs", "10.213.18.2/24", server, "nc8s", "10.213.18.1/24")
	offloadsOff(t, client, "nc8c")
	offloadsOff(t, server, "nc8s")
	router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	client.Run("ip", "route", "add", "10.213.18.0/24", "via", "10.213.8.2")
	server.Run("ip", "route", "add", "10.213.8.0/24", "via", "10.213.18.2")
	// A forwarded packet honours the route's MTU: both links stay at
	// 1500, so only the router knows the path is narrower.
	router.Run("ip", "route", "replace", "10.213.18.0/24", "dev", "nc8rs", "mtu", "1000")
	const serverAddr = "10.213.18.1:8080"
	server.EchoServer(serverAddr)
	cl := startLive(t, client, liveConfig())
	file, stop := tcpdump(t, client, "nc8c")

	c, err := client.Dial("tcp", serverAddr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := make([]byte, 8000)
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, msg); err != nil {
		t.Fatalf("echo through the narrower path: %v", err)
	}
	ps := waitPeer(t, cl, "10.213.18.1", 3*time.Second, "fragmentation-needed", func(ps sampler.PeerSnapshot) bool {
		return ps.Stats.ICMP[sampler.ICMPFragNeeded] >= 1
	})
	stop()

	out, err := exec.Command("tshark", "-n", "-r", file, "-Y", "icmp.type == 3 && icmp.code == 4", "-T", "fields", "-e", "icmp.mtu").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	mtus := strings.Fields(string(out))
	t.Logf("%d fragmentation-needed from the router; tshark reads MTUs %v", ps.Stats.ICMP[sampler.ICMPFragNeeded], mtus)
	if got := ps.Stats.ICMP[sampler.ICMPFragNeeded]; got != uint64(len(mtus)) {
		t.Errorf("sampler counted %d fragmentation-needed for the server, tshark finds %d in the capture", got, len(mtus))
	}
	for _, m := range mtus {
		if m != "1000" {
			t.Errorf("tshark reads next-hop MTU %s, the router's route says 1000", m)
		}
	}
	a := analyzeFile(t, file)
	if len(a.ICMP) != len(mtus) {
		t.Fatalf("offline analysis found %d ICMP errors, tshark %d fragmentation-needed", len(a.ICMP), len(mtus))
	}
	for _, r := range a.ICMP {
		if r.Kind != sampler.ICMPFragNeeded || r.MTU != 1000 || r.From.String() != "10.213.8.2" {
			t.Errorf("offline record %+v: want fragmentation-needed from the router 10.213.8.2 with MTU 1000", r)
		}
	}
}

// TestLiveSYNCollision reuses a client port while the server still holds
// the old connection, as after a client that vanished without a RST (a
// crash, a NAT that forgot the mapping): the server answers the new SYN
// with a bare (challenge) ACK, the client resets that old connection and
// its retransmitted SYN then connects. Both samplers count one SYN
// collision and no unanswered SYN; the server's kernel counts the
// challenge ACK.
func TestLiveSYNCollision(t *testing.T) {
	p := newPair(t, 14)
	ln := p.server.Listen("tcp", p.serverAddr)
	go func() {
		var held []net.Conn // never closed by the server: it holds the 4-tuple
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	cl, sv := startLive(t, p.client, liveConfig()), startLive(t, p.server, liveConfig())
	file, stop := tcpdump(t, p.client, p.clientIf)
	const port = 41414
	dial := func() (net.Conn, error) {
		var c net.Conn
		err := p.client.Target().Do(func() (err error) {
			d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(p.clientIP), Port: port}}
			c, err = d.Dial("tcp", p.serverAddr)
			return err
		})
		return c, err
	}
	old, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	// An abortive close whose RST never leaves: the client forgets the
	// connection at once (no TIME_WAIT), the server keeps it established.
	rst := []string{"OUTPUT", "-p", "tcp", "--sport", strconv.Itoa(port), "--tcp-flags", "RST", "RST", "-j", "DROP"}
	p.client.Run(append([]string{"iptables", "-A"}, rst...)...)
	if err := old.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	old.Close()
	p.client.Run(append([]string{"iptables", "-D"}, rst...)...)

	before := procNetstat(t, p.server, "TcpExt", "TCPChallengeACK")
	c, err := dial()
	if err != nil {
		t.Fatalf("reconnecting from port %d: %v", port, err)
	}
	c.Close()
	if n := procNetstat(t, p.server, "TcpExt", "TCPChallengeACK") - before; n != 1 {
		t.Fatalf("server kernel TCPChallengeACK +%d, want 1: no collision happened", n)
	}
	for _, side := range []struct {
		l          *sampler.Live
		peer, what string
		role       int
	}{{cl, p.serverIP, "the client", 0}, {sv, p.clientIP, "the server", 1}} {
		ps := waitPeer(t, side.l, side.peer, 3*time.Second, "a SYN collision at "+side.what, func(ps sampler.PeerSnapshot) bool {
			return ps.Stats.SYNCollisions[side.role] == 1
		})
		if ps.Stats.SynUnanswered[side.role] != 0 || ps.Stats.Refused[side.role] != 0 {
			t.Errorf("%s: unanswered SYNs %v, refused %v: a collision is neither", side.what, ps.Stats.SynUnanswered, ps.Stats.Refused)
		}
	}
	stop()
	compareWithTshark(t, file)
	// The offline analysis of the client's capture reports it too.
	rep := analyzeFile(t, file).Report(sampler.AnalyzeOptions{})
	var peer *sampler.PeerReport
	for i := range rep.Peers {
		if rep.Peers[i].Peer == p.serverIP {
			peer = &rep.Peers[i]
		}
	}
	if rep.Totals.SYNCollisions != 1 || peer == nil || peer.SYNCollisions != 1 || peer.UnansweredSYNs != 0 {
		t.Errorf("offline: %d SYN collisions in all, peer %+v; want 1, for peer %s, none unanswered", rep.Totals.SYNCollisions, peer, p.serverIP)
	}
}
