package sampler

import (
	"time"
)

// Config sets the tracker's bounds and timeouts.
type Config struct {
	// MaxConnections caps the connection table; when it is full the least
	// recently seen connection is evicted.
	MaxConnections int
	// SYNTimeout: a SYN with neither SYN-ACK nor RST after this long counts
	// as unanswered (a bare ACK from the server, or the client's RST to
	// one, answers it too). 0: only when the connection ends (offline analysis).
	SYNTimeout time.Duration
	// ResponseTimeout: a request without a reply byte after this long
	// counts as unanswered; a request still pending when the server closes
	// or either side resets counts too (the client's own FIN does not: it
	// may half-close and wait). 0 disables the timeout.
	ResponseTimeout time.Duration
	// IdleTimeout ends a connection with no packet for this long; 0 never.
	IdleTimeout time.Duration
	// ClosedTimeout ends a connection this long after its last packet once
	// a FIN or RST was seen; 0 uses IdleTimeout. A connection only the
	// client half-closed while its request waits for a reply keeps
	// IdleTimeout until ResponseTimeout settles the request.
	ClosedTimeout time.Duration
	// SampleRate is the share of connections whose data packets are
	// analysed (retransmissions, response latency); SYN, SYN-ACK, FIN, RST
	// and ICMP errors are analysed for every connection. 0 means 1.
	SampleRate float64
	// Peers, if set, receives per-peer counters; it needs Local.
	Peers *PeerTable
	// Local tells which endpoint of a new connection is this host.
	Local LocalFunc
	// OnEnd, if set, receives every connection when it ends.
	OnEnd func(*ConnRecord)
	// OnICMP, if set, receives every ICMP error, with its kind as counted
	// (a port unreachable about TCP is ICMPProhibited).
	OnICMP func(*Packet)
}

// LocalFunc reports whether src (true) or dst (false) of the first packet
// of a connection is this host. outgoing is the capture's hint that the
// packet was sent by this host.
type LocalFunc func(src, dst Addr, outgoing bool) bool

// Counters are the tracker's own totals.
type Counters struct {
	Packets        uint64 // handed to the tracker
	TCP            uint64
	ICMPErrors     uint64
	Sampled        uint64 // TCP packets of sampled connections
	Connections    uint64 // connections started
	Evicted        uint64 // ended early because the table was full
	Expired        uint64 // ended by a timeout
	Resets         uint64 // RST segments
	Retransmission uint64 // segments flagged as tshark's tcp.analysis.retransmission
}

// scanEvery is how often, in packet time, timeouts are checked.
const scanEvery = int64(time.Second)

// touchEvery bounds how stale a connection's place in the LRU order may be.
const touchEvery = int64(time.Second)

// Tracker follows TCP connections through a fixed-size table and turns
// their packets into per-connection and per-peer figures.
type Tracker struct {
	cfg       Config
	tbl       *table
	threshold uint32 // sampling: sampleHash < threshold
	C         Counters
	lastScan  int64
	latest    int64 // the latest packet time seen
	// scan: some timeout needs the periodic walk over all connections.
	// Offline analysis needs none: a request's fate is settled when its
	// connection ends or the capture does.
	scan bool
}

// NewTracker returns a tracker with cfg.
func NewTracker(cfg Config) *Tracker {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100000
	}
	if cfg.ClosedTimeout == 0 {
		cfg.ClosedTimeout = cfg.IdleTimeout
	}
	if cfg.Local == nil {
		cfg.Local = func(_, _ Addr, outgoing bool) bool { return outgoing }
	}
	return &Tracker{cfg: cfg, tbl: newTable(cfg.MaxConnections), threshold: sampleThreshold(cfg.SampleRate),
		scan: cfg.SYNTimeout > 0 || cfg.IdleTimeout > 0 || cfg.ClosedTimeout > 0 || cfg.Peers != nil && cfg.ResponseTimeout > 0}
}

// Len is the number of connections tracked now.
func (t *Tracker) Len() int { return t.tbl.n }

// Handle processes one decoded packet. outgoing is the capture's hint that
// this host sent it (live capture); offline analysis passes false.
func (t *Tracker) Handle(p *Packet, outgoing bool) {
	t.C.Packets++
	switch p.Kind {
	case KindTCP:
		t.C.TCP++
		t.tcp(p, outgoing)
	case KindICMPError:
		t.C.ICMPErrors++
		t.icmp(p)
	}
	t.latest = max(t.latest, p.TS)
	if t.scan && (p.TS-t.lastScan >= scanEvery || p.TS < t.lastScan-scanEvery) {
		t.Tick(p.TS)
	}
}

func (t *Tracker) tcp(p *Packet, outgoing bool) {
	var key flowKey
	side := makeKey(&key, &p.Src, &p.Dst, p.SrcPort, p.DstPort)
	h := key.hash(t.tbl.seed)
	idx := t.tbl.lookup(&key, h)
	if idx >= 0 && p.Flags&(FlagSYN|FlagACK) == FlagSYN && t.reused(t.tbl.conn(idx), side, p) {
		t.end(idx, false)
		idx = -1
	}
	if idx < 0 {
		if t.tbl.full() {
			t.C.Evicted++
			t.end(t.tbl.tail, false)
		}
		idx = t.tbl.insert(&key, h)
		t.start(t.tbl.conn(idx), side, p, outgoing)
	} else if c := t.tbl.conn(idx); p.TS-c.lastTS >= touchEvery || p.TS < c.lastTS {
		// Moving a connection to the front of the LRU list touches two
		// neighbours' cache lines; doing it at most once per touchEvery
		// keeps the order right to within that, which eviction needs.
		t.tbl.touch(idx)
	}
	t.segment(t.tbl.conn(idx), side, p)
}

// reused reports whether a SYN starts a new connection on a known 4-tuple:
// a different initial sequence number, where tshark starts a new
// tcp.stream. A SYN with the same one is a retransmission, also after a
// RST: after a SYN collision the client resets the server's old
// connection and retransmits its SYN.
func (t *Tracker) reused(c *conn, side uint8, p *Packet) bool {
	fwd := &c.h[side]
	return fwd.isnSet && p.Seq != fwd.isn
}

// start fills a new connection from its first packet.
func (t *Tracker) start(c *conn, side uint8, p *Packet, outgoing bool) {
	c.serial = t.C.Connections
	t.C.Connections++
	c.firstTS, c.lastTS = p.TS, p.TS
	c.peer = otherPeer
	c.h[0].window, c.h[1].window = -1, -1
	switch {
	case p.Flags&(FlagSYN|FlagACK) == FlagSYN:
		c.clientSide = side
	case p.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		c.clientSide = 1 - side
	default:
		// Mid-stream: the well-known (lower) port is the server's; on a
		// tie the receiver of the first packet is.
		c.flags |= cGuessedRoles
		c.clientSide = side
		if p.SrcPort < p.DstPort {
			c.clientSide = 1 - side
		}
	}
	if t.threshold >= 1<<16 || sampleHash(&c.key) < t.threshold {
		c.flags |= cSampled
	}
	src := t.cfg.Local(p.Src, p.Dst, outgoing)
	c.localSide = side
	if !src {
		c.localSide = 1 - side
	}
	if pt := t.cfg.Peers; pt != nil {
		remote := c.key.endpoint(1 - c.localSide).Addr
		c.peer = pt.resolve(remote, p.TS)
		s := pt.slot(c.peer)
		s.refs++
		role := c.role()
		s.stats.Connections[role]++
		if c.flags&cSampled != 0 {
			s.stats.Sampled[role]++
		}
	}
}

// segment runs the connection logic for one TCP packet sent by side.
func (t *Tracker) segment(c *conn, side uint8, p *Packet) {
	fwd, rev := &c.h[side], &c.h[1-side]
	flags := p.Flags
	c.lastTS = p.TS
	c.packets[side]++
	var ps *PeerStats
	if pt := t.cfg.Peers; pt != nil {
		s := pt.slot(c.peer)
		s.lastActive = p.TS
		ps = &s.stats
		ps.Packets[c.dirOf(side)]++
	}
	sampled := c.flags&cSampled != 0
	if sampled {
		t.C.Sampled++
	}

	// Handshake.
	switch {
	case flags&(FlagSYN|FlagACK) == FlagSYN:
		c.completeness |= compSyn
		if c.flags&cSawSyn == 0 {
			c.flags |= cSawSyn
			c.firstSyn = p.TS
			c.clientSide = side
			c.flags &^= cGuessedRoles
		} else if side == c.clientSide && ps != nil {
			ps.SynRetransmits[c.role()]++
		}
		// A SYN retransmitted after a RST (the client's answer to a SYN
		// collision) reopens the connection.
		c.flags &^= cClosed
		c.lastSyn = p.TS
		c.synCount++
		t.noteMSS(c, side, p.MSS, p.TS)
	case flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK:
		if c.completeness&compSyn != 0 {
			// As Wireshark: a SYN-ACK only completes a SYN it saw.
			c.completeness |= compSynAck
		}
		if c.flags&cSawSyn == 0 && c.flags&cSawSynAck == 0 {
			c.clientSide = 1 - side
			c.flags &^= cGuessedRoles
		}
		if side == c.serverSide() && c.flags&cSawSynAck == 0 {
			c.flags |= cSawSynAck
			c.synAck = p.TS
			if c.flags&cSawSyn != 0 && ps != nil && c.role() == roleClient {
				ps.Handshake[roleClient].Observe(p.TS - c.firstSyn)
			}
		}
		c.synAckCount++
		t.noteMSS(c, side, p.MSS, p.TS)
	case flags&FlagACK != 0:
		c.completeness |= compAck
		if c.flags&(cSawSynAck|cHandshakeAcked) == cSawSynAck && side == c.clientSide &&
			flags&FlagRST == 0 && p.Ack == c.h[c.serverSide()].isn+1 {
			c.flags |= cHandshakeAcked
			c.hsAck = p.TS
			if c.flags&cSawSyn != 0 && c.firstRTT == 0 {
				c.firstRTT = p.TS - c.lastSyn
			}
			if ps != nil && c.role() == roleServer {
				ps.Handshake[roleServer].Observe(p.TS - c.synAck)
			}
		}
		if side == c.serverSide() && flags&(FlagFIN|FlagRST) == 0 && p.SegLen == 0 && c.waitingForSynAnswer() {
			// A pure ACK answering a SYN: the server still holds the
			// 4-tuple (TIME_WAIT, or a half-open SYN_RECV).
			t.synCollision(c, ps)
		}
	}
	if flags&(FlagFIN|FlagRST) != 0 {
		c.flags |= cClosed
	}
	if flags&FlagFIN != 0 {
		c.completeness |= compFin
		if side == c.serverSide() {
			c.flags |= cServerFin
		}
	}
	if flags&FlagRST != 0 {
		t.C.Resets++
		c.completeness |= compRst
		c.rsts[side]++
		switch {
		case c.waitingForSynAnswer() && side == c.serverSide():
			c.flags |= cRefused
			if ps != nil {
				ps.Refused[c.role()]++
			}
		case c.waitingForSynAnswer():
			// A client in SYN_SENT that gives up sends nothing (Linux's
			// tcp_need_reset excludes SYN_SENT): its RST answers an
			// unacceptable ACK, the bare ACK of a server that still
			// holds the 4-tuple. That ACK may not be captured (only
			// sampled connections show pure ACKs); the RST always is,
			// with that ACK's ack_seq as its seq, which is never the
			// client's ISN+1 (that ACK would be acceptable). A RST at
			// the client's ISN or ISN+1 is its own abort (other stacks,
			// tools), not an answer.
			if fwd.isnSet && p.Seq != fwd.isn && p.Seq != fwd.isn+1 {
				t.synCollision(c, ps)
			}
		case c.flags&(cSawSynAck|cSawSyn) != cSawSyn && !c.rstAnswersSynAck(side, p):
			// Past the handshake, or a connection seen mid-stream; not
			// the answer to a SYN-ACK that came after its client gave up.
			c.flags |= cAborted
			if ps != nil {
				ps.Resets[c.dirOf(side)]++
			}
		}
	}
	if p.SegLen > 0 {
		c.completeness |= compData
	}

	ta := analyzeSeq(fwd, rev, p, c.firstRTT)
	if ta&anyRetrans != 0 {
		t.C.Retransmission++
		c.retrans[side]++
		if p.SegLen > 0 {
			c.dataRetrans[side]++
			if sampled && ps != nil {
				ps.Retransmits[c.dirOf(side)]++
			}
		}
	}
	if ta&aZeroWindow != 0 {
		c.zeroWin[side]++
		if ps != nil {
			ps.ZeroWindows[c.dirOf(side)]++
		}
	}
	if sampled && p.SegLen > 0 && ta&(anyRetrans|aKeepAlive|aZeroWindowProbe) == 0 {
		t.data(c, side, p.TS, ps)
	}
	if c.flags&(cReqPending|cReqCounted) == cReqPending &&
		(flags&FlagRST != 0 || flags&FlagFIN != 0 && side != c.clientSide) {
		// Reset, or closed by the server, while a request waited for its
		// reply. The client's FIN does not settle it: a client that
		// half-closes after its request (or sends it with the FIN) still
		// waits for the reply, which the response timeout judges.
		t.unanswered(c, ps)
	}
}

// synCollision marks a SYN as answered by a bare ACK: the 4-tuple collided
// with one the server still holds, and the client retries.
func (t *Tracker) synCollision(c *conn, ps *PeerStats) {
	c.flags |= cSynCollision
	if ps != nil {
		ps.SYNCollisions[c.role()]++
	}
}

// data sees new data from side: a request starts with the client's first
// byte after the server last spoke, and is answered by the server's next
// byte. The protocol does not matter, only the change of direction.
func (t *Tracker) data(c *conn, side uint8, ts int64, ps *PeerStats) {
	if side == c.clientSide {
		if c.flags&cReqPending == 0 {
			c.flags = c.flags&^cReqCounted | cReqPending
			c.reqStart = ts
		}
		return
	}
	if c.flags&cReqPending == 0 {
		return // more of the same reply, or data the server sent unasked
	}
	c.flags &^= cReqPending | cReqCounted
	d := ts - c.reqStart
	c.responses++
	c.respSum += d
	if c.responses == 1 || d < c.respMin {
		c.respMin = d
	}
	if d > c.respMax {
		c.respMax = d
	}
	if ps != nil {
		ps.Response[c.role()].Observe(d)
	}
}

func (t *Tracker) unanswered(c *conn, ps *PeerStats) {
	c.flags |= cReqCounted
	c.unanswered++
	if ps != nil {
		ps.Unanswered[c.role()]++
	}
}

func (t *Tracker) noteMSS(c *conn, side uint8, mss uint16, ts int64) {
	if mss == 0 {
		return
	}
	c.mss[side] = mss
	pt := t.cfg.Peers
	if pt == nil {
		return
	}
	s := pt.slot(c.peer)
	s.mss.note(mss, ts)
	if mss < SmallMSSThreshold && c.flags&cSmallMSS == 0 {
		c.flags |= cSmallMSS
		s.stats.SmallMSS++
	}
}

// icmp attributes an ICMP error to the connection it quotes, or to the
// quoted packet's destination when no connection is known. A port
// unreachable about a TCP segment becomes ICMPProhibited (see
// icmpKindFor), in p too, so that OnICMP sees the kind counted.
func (t *Tracker) icmp(p *Packet) {
	p.ICMP = icmpKindFor(p.ICMP, p.InnerProto)
	if t.cfg.OnICMP != nil {
		t.cfg.OnICMP(p)
	}
	peer := otherPeer
	if p.InnerProto == 6 {
		key, _ := newKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
		if idx := t.tbl.lookup(&key, key.hash(t.tbl.seed)); idx >= 0 {
			c := t.tbl.conn(idx)
			c.icmp++
			if t.cfg.Peers != nil {
				t.cfg.Peers.stats(c.peer).ICMP[p.ICMP]++
			}
			return
		}
	}
	if pt := t.cfg.Peers; pt != nil {
		peer = pt.resolve(p.Dst, p.TS)
		pt.stats(peer).ICMP[p.ICMP]++
	}
}

// Tick checks timeouts at time now (ns): unanswered SYNs and requests,
// idle connections. Handle calls it as packet time passes; a live capture
// also calls it when no packet comes.
func (t *Tracker) Tick(now int64) {
	t.lastScan = now
	syn, resp := int64(t.cfg.SYNTimeout), int64(t.cfg.ResponseTimeout)
	idle, closed := int64(t.cfg.IdleTimeout), int64(t.cfg.ClosedTimeout)
	pt := t.cfg.Peers
	for idx := t.tbl.head; idx >= 0; {
		c := t.tbl.conn(idx)
		next := c.next
		var ps *PeerStats
		if pt != nil {
			ps = pt.stats(c.peer)
		}
		if syn > 0 && c.waitingForSynAnswer() && c.flags&cSynCounted == 0 && now-c.firstSyn >= syn {
			t.synUnanswered(c, ps)
		}
		if resp > 0 && c.flags&(cReqPending|cReqCounted) == cReqPending && now-c.reqStart >= resp {
			t.unanswered(c, ps)
		}
		limit := idle
		if c.flags&cClosed != 0 && (resp == 0 || !c.awaitingReply()) {
			// Closed; but a client that half-closed after its request
			// still waits for the reply: the response timeout settles it
			// first (above), until then the connection is only idle.
			limit = closed
		}
		if limit > 0 && now-c.lastTS >= limit {
			t.C.Expired++
			t.end(idx, false)
		}
		idx = next
	}
	if pt != nil {
		pt.tick(now)
	}
}

func (t *Tracker) synUnanswered(c *conn, ps *PeerStats) {
	c.flags |= cSynCounted
	if ps != nil {
		ps.SynUnanswered[c.role()]++
	}
}

// Flush ends every connection, as at the end of a capture file.
func (t *Tracker) Flush() {
	// Every connection goes: finish them in arena order, which walks
	// memory sequentially, then empty the table at once rather than
	// removing them one by one.
	for i := 0; i < t.tbl.used; i++ {
		if c := t.tbl.conn(int32(i)); c.live {
			t.finish(c, true)
		}
	}
	t.tbl.clear()
}

// end finishes the connection at idx and frees its slot. atEOF says the
// capture ended, so a pending request counts as unanswered only if it
// waited ResponseTimeout before the last packet of the capture.
func (t *Tracker) end(idx int32, atEOF bool) {
	t.finish(t.tbl.conn(idx), atEOF)
	t.tbl.remove(idx)
}

// finish settles a connection's counts and hands its record to OnEnd.
func (t *Tracker) finish(c *conn, atEOF bool) {
	var ps *PeerStats
	if pt := t.cfg.Peers; pt != nil {
		s := pt.slot(c.peer)
		s.refs--
		ps = &s.stats
	}
	if c.waitingForSynAnswer() && c.flags&cSynCounted == 0 {
		t.synUnanswered(c, ps)
	}
	if c.flags&(cReqPending|cReqCounted) == cReqPending {
		resp := int64(t.cfg.ResponseTimeout)
		if !atEOF || (resp > 0 && t.latest-c.reqStart >= resp) {
			t.unanswered(c, ps)
		}
	}
	if t.cfg.OnEnd != nil {
		r := c.record()
		t.cfg.OnEnd(&r)
	}
}

// sampleThreshold turns a rate in (0, 1] into the bound on sampleHash.
func sampleThreshold(rate float64) uint32 {
	if rate <= 0 || rate >= 1 {
		return 1 << 16
	}
	return uint32(rate * (1 << 16))
}

// sampleHash is a 16-bit hash of a connection that is the same for both
// directions, and that the kernel filter computes too (see filter.go), so
// a connection's data packets are either all captured or none.
func sampleHash(k *flowKey) uint32 {
	return SampleHash(k.a, k.b, k.pa, k.pb)
}

// SampleHash computes the sampling hash from the low 32 bits of both
// addresses and both ports: XOR makes it symmetric, the multiply spreads
// it.
func SampleHash(a, b Addr, pa, pb uint16) uint32 {
	x := be32(a[12:]) ^ be32(b[12:]) ^ (uint32(pa)<<16 | uint32(pb))
	h16 := (x >> 16) ^ (x & 0xffff)
	return (h16 * 0x9E3779B1) >> 16 & 0xffff
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
