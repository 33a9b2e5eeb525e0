package sampler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
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
