package sampler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sort"
)

// Two-sided comparison: a capture from each end of a path (A at the
// client, B at the server), connections matched by their initial sequence
// numbers (so NAT on the path does not matter) or by address, segments by
// sequence number. What A sent and B never saw was lost on the way A→B;
// what B sent and A never saw was lost on the way back.

// DiffOptions tune Diff.
type DiffOptions struct {
	// Map translates A's addresses to B's for connections matched by
	// address (those without a SYN in both captures) behind a NAT.
	Map map[Addr]Addr
	// MaxSegments bounds the segments kept per capture; 0 means 5,000,000.
	MaxSegments int
}

// DiffReport is the result of Diff.
type DiffReport struct {
	// ClockOffsetSeconds is B's clock minus A's, estimated from segments
	// seen in both captures; OffsetNote says how.
	ClockOffsetSeconds float64    `json:"clock_offset_seconds"`
	OffsetPairs        int        `json:"offset_pairs"`
	OffsetNote         string     `json:"offset_note"`
	Totals             DiffTotals `json:"totals"`
	Connections        []DiffConn `json:"connections"`
	Errors             []string   `json:"errors,omitempty"`
}

// DiffTotals sum the connections.
type DiffTotals struct {
	ConnectionsA, ConnectionsB, Matched int
	LostAToB                            int `json:"lost_a_to_b"`
	LostBToA                            int `json:"lost_b_to_a"`
	UnexpectedAtA                       int `json:"unexpected_at_a"`
	UnexpectedAtB                       int `json:"unexpected_at_b"`
	UnansweredAtB                       int `json:"unanswered_at_b"`
}

// DiffConn is one connection seen in either capture.
type DiffConn struct {
	Client    string `json:"client"` // as A sees it
	Server    string `json:"server"`
	ClientAtB string `json:"client_at_b,omitempty"` // as B sees it, when NAT changed it
	ServerAtB string `json:"server_at_b,omitempty"`
	// MatchedBy is "isn" (initial sequence numbers), "address", or ""
	// when the connection is in one capture only (InA, InB say which).
	MatchedBy string `json:"matched_by"`
	InA       bool   `json:"in_a"`
	InB       bool   `json:"in_b"`
	// Segments the client sent (seen at A) that never reached B, and the
	// server's (seen at B) that never reached A.
	LostAToB []DiffSegment `json:"lost_a_to_b"`
	LostBToA []DiffSegment `json:"lost_b_to_a"`
	// Segments a receiver saw that its sender's capture lacks: capture
	// loss, or packets made on the path (an injected RST).
	UnexpectedAtB []DiffSegment `json:"unexpected_at_b"`
	UnexpectedAtA []DiffSegment `json:"unexpected_at_a"`
	// UnansweredAtB counts requests that reached B with no reply from B:
	// the server side hangs.
	UnansweredAtB int `json:"unanswered_at_b"`
	// One-way delays of segments seen at both ends, corrected by the clock
	// offset; and request-to-reply times at each end.
	DelayAToB   *Latency `json:"delay_a_to_b_seconds,omitempty"`
	DelayBToA   *Latency `json:"delay_b_to_a_seconds,omitempty"`
	ResponseAtA *Latency `json:"response_at_a_seconds,omitempty"`
	ResponseAtB *Latency `json:"response_at_b_seconds,omitempty"`
	Verdict     string   `json:"verdict"`
}

// DiffSegment is a TCP segment, seq and ack relative to the connection's
// initial sequence numbers when known.
type DiffSegment struct {
	Time  string `json:"time"` // at the capture that saw it
	Flags string `json:"flags"`
	Seq   uint32 `json:"seq"`
	Ack   uint32 `json:"ack"`
	Len   uint32 `json:"len"`
}

// seg is a captured segment of one connection.
type seg struct {
	ts       int64
	c2s      bool
	seq, ack uint32
	len      uint32
	flags    uint8
	win      uint16
	matched  bool
}

type dconn struct {
	key       flowKey
	client    Endpoint
	server    Endpoint
	clientISN uint32
	serverISN uint32
	haveISN   [2]bool // client, server
	closed    bool
	segs      []seg
	guessed   bool
}

type segCapture struct {
	conns []*dconn
	err   error
}

// readSegments reads every TCP segment of a capture, grouped into
// connections as the tracker groups them.
func readSegments(r io.Reader, max int) (*segCapture, error) {
	src, err := NewSource(r)
	if err != nil {
		return nil, err
	}
	dec := NewDecoder()
	if !dec.SupportsLinkType(src.LinkType()) {
		return nil, fmt.Errorf("%w %v", ErrLinkType, src.LinkType())
	}
	c := &segCapture{}
	open := map[flowKey]*dconn{}
	var p Packet
	n := 0
	for {
		data, ts, lt, err := src.Next()
		if err != nil {
			if err != io.EOF {
				c.err = err
			}
			break
		}
		if dec.Decode(data, lt, &p) != nil || p.Kind != KindTCP {
			continue
		}
		if n++; n > max {
			c.err = fmt.Errorf("more than %d segments: the rest is not compared", max)
			break
		}
		key, _ := newKey(p.Src, p.Dst, p.SrcPort, p.DstPort)
		dc := open[key]
		pureSyn := p.Flags&(FlagSYN|FlagACK) == FlagSYN
		if dc != nil && pureSyn && (dc.closed || dc.haveISN[0] && p.Seq != dc.clientISN) {
			dc = nil // a new connection on the same ports
		}
		if dc == nil {
			dc = &dconn{key: key}
			src, dst := Endpoint{p.Src, p.SrcPort}, Endpoint{p.Dst, p.DstPort}
			// The SYN's sender is the client; without a SYN, the side with
			// the higher (ephemeral) port.
			synAck := p.Flags&(FlagSYN|FlagACK) == FlagSYN|FlagACK
			if pureSyn || !synAck && p.SrcPort > p.DstPort {
				dc.client, dc.server = src, dst
			} else {
				dc.client, dc.server = dst, src
			}
			dc.guessed = p.Flags&FlagSYN == 0
			open[key] = dc
			c.conns = append(c.conns, dc)
		}
		c2s := Endpoint{p.Src, p.SrcPort} == dc.client
		if p.Flags&FlagSYN != 0 {
			if c2s && !dc.haveISN[0] {
				dc.clientISN, dc.haveISN[0] = p.Seq, true
			}
			if !c2s && !dc.haveISN[1] {
				dc.serverISN, dc.haveISN[1] = p.Seq, true
			}
		}
		if p.Flags&(FlagFIN|FlagRST) != 0 {
			dc.closed = true
		}
		dc.segs = append(dc.segs, seg{ts: ts, c2s: c2s, seq: p.Seq, ack: p.Ack, len: p.SegLen, flags: p.Flags, win: p.Window})
	}
	return c, nil
}

// segKey identifies a segment in both captures. Data, SYN, FIN and RST by
// sequence number and length; pure ACKs also by ack and window, so that
// distinct ACKs of the same sequence number stay apart.
type segKey struct {
	c2s      bool
	seq, ack uint32
	len      uint32
	flags    uint8
	win      uint16
}

func keyOf(s *seg) segKey {
	k := segKey{c2s: s.c2s, seq: s.seq, len: s.len, flags: s.flags & (FlagSYN | FlagFIN | FlagRST)}
	if s.len == 0 && s.flags&(FlagSYN|FlagFIN|FlagRST) == 0 {
		k.ack, k.win = s.ack, s.win
	}
	return k
}

// Diff compares captures a (client side) and b (server side).
func Diff(a, b io.Reader, o DiffOptions) (*DiffReport, error) {
	max := o.MaxSegments
	if max == 0 {
		max = 5000000
	}
	ca, err := readSegments(a, max)
	if err != nil {
		return nil, fmt.Errorf("capture A: %w", err)
	}
	cb, err := readSegments(b, max)
	if err != nil {
		return nil, fmt.Errorf("capture B: %w", err)
	}
	rep := &DiffReport{}
	for _, e := range []struct {
		name string
		err  error
	}{{"A", ca.err}, {"B", cb.err}} {
		if e.err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("capture %s: %v", e.name, e.err))
		}
	}
	rep.Totals.ConnectionsA, rep.Totals.ConnectionsB = len(ca.conns), len(cb.conns)
	pairs := matchConns(ca.conns, cb.conns, o.Map)

	// Clock offset from segments seen exactly once at each end.
	var minAB, minBA int64 = math.MaxInt64, math.MaxInt64
	nAB, nBA := 0, 0
	for _, pr := range pairs {
		if pr.a == nil || pr.b == nil {
			continue
		}
		once := func(c *dconn) map[segKey]*seg {
			count := map[segKey]int{}
			for i := range c.segs {
				count[keyOf(&c.segs[i])]++
			}
			m := map[segKey]*seg{}
			for i := range c.segs {
				if k := keyOf(&c.segs[i]); count[k] == 1 {
					m[k] = &c.segs[i]
				}
			}
			return m
		}
		sa, sb := once(pr.a), once(pr.b)
		for k, x := range sa {
			y := sb[k]
			if y == nil {
				continue
			}
			if k.c2s {
				minAB = min(minAB, y.ts-x.ts)
				nAB++
			} else {
				minBA = min(minBA, x.ts-y.ts)
				nBA++
			}
		}
	}
	var offset int64
	switch {
	case nAB > 0 && nBA > 0:
		offset = (minAB - minBA) / 2
		rep.OffsetNote = "from the fastest segment each way, assuming the path is as fast both ways"
	case nAB > 0:
		offset = minAB
		rep.OffsetNote = "from client-to-server segments only (no server segment seen at both ends): one-way delays are relative"
	case nBA > 0:
		offset = -minBA
		rep.OffsetNote = "from server-to-client segments only: one-way delays are relative"
	default:
		rep.OffsetNote = "no segment seen at both ends: clocks not compared"
	}
	rep.ClockOffsetSeconds = secs(offset)
	rep.OffsetPairs = nAB + nBA

	for _, pr := range pairs {
		dc := compareConn(pr, offset)
		rep.Connections = append(rep.Connections, dc)
		t := &rep.Totals
		if pr.a != nil && pr.b != nil {
			t.Matched++
		}
		t.LostAToB += len(dc.LostAToB)
		t.LostBToA += len(dc.LostBToA)
		t.UnexpectedAtA += len(dc.UnexpectedAtA)
		t.UnexpectedAtB += len(dc.UnexpectedAtB)
		t.UnansweredAtB += dc.UnansweredAtB
	}
	if len(ca.conns) == 0 || len(cb.conns) == 0 {
		return rep, errors.New("a capture holds no TCP connection")
	}
	return rep, nil
}

type connPair struct {
	a, b *dconn
	by   string
}

// matchConns pairs A's connections with B's: by the client's initial
// sequence number (and the server's when both captures have it), else by
// the 4-tuple after mapping A's addresses.
func matchConns(as, bs []*dconn, m map[Addr]Addr) []connPair {
	byISN := map[uint32][]*dconn{}
	byKey := map[flowKey][]*dconn{}
	for _, b := range bs {
		if b.haveISN[0] {
			byISN[b.clientISN] = append(byISN[b.clientISN], b)
		}
		byKey[b.key] = append(byKey[b.key], b)
	}
	used := map[*dconn]bool{}
	var out []connPair
	mapAddr := func(a Addr) Addr {
		if x, ok := m[a]; ok {
			return x
		}
		return a
	}
	for _, a := range as {
		var found *dconn
		by := ""
		if a.haveISN[0] {
			for _, b := range byISN[a.clientISN] {
				if !used[b] && (!a.haveISN[1] || !b.haveISN[1] || a.serverISN == b.serverISN) {
					found, by = b, "isn"
					break
				}
			}
		}
		if found == nil {
			k, _ := newKey(mapAddr(a.client.Addr), mapAddr(a.server.Addr), a.client.Port, a.server.Port)
			for _, b := range byKey[k] {
				if !used[b] && (!a.haveISN[0] || !b.haveISN[0]) {
					found, by = b, "address"
					break
				}
			}
		}
		if found != nil {
			used[found] = true
		}
		out = append(out, connPair{a: a, b: found, by: by})
	}
	for _, b := range bs {
		if !used[b] {
			out = append(out, connPair{b: b})
		}
	}
	return out
}

// compareConn matches the segments of one connection pair.
func compareConn(pr connPair, offset int64) DiffConn {
	ref := pr.a
	if ref == nil {
		ref = pr.b
	}
	dc := DiffConn{Client: ref.client.String(), Server: ref.server.String(), MatchedBy: pr.by,
		InA: pr.a != nil, InB: pr.b != nil,
		LostAToB: []DiffSegment{}, LostBToA: []DiffSegment{}, UnexpectedAtA: []DiffSegment{}, UnexpectedAtB: []DiffSegment{}}
	if pr.a != nil && pr.b != nil && (pr.a.client != pr.b.client || pr.a.server != pr.b.server) {
		dc.ClientAtB, dc.ServerAtB = pr.b.client.String(), pr.b.server.String()
	}
	var ab, ba latencyAcc
	if pr.a != nil && pr.b != nil {
		// For each key, in time order: a receiver's copy is the latest
		// sender's copy that left before it arrived (clocks aligned).
		const slack = int64(2e6)
		// occs[k] holds the copies of segment k in A (0) and B (1).
		occs := map[segKey]*[2][]*seg{}
		for side, c := range [2]*dconn{pr.a, pr.b} {
			for i := range c.segs {
				s := &c.segs[i]
				k := keyOf(s)
				o := occs[k]
				if o == nil {
					o = new([2][]*seg)
					occs[k] = o
				}
				o[side] = append(o[side], s)
			}
		}
		for k, o := range occs {
			send, recv := o[0], o[1] // client to server: A sends
			sendTime := func(s *seg) int64 { return s.ts }
			recvTime := func(s *seg) int64 { return s.ts - offset }
			if !k.c2s {
				send, recv = o[1], o[0]
				sendTime = func(s *seg) int64 { return s.ts - offset }
				recvTime = func(s *seg) int64 { return s.ts }
			}
			for _, r := range recv {
				var best *seg
				for _, s := range send {
					if !s.matched && sendTime(s) <= recvTime(r)+slack && (best == nil || sendTime(s) > sendTime(best)) {
						best = s
					}
				}
				if best == nil {
					continue
				}
				best.matched, r.matched = true, true
				d := recvTime(r) - sendTime(best)
				if k.c2s {
					ab.add(1, d, d, d)
				} else {
					ba.add(1, d, d, d)
				}
			}
		}
		coverResegmented(pr.a.segs, pr.b.segs)
	}
	rel := func(c *dconn, s *seg) DiffSegment {
		ds := DiffSegment{Time: fmtTime(s.ts), Flags: flagString(s.flags), Seq: s.seq, Ack: s.ack, Len: s.len}
		fwd, rev := 0, 1
		if !s.c2s {
			fwd, rev = 1, 0
		}
		if c.haveISN[fwd] {
			ds.Seq = s.seq - [2]uint32{c.clientISN, c.serverISN}[fwd]
		}
		if c.haveISN[rev] && s.flags&FlagACK != 0 {
			ds.Ack = s.ack - [2]uint32{c.clientISN, c.serverISN}[rev]
		}
		return ds
	}
	if pr.a != nil {
		for i := range pr.a.segs {
			s := &pr.a.segs[i]
			switch {
			case s.matched:
			case s.c2s:
				dc.LostAToB = append(dc.LostAToB, rel(pr.a, s))
			case pr.b != nil:
				dc.UnexpectedAtA = append(dc.UnexpectedAtA, rel(pr.a, s))
			}
		}
		dc.ResponseAtA = responses(pr.a.segs)
	}
	if pr.b != nil {
		for i := range pr.b.segs {
			s := &pr.b.segs[i]
			switch {
			case s.matched:
			case !s.c2s:
				if pr.a != nil {
					dc.LostBToA = append(dc.LostBToA, rel(pr.b, s))
				}
			default:
				if pr.a != nil {
					dc.UnexpectedAtB = append(dc.UnexpectedAtB, rel(pr.b, s))
				}
			}
		}
		dc.ResponseAtB = responses(pr.b.segs)
		dc.UnansweredAtB = unanswered(pr.b.segs)
	}
	dc.DelayAToB, dc.DelayBToA = ab.latency(), ba.latency()
	dc.Verdict = verdict(&dc)
	return dc
}

// coverResegmented marks unmatched data segments whose bytes the other
// capture has in differently cut segments (offloads, middleboxes), so they
// do not count as lost.
func coverResegmented(as, bs []seg) {
	cover := func(from, to []seg) {
		type span struct{ lo, hi uint32 }
		var spans [2][]span
		for i := range to {
			s := &to[i]
			if !s.matched && s.len > 0 {
				d := 0
				if !s.c2s {
					d = 1
				}
				spans[d] = append(spans[d], span{s.seq, s.seq + s.len})
			}
		}
		for d := range spans {
			sort.Slice(spans[d], func(i, j int) bool { return seqLT(spans[d][i].lo, spans[d][j].lo) })
		}
		for i := range from {
			s := &from[i]
			if s.matched || s.len == 0 {
				continue
			}
			d := 0
			if !s.c2s {
				d = 1
			}
			pos, end := s.seq, s.seq+s.len
			for _, sp := range spans[d] {
				if seqLE(sp.lo, pos) && seqGT(sp.hi, pos) {
					pos = sp.hi
				}
				if !seqLT(pos, end) {
					s.matched = true
					break
				}
			}
		}
	}
	cover(as, bs)
	cover(bs, as)
}

// responses times requests (client data after the server last spoke) to
// the server's first data after them, in one capture.
func responses(segs []seg) *Latency {
	var acc latencyAcc
	var start int64
	pending, seen := false, map[[2]uint32]bool{}
	for i := range segs {
		s := &segs[i]
		if s.len == 0 {
			continue
		}
		k := [2]uint32{s.seq, boolU32(s.c2s)}
		if seen[k] {
			continue // a retransmission
		}
		seen[k] = true
		switch {
		case s.c2s && !pending:
			pending, start = true, s.ts
		case !s.c2s && pending:
			pending = false
			d := s.ts - start
			acc.add(1, d, d, d)
		}
	}
	return acc.latency()
}

// unanswered counts requests in a capture that no server data followed.
func unanswered(segs []seg) int {
	pending := false
	for i := range segs {
		s := &segs[i]
		if s.len == 0 {
			continue
		}
		pending = s.c2s
	}
	if pending {
		return 1
	}
	return 0
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func flagString(f uint8) string {
	out := ""
	for _, x := range []struct {
		bit  uint8
		name string
	}{{FlagSYN, "S"}, {FlagFIN, "F"}, {FlagRST, "R"}, {FlagPSH, "P"}, {FlagACK, "."}} {
		if f&x.bit != 0 {
			out += x.name
		}
	}
	return out
}

func verdict(dc *DiffConn) string {
	switch {
	case !dc.InB:
		return "never reached B: everything A sent was lost on the way A→B (or B's capture missed it)"
	case !dc.InA:
		return "seen at B only: A's capture missed it, or it came from elsewhere"
	}
	var v []string
	if n := len(dc.LostAToB); n > 0 {
		v = append(v, fmt.Sprintf("%d segments lost A→B", n))
	}
	if n := len(dc.LostBToA); n > 0 {
		v = append(v, fmt.Sprintf("%d segments lost B→A (on the way back)", n))
	}
	if dc.UnansweredAtB > 0 {
		v = append(v, "a request reached B and B never replied")
	}
	if n := len(dc.UnexpectedAtA) + len(dc.UnexpectedAtB); n > 0 {
		v = append(v, fmt.Sprintf("%d segments seen only by their receiver (capture loss or injected)", n))
	}
	if len(v) == 0 {
		return "every segment arrived"
	}
	out := v[0]
	for _, s := range v[1:] {
		out += "; " + s
	}
	return out
}

// ParseAddrMap reads "A=B" address pairs (A's view = B's view).
func ParseAddrMap(pairs []string) (map[Addr]Addr, error) {
	m := map[Addr]Addr{}
	for _, p := range pairs {
		var a, b string
		for i := 0; i < len(p); i++ {
			if p[i] == '=' {
				a, b = p[:i], p[i+1:]
			}
		}
		x, err1 := netip.ParseAddr(a)
		y, err2 := netip.ParseAddr(b)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("address map %q: want A_ADDR=B_ADDR", p)
		}
		m[AddrFromNetip(x.Unmap())] = AddrFromNetip(y.Unmap())
	}
	return m, nil
}

// WriteText prints the report for a terminal: the clock offset, the
// totals, then every connection that lost something.
func (rep *DiffReport) WriteText(w io.Writer, maxSegs int) error {
	ew := &errWriter{w: w}
	t := rep.Totals
	ew.printf("A (client side): %d connections; B (server side): %d; matched %d\n", t.ConnectionsA, t.ConnectionsB, t.Matched)
	ew.printf("clock offset B-A: %s (%d segments seen at both ends; %s)\n", ms(rep.ClockOffsetSeconds), rep.OffsetPairs, rep.OffsetNote)
	ew.printf("lost A→B: %d segments; lost B→A: %d; requests B never answered: %d; seen only by the receiver: %d at B, %d at A\n",
		t.LostAToB, t.LostBToA, t.UnansweredAtB, t.UnexpectedAtB, t.UnexpectedAtA)
	for _, e := range rep.Errors {
		ew.printf("warning: %s\n", e)
	}
	for _, c := range rep.Connections {
		clean := c.InA && c.InB && len(c.LostAToB)+len(c.LostBToA)+len(c.UnexpectedAtA)+len(c.UnexpectedAtB)+c.UnansweredAtB == 0
		if clean {
			continue
		}
		ew.printf("\n%s -> %s", c.Client, c.Server)
		if c.ClientAtB != "" {
			ew.printf(" (at B: %s -> %s)", c.ClientAtB, c.ServerAtB)
		}
		ew.printf(": %s\n", c.Verdict)
		if c.DelayAToB != nil || c.DelayBToA != nil {
			ew.printf("  one-way delay A→B %s, B→A %s; response time at A %s, at B %s\n",
				c.DelayAToB.String(), c.DelayBToA.String(), c.ResponseAtA.String(), c.ResponseAtB.String())
		}
		for _, l := range []struct {
			what string
			segs []DiffSegment
		}{{"lost A→B", c.LostAToB}, {"lost B→A", c.LostBToA}, {"only at B", c.UnexpectedAtB}, {"only at A", c.UnexpectedAtA}} {
			for i, s := range l.segs {
				if maxSegs > 0 && i == maxSegs {
					ew.printf("  %s: ... %d more\n", l.what, len(l.segs)-maxSegs)
					break
				}
				ew.printf("  %s: %s [%s] seq %d ack %d len %d\n", l.what, s.Time, s.Flags, s.Seq, s.Ack, s.Len)
			}
		}
	}
	return ew.err
}

// WriteJSON writes the whole report.
func (rep *DiffReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
