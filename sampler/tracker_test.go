package sampler

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

const (
	cli = "10.7.0.1:40000"
	srv = "10.7.0.2:80"
)

// liveTracker tracks as the exporter does on host 10.7.0.1 (the client).
func liveTracker(peers int, cfg Config) (*Tracker, *PeerTable) {
	pt := NewPeerTable(peers, nil)
	cfg.Peers = pt
	me := AddrFrom4([]byte{10, 7, 0, 1})
	cfg.Local = func(src, _ Addr, _ bool) bool { return src == me }
	return NewTracker(cfg), pt
}

func feed(t *testing.T, tr *Tracker, pkts ...pkt) {
	t.Helper()
	for _, p := range pkts {
		tr.Handle(p.decoded(t), false)
	}
}

func peerStats(t *testing.T, pt *PeerTable, label string) PeerStats {
	t.Helper()
	for _, s := range pt.Snapshot(t0.UnixNano()) {
		if s.Label == label {
			return s.Stats
		}
	}
	t.Fatalf("no peer %q", label)
	return PeerStats{}
}

func handshake(rtt time.Duration) []pkt {
	return []pkt{
		{src: cli, dst: srv, flags: FlagSYN, seq: 100, mss: 1460},
		{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, mss: 1460, at: rtt},
		{src: cli, dst: srv, flags: FlagACK, seq: 101, ack: 5001, at: rtt + time.Millisecond},
	}
}

func TestTrackerScenarios(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		cfg   Config
		pkts  []pkt
		check func(t *testing.T, s PeerStats, tr *Tracker)
	}{
		{name: "handshake and response latency", pkts: append(handshake(3*ms),
			pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 200, at: 10 * ms},
			pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 301, ack: 5001, payload: 200, at: 11 * ms},
			pkt{src: srv, dst: cli, flags: FlagACK, seq: 5001, ack: 501, at: 12 * ms},
			pkt{src: srv, dst: cli, flags: FlagACK | FlagPSH, seq: 5001, ack: 501, payload: 1000, at: 260 * ms},
			pkt{src: srv, dst: cli, flags: FlagACK | FlagPSH, seq: 6001, ack: 501, payload: 1000, at: 261 * ms}),
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				h, r := s.Handshake[roleClient], s.Response[roleClient]
				if h.Count != 1 || h.Sum != 0.003 {
					t.Errorf("handshake %+v, want one of 3ms", h)
				}
				if r.Count != 1 || r.Sum != 0.25 {
					t.Errorf("response %+v, want one of 250ms", r)
				}
				if s.Connections[roleClient] != 1 || s.Packets[dirSent] != 4 || s.Packets[dirRecv] != 4 {
					t.Errorf("connections %v packets %v", s.Connections, s.Packets)
				}
			}},
		{name: "refused", pkts: []pkt{
			{src: cli, dst: srv, flags: FlagSYN, seq: 100},
			{src: srv, dst: cli, flags: FlagRST | FlagACK, ack: 101, at: ms}},
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.Refused[roleClient] != 1 || s.Resets != [2]uint64{} || s.SynUnanswered[roleClient] != 0 {
					t.Errorf("refused %v resets %v unanswered %v", s.Refused, s.Resets, s.SynUnanswered)
				}
			}},
		{name: "unanswered syn after the timeout, retransmitted", cfg: Config{SYNTimeout: 3 * time.Second}, pkts: []pkt{
			{src: cli, dst: srv, flags: FlagSYN, seq: 100},
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: time.Second},
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: 3 * time.Second},
			// an unrelated packet moves packet time on past the timeout
			{src: "10.7.0.1:40001", dst: srv, flags: FlagSYN, seq: 9, at: 3500 * ms}},
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.SynUnanswered[roleClient] != 1 || s.SynRetransmits[roleClient] != 2 {
					t.Errorf("unanswered %v retransmits %v", s.SynUnanswered, s.SynRetransmits)
				}
			}},
		{name: "reset on an established connection", pkts: append(handshake(ms),
			pkt{src: srv, dst: cli, flags: FlagRST | FlagACK, seq: 5001, ack: 101, at: 5 * ms}),
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.Resets[dirRecv] != 1 || s.Resets[dirSent] != 0 || s.Refused[roleClient] != 0 {
					t.Errorf("resets %v refused %v", s.Resets, s.Refused)
				}
			}},
		{name: "request unanswered after the timeout", cfg: Config{ResponseTimeout: 2 * time.Second}, pkts: append(handshake(ms),
			pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 100, at: 10 * ms},
			pkt{src: srv, dst: cli, flags: FlagACK, seq: 5001, ack: 201, at: 11 * ms},
			pkt{src: "10.7.0.1:40001", dst: srv, flags: FlagSYN, seq: 9, at: 2500 * ms}),
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.Unanswered[roleClient] != 1 || s.Response[roleClient].Count != 0 {
					t.Errorf("unanswered %v responses %d", s.Unanswered, s.Response[roleClient].Count)
				}
			}},
		{name: "data retransmission, keep-alive is not one", pkts: append(handshake(ms),
			pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 100, at: 10 * ms},
			pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 100, at: 300 * ms},
			pkt{src: srv, dst: cli, flags: FlagACK, seq: 5001, ack: 201, at: 301 * ms},
			pkt{src: cli, dst: srv, flags: FlagACK, seq: 200, ack: 5001, at: 5000 * ms}),
			check: func(t *testing.T, s PeerStats, tr *Tracker) {
				if s.Retransmits[dirSent] != 1 || tr.C.Retransmission != 1 {
					t.Errorf("retransmits %v, counter %d", s.Retransmits, tr.C.Retransmission)
				}
			}},
		{name: "small mss", pkts: []pkt{
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, mss: 1460},
			{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, mss: 256, at: ms}},
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.SmallMSS != 1 {
					t.Errorf("small mss %d", s.SmallMSS)
				}
			}},
		{name: "zero window", pkts: append(handshake(ms),
			pkt{src: srv, dst: cli, flags: FlagACK, seq: 5001, ack: 101, zeroWin: true, at: 2 * ms}),
			check: func(t *testing.T, s PeerStats, _ *Tracker) {
				if s.ZeroWindows[dirRecv] != 1 {
					t.Errorf("zero windows %v", s.ZeroWindows)
				}
			}},
		{name: "sequence numbers wrap", pkts: []pkt{
			{src: cli, dst: srv, flags: FlagSYN, seq: 0xffffff00},
			{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 7, ack: 0xffffff01, at: ms},
			{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 0xffffff01, ack: 8, payload: 1000, at: 2 * ms},
			{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 0xffffff01 + 1000 - 1<<32, ack: 8, payload: 1000, at: 3 * ms},
			{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 0xffffff01 + 1000 - 1<<32, ack: 8, payload: 1000, at: 500 * ms}},
			check: func(t *testing.T, s PeerStats, tr *Tracker) {
				if tr.C.Retransmission != 1 {
					t.Errorf("retransmissions %d across the wrap, want 1", tr.C.Retransmission)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, pt := liveTracker(10, tc.cfg)
			feed(t, tr, tc.pkts...)
			tc.check(t, peerStats(t, pt, "10.7.0.2"), tr)
		})
	}
}

// An ICMP error about a tracked connection counts for that connection's
// peer, by kind.
func TestTrackerICMP(t *testing.T) {
	tr, pt := liveTracker(4, Config{})
	feed(t, tr, handshake(time.Millisecond)...)
	ip, port := mustAddrPort(t, cli)
	sip, sport := mustAddrPort(t, srv)
	tr.Handle(&Packet{Kind: KindICMPError, TS: t0.Add(time.Second).UnixNano(), ICMP: ICMPFragNeeded, MTU: 1280,
		ICMPFrom: AddrFrom4([]byte{10, 7, 0, 254}), InnerProto: 6,
		Src: AddrFrom4(ip.To4()), Dst: AddrFrom4(sip.To4()), SrcPort: port, DstPort: sport}, false)
	s := peerStats(t, pt, "10.7.0.2")
	if s.ICMP[ICMPFragNeeded] != 1 || tr.C.ICMPErrors != 1 {
		t.Errorf("icmp %v", s.ICMP)
	}
}

// A SYN with a new ISN on a closed 4-tuple starts a new connection, as
// tshark starts a new tcp.stream.
func TestTrackerPortReuse(t *testing.T) {
	var recs []ConnRecord
	tr := NewTracker(Config{OnEnd: func(r *ConnRecord) { recs = append(recs, *r) }})
	pkts := append(handshake(time.Millisecond),
		pkt{src: cli, dst: srv, flags: FlagFIN | FlagACK, seq: 101, ack: 5001, at: 10 * time.Millisecond},
		pkt{src: cli, dst: srv, flags: FlagSYN, seq: 900000, at: 20 * time.Millisecond})
	feed(t, tr, pkts...)
	tr.Flush()
	if len(recs) != 2 || tr.C.Connections != 2 {
		t.Fatalf("%d records, %d connections; want 2", len(recs), tr.C.Connections)
	}
	if !recs[0].Handshake() || !recs[1].UnansweredSYN() {
		t.Errorf("records %+v", recs)
	}
}

// The cap holds: a flood of SYNs from random sources never tracks more
// than MaxConnections, evicts the oldest, and keeps at most K+1 peers.
func TestTrackerCapUnderFlood(t *testing.T) {
	tr, pt := liveTracker(8, Config{MaxConnections: 100, SYNTimeout: time.Second, IdleTimeout: time.Minute})
	r := rand.New(rand.NewPCG(1, 2))
	d := NewDecoder()
	for i := range 5000 {
		p := pkt{src: fmt.Sprintf("10.%d.%d.%d:%d", r.IntN(200), r.IntN(256), r.IntN(256), 1024+r.IntN(60000)),
			dst: "10.7.0.1:80", flags: FlagSYN, seq: r.Uint32(), at: time.Duration(i) * time.Millisecond}
		var dp Packet
		if err := d.Decode(p.frame(t), 1, &dp); err != nil {
			t.Fatal(err)
		}
		dp.TS = t0.Add(p.at).UnixNano()
		tr.Handle(&dp, false)
		if tr.Len() > 100 {
			t.Fatalf("%d connections tracked, cap 100", tr.Len())
		}
	}
	if tr.C.Evicted == 0 {
		t.Error("no evictions under a flood past the cap")
	}
	snap := pt.Snapshot(t0.UnixNano())
	if len(snap) > 9 {
		t.Errorf("%d peer series, want at most K+1 = 9", len(snap))
	}
	var syns uint64
	for _, s := range snap {
		syns += s.Stats.Connections[roleServer]
	}
	if syns != 5000 {
		t.Errorf("%d connections counted over all peers, want every one of 5000", syns)
	}
}

// Time going backwards must not break the tracker or produce negative
// histogram buckets.
func TestTrackerTimeBackwards(t *testing.T) {
	tr, pt := liveTracker(4, Config{SYNTimeout: time.Second, ResponseTimeout: time.Second, IdleTimeout: time.Minute})
	feed(t, tr,
		pkt{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: 10 * time.Second},
		pkt{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, at: time.Second},
		pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 10, at: 0},
		pkt{src: srv, dst: cli, flags: FlagACK | FlagPSH, seq: 5001, ack: 111, payload: 10, at: -time.Hour})
	s := peerStats(t, pt, "10.7.0.2")
	if s.Handshake[roleClient].Count != 1 || s.Handshake[roleClient].Buckets[0] != 1 {
		t.Errorf("handshake %+v: a negative time must land in the first bucket", s.Handshake[roleClient])
	}
}

// countRST counts the RST segments of pkts.
func countRST(pkts []pkt) uint64 {
	var n uint64
	for _, p := range pkts {
		if p.flags&FlagRST != 0 {
			n++
		}
	}
	return n
}

// A RST that answers a SYN-ACK arriving after the client gave up (Linux:
// no ACK flag, seq = the SYN-ACK's ack_seq = the client's ISN+1) is not a
// reset of an established connection; an abort (RST|ACK) and a RST after
// data are. Every RST still counts in Counters.Resets, as tshark's.
func TestTrackerLateSynAckReset(t *testing.T) {
	ms := time.Millisecond
	syn := pkt{src: cli, dst: srv, flags: FlagSYN, seq: 100}
	synAck := func(at time.Duration) pkt {
		return pkt{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, at: at}
	}
	tests := []struct {
		name   string
		pkts   []pkt
		resets [2]uint64 // sent, received
	}{
		{name: "late SYN-ACK answered by RST", resets: [2]uint64{0, 0}, pkts: []pkt{syn,
			synAck(4 * time.Second),
			{src: cli, dst: srv, flags: FlagRST, seq: 101, at: 4*time.Second + ms}}},
		{name: "late SYN-ACK after SYN retransmissions", resets: [2]uint64{0, 0}, pkts: []pkt{syn,
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: time.Second},
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: 3 * time.Second},
			synAck(7 * time.Second),
			{src: cli, dst: srv, flags: FlagRST, seq: 101, at: 7*time.Second + ms}}},
		{name: "stray SYN-ACK (its SYN went to another address) answered by RST", resets: [2]uint64{0, 0}, pkts: []pkt{
			synAck(ms),
			{src: cli, dst: srv, flags: FlagRST, seq: 101, at: 2 * ms}}},
		{name: "server RST at its ISN+1, handshake ACK not seen", resets: [2]uint64{0, 0}, pkts: []pkt{syn,
			synAck(ms),
			{src: srv, dst: cli, flags: FlagRST, seq: 5001, at: 5 * ms}}},
		{name: "abort without the handshake ACK seen (unsampled) is RST|ACK", resets: [2]uint64{1, 0}, pkts: []pkt{syn,
			synAck(ms),
			{src: cli, dst: srv, flags: FlagRST | FlagACK, seq: 101, ack: 5001, at: 5 * ms}}},
		{name: "RST without ACK after the handshake ACK", resets: [2]uint64{1, 0}, pkts: append(handshake(ms),
			pkt{src: cli, dst: srv, flags: FlagRST, seq: 101, at: 5 * ms})},
		{name: "RST without ACK after data", resets: [2]uint64{1, 0}, pkts: []pkt{syn,
			synAck(ms),
			{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 100, at: 3 * ms},
			{src: cli, dst: srv, flags: FlagRST, seq: 201, at: 5 * ms}}},
		{name: "RST|ACK from the server after the handshake", resets: [2]uint64{0, 1}, pkts: append(handshake(ms),
			pkt{src: srv, dst: cli, flags: FlagRST | FlagACK, seq: 5001, ack: 101, at: 5 * ms})},
		{name: "mid-stream RST without ACK", resets: [2]uint64{0, 1}, pkts: []pkt{
			{src: srv, dst: cli, flags: FlagRST, seq: 777, at: 5 * ms}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var recs []ConnRecord
			tr, pt := liveTracker(10, Config{OnEnd: func(r *ConnRecord) { recs = append(recs, *r) }})
			feed(t, tr, tc.pkts...)
			s := peerStats(t, pt, "10.7.0.2")
			if s.Resets != tc.resets || s.Refused != [2]uint64{} {
				t.Errorf("resets %v (sent, received), want %v; refused %v", s.Resets, tc.resets, s.Refused)
			}
			if want := countRST(tc.pkts); tr.C.Resets != want {
				t.Errorf("Counters.Resets %d, want every RST segment: %d", tr.C.Resets, want)
			}
			// The offline report blames a crash only for the resets the
			// live counters count.
			tr.Flush()
			aborted := tc.resets != [2]uint64{}
			if len(recs) != 1 || recs[0].Aborted != aborted || contains(connCauses(&recs[0]), causeAppCrash) && !aborted {
				t.Errorf("records %+v: want one, aborted %v, app_crash only if aborted", recs, aborted)
			}
		})
	}
}

// A SYN on a 4-tuple the server still holds (TIME_WAIT, half-open
// SYN_RECV) is answered by a bare ACK, which the client in SYN_SENT
// answers with a RST before it retries: the SYN was answered, and counts
// as a collision, not as unanswered, on either end. The bare ACK is not
// captured on unsampled connections; the client's RST always is.
func TestTrackerSynCollision(t *testing.T) {
	ms := time.Millisecond
	// The host is 10.7.0.1: as client it connects from port 40000, as
	// server it listens on port 80.
	const (
		lcli, rsrv = cli, srv
		rcli, lsrv = "10.7.0.2:40000", "10.7.0.1:80"
	)
	// mover moves packet time on past the SYN timeout.
	mover := pkt{src: "10.7.0.1:40001", dst: srv, flags: FlagACK, seq: 9, ack: 9, at: 5 * time.Second}
	collision := func(c, s string, bareACK, retry bool) []pkt {
		ps := []pkt{{src: c, dst: s, flags: FlagSYN, seq: 100}}
		if bareACK {
			ps = append(ps, pkt{src: s, dst: c, flags: FlagACK, seq: 7000, ack: 3333, at: ms})
		}
		ps = append(ps, pkt{src: c, dst: s, flags: FlagRST, seq: 3333, at: 2 * ms})
		if retry {
			ps = append(ps,
				pkt{src: c, dst: s, flags: FlagSYN, seq: 100, at: time.Second},
				pkt{src: s, dst: c, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, at: time.Second + ms},
				pkt{src: c, dst: s, flags: FlagACK, seq: 101, ack: 5001, at: time.Second + 2*ms})
		}
		return append(ps, mover)
	}
	tests := []struct {
		name       string
		pkts       []pkt
		role       int
		unanswered uint64
		collisions uint64
		refused    uint64
	}{
		{name: "bare ACK, RST, retry", pkts: collision(lcli, rsrv, true, true), role: roleClient, collisions: 1},
		{name: "RST only (bare ACK not captured), retry", pkts: collision(lcli, rsrv, false, true), role: roleClient, collisions: 1},
		{name: "bare ACK and RST, no retry seen", pkts: collision(lcli, rsrv, true, false), role: roleClient, collisions: 1},
		{name: "RST only, no retry seen", pkts: collision(lcli, rsrv, false, false), role: roleClient, collisions: 1},
		{name: "server role", pkts: collision(rcli, lsrv, true, true), role: roleServer, collisions: 1},
		{name: "server role, RST only", pkts: collision(rcli, lsrv, false, false), role: roleServer, collisions: 1},
		{name: "the client's own RST at its ISN is no answer", pkts: []pkt{{src: lcli, dst: rsrv, flags: FlagSYN, seq: 100},
			{src: lcli, dst: rsrv, flags: FlagRST, seq: 100, at: ms}, mover}, role: roleClient, unanswered: 1},
		{name: "a SYN with no answer is unanswered", pkts: []pkt{{src: lcli, dst: rsrv, flags: FlagSYN, seq: 100}, mover},
			role: roleClient, unanswered: 1},
		{name: "a SYN answered by RST|ACK is refused", pkts: []pkt{{src: lcli, dst: rsrv, flags: FlagSYN, seq: 100},
			{src: rsrv, dst: lcli, flags: FlagRST | FlagACK, ack: 101, at: ms}, mover},
			role: roleClient, refused: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, pt := liveTracker(10, Config{SYNTimeout: 3 * time.Second, IdleTimeout: time.Minute})
			feed(t, tr, tc.pkts...)
			tr.Flush()
			s := peerStats(t, pt, "10.7.0.2")
			if s.SynUnanswered[tc.role] != tc.unanswered || s.SYNCollisions[tc.role] != tc.collisions || s.Refused[tc.role] != tc.refused {
				t.Errorf("role %d: unanswered %v collisions %v refused %v; want %d, %d, %d",
					tc.role, s.SynUnanswered, s.SYNCollisions, s.Refused, tc.unanswered, tc.collisions, tc.refused)
			}
			if s.Resets != [2]uint64{} {
				t.Errorf("resets %v: the client's RST in SYN_SENT is not a reset of a connection", s.Resets)
			}
		})
	}
}

// After a SYN collision the client's retransmitted SYN reopens the
// connection its RST closed: the connection is then timed as open (idle
// timeout), not as closed; one that stays reset is timed as closed.
func TestTrackerReopenedAfterCollision(t *testing.T) {
	ms := time.Millisecond
	syn := pkt{src: cli, dst: srv, flags: FlagSYN, seq: 100}
	ack := pkt{src: srv, dst: cli, flags: FlagACK, seq: 7000, ack: 3333, at: ms}
	rst := pkt{src: cli, dst: srv, flags: FlagRST, seq: 3333, at: 2 * ms}
	for _, tc := range []struct {
		name string
		pkts []pkt
		want int // connections tracked a minute later
	}{
		{"retried and connected", []pkt{syn, ack, rst,
			{src: cli, dst: srv, flags: FlagSYN, seq: 100, at: time.Second},
			{src: srv, dst: cli, flags: FlagSYN | FlagACK, seq: 5000, ack: 101, at: time.Second + ms},
			{src: cli, dst: srv, flags: FlagACK, seq: 101, ack: 5001, at: time.Second + 2*ms}}, 1},
		{"not retried", []pkt{syn, ack, rst}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := liveTracker(10, Config{SYNTimeout: 3 * time.Second, ClosedTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute})
			feed(t, tr, tc.pkts...)
			tr.Tick(t0.Add(time.Minute).UnixNano())
			if got := tr.Len(); got != tc.want {
				t.Errorf("%d connections tracked after a minute, want %d", got, tc.want)
			}
		})
	}
}

// A client's FIN does not settle its pending request: a client that
// half-closes after the request (or sends it with the FIN) still waits for
// the reply, and the connection is kept until the response timeout. The
// server's FIN and a RST from either side do settle it.
func TestTrackerHalfCloseRequest(t *testing.T) {
	ms := time.Millisecond
	req := pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH, seq: 101, ack: 5001, payload: 100, at: 10 * ms}
	cliFin := pkt{src: cli, dst: srv, flags: FlagFIN | FlagACK, seq: 201, ack: 5001, at: 11 * ms}
	srvAck := pkt{src: srv, dst: cli, flags: FlagACK, seq: 5001, ack: 202, at: 12 * ms}
	// mover moves packet time on, so that timeouts are checked.
	mover := func(at time.Duration) pkt {
		return pkt{src: "10.7.0.1:40001", dst: srv, flags: FlagACK, seq: 9, ack: 9, at: at}
	}
	reply := func(ack uint32, at time.Duration) pkt {
		return pkt{src: srv, dst: cli, flags: FlagACK | FlagPSH, seq: 5001, ack: ack, payload: 500, at: at}
	}
	tests := []struct {
		name       string
		pkts       []pkt
		unanswered uint64
		responses  uint64
		tracked    int // connections left, the movers' included
	}{
		{name: "half-close after the request, reply after the closed timeout", responses: 1, tracked: 1,
			pkts: append(handshake(ms), req, cliFin, srvAck, mover(1500*ms), reply(202, 1600*ms),
				pkt{src: srv, dst: cli, flags: FlagFIN | FlagACK, seq: 5501, ack: 202, at: 1601 * ms}, mover(4*time.Second))},
		{name: "request sent with the FIN", responses: 1, tracked: 2,
			pkts: append(handshake(ms), pkt{src: cli, dst: srv, flags: FlagACK | FlagPSH | FlagFIN, seq: 101, ack: 5001, payload: 100, at: 10 * ms},
				mover(1500*ms), reply(202, 1600*ms))},
		{name: "half-close, no reply: unanswered at the response timeout, then expired", unanswered: 1, tracked: 1,
			pkts: append(handshake(ms), req, cliFin, srvAck, mover(1500*ms), mover(2500*ms), mover(4*time.Second))},
		{name: "the server closes with a request pending", unanswered: 1, tracked: 2,
			pkts: append(handshake(ms), req, pkt{src: srv, dst: cli, flags: FlagFIN | FlagACK, seq: 5001, ack: 201, at: 20 * ms}, mover(100*ms))},
		{name: "the client resets with a request pending", unanswered: 1, tracked: 2,
			pkts: append(handshake(ms), req, pkt{src: cli, dst: srv, flags: FlagRST | FlagACK, seq: 201, ack: 5001, at: 20 * ms}, mover(100*ms))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, pt := liveTracker(10, Config{ResponseTimeout: 2 * time.Second, ClosedTimeout: time.Second, IdleTimeout: time.Minute})
			feed(t, tr, tc.pkts...)
			s := peerStats(t, pt, "10.7.0.2")
			if s.Unanswered[roleClient] != tc.unanswered || s.Response[roleClient].Count != tc.responses {
				t.Errorf("unanswered %v responses %d, want %d, %d", s.Unanswered, s.Response[roleClient].Count, tc.unanswered, tc.responses)
			}
			if tr.Len() != tc.tracked {
				t.Errorf("%d connections tracked, want %d", tr.Len(), tc.tracked)
			}
		})
	}
}

// icmpUnreachFrame is an ICMP (v6: ICMPv6) destination unreachable with
// code, sent by from about a packet of proto (6 TCP, 17 UDP) from src to
// dst, quoting its IP header and 8 bytes, as a host or router sends it.
func icmpUnreachFrame(t *testing.T, code uint8, proto layers.IPProtocol, from, src, dst string) []byte {
	t.Helper()
	fip := net.ParseIP(from)
	sip, sport := mustAddrPort(t, src)
	dip, dport := mustAddrPort(t, dst)
	var l4 gopacket.SerializableLayer
	if proto == layers.IPProtocolTCP {
		l4 = &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 100, SYN: true, Window: 1000}
	} else {
		l4 = &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	}
	if sip.To4() != nil {
		quoted := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: sip.To4(), DstIP: dip.To4()},
			l4, gopacket.Payload(make([]byte, 40)))[:28]
		return serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: fip.To4(), DstIP: sip.To4()},
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, code)}, gopacket.Payload(quoted))
	}
	quoted := serialize(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: sip, DstIP: dip},
		l4, gopacket.Payload(make([]byte, 40)))[:48]
	body := append(make([]byte, 4), quoted...) // 4 unused bytes, then the quote
	return serialize(t, ethV6, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: fip, DstIP: sip},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, code)}, gopacket.Payload(body))
}

// A port unreachable quoting a TCP segment is a firewall's REJECT (a TCP
// stack with no listener answers RST): it counts as prohibited, live and
// offline; quoting UDP it is a closed port.
func TestTrackerICMPPortUnreachable(t *testing.T) {
	tests := []struct {
		name      string
		code      uint8
		proto     layers.IPProtocol
		src, dst  string
		from      string
		peer      string
		connected bool // a SYN of the connection is seen first
		want      ICMPKind
		cause     string
	}{
		{name: "v4 TCP port unreachable", code: 3, proto: layers.IPProtocolTCP, src: cli, dst: srv, from: "10.7.0.2",
			peer: "10.7.0.2", connected: true, want: ICMPProhibited, cause: causeFirewallDrop},
		{name: "v4 TCP port unreachable, no connection known", code: 3, proto: layers.IPProtocolTCP, src: cli, dst: srv, from: "10.7.0.2",
			peer: "10.7.0.2", want: ICMPProhibited, cause: causeFirewallDrop},
		{name: "v4 UDP port unreachable", code: 3, proto: layers.IPProtocolUDP, src: cli, dst: "10.7.0.2:53", from: "10.7.0.2",
			peer: "10.7.0.2", want: ICMPPort, cause: causePeerDown},
		{name: "v4 TCP administratively prohibited", code: 13, proto: layers.IPProtocolTCP, src: cli, dst: srv, from: "10.7.0.254",
			peer: "10.7.0.2", connected: true, want: ICMPProhibited, cause: causeFirewallDrop},
		{name: "v4 TCP host unreachable", code: 1, proto: layers.IPProtocolTCP, src: cli, dst: srv, from: "10.7.0.254",
			peer: "10.7.0.2", connected: true, want: ICMPHost, cause: causeNoRoute},
		{name: "v6 TCP port unreachable", code: 4, proto: layers.IPProtocolTCP, src: "[fd00::1]:40000", dst: "[fd00::2]:80", from: "fd00::2",
			peer: "fd00::2", want: ICMPProhibited, cause: causeFirewallDrop},
		{name: "v6 UDP port unreachable", code: 4, proto: layers.IPProtocolUDP, src: "[fd00::1]:40000", dst: "[fd00::2]:53", from: "fd00::2",
			peer: "fd00::2", want: ICMPPort, cause: causePeerDown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := icmpUnreachFrame(t, tc.code, tc.proto, tc.from, tc.src, tc.dst)
			var pkts []pkt
			if tc.connected {
				pkts = []pkt{{src: tc.src, dst: tc.dst, flags: FlagSYN, seq: 100}}
			}

			// Live: the peer's counter by kind, and what OnICMP sees.
			var seen []ICMPKind
			tr, pt := liveTracker(4, Config{OnICMP: func(p *Packet) { seen = append(seen, p.ICMP) }})
			feed(t, tr, pkts...)
			var p Packet
			if err := NewDecoder().Decode(frame, layers.LinkTypeEthernet, &p); err != nil || p.Kind != KindICMPError {
				t.Fatalf("decode: %v, kind %v", err, p.Kind)
			}
			p.TS = t0.Add(time.Millisecond).UnixNano()
			tr.Handle(&p, false)
			var want [numICMPKinds]uint64
			want[tc.want] = 1
			if s := peerStats(t, pt, tc.peer); s.ICMP != want {
				t.Errorf("peer %s icmp %v, want one %v", tc.peer, s.ICMP, tc.want)
			}
			if len(seen) != 1 || seen[0] != tc.want {
				t.Errorf("OnICMP saw %v, want %v", seen, tc.want)
			}

			// Offline: the analysis's record, the report's kind and cause.
			var b bytes.Buffer
			w := pcapgo.NewWriterNanos(&b)
			if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
			for _, q := range pkts {
				data := q.frame(t)
				_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(q.at), Length: len(data), CaptureLength: len(data)}, data)
			}
			_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(time.Millisecond), Length: len(frame), CaptureLength: len(frame)}, frame)
			a, err := ReadCapture(&b, AnalyzeOptions{})
			if err != nil || a.Err != nil {
				t.Fatalf("read capture: %v %v", err, a.Err)
			}
			if len(a.ICMP) != 1 || a.ICMP[0].Kind != tc.want || a.ICMP[0].Connected != tc.connected {
				t.Fatalf("analysis icmp %+v, want one %v (connected %v)", a.ICMP, tc.want, tc.connected)
			}
			rep := a.Report(AnalyzeOptions{})
			var causes []string
			for _, f := range rep.Findings {
				if strings.HasPrefix(f.Evidence, "ICMP ") {
					causes = append(causes, f.Causes...)
				}
			}
			if len(rep.ICMPErrors) != 1 || rep.ICMPErrors[0].Kind != tc.want.String() || !slices.Contains(causes, tc.cause) {
				t.Errorf("report icmp %+v, causes %v; want kind %v, cause %s", rep.ICMPErrors, causes, tc.want, tc.cause)
			}
		})
	}
}
