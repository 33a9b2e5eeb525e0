package sampler

import (
	"time"
)

// PeerStats are the counters of one peer, as seen from this host. Indices
// are by role (client: this host opened the connection; server) or by
// direction (sent by this host; received), as each field says.
type PeerStats struct {
	Packets        [2]uint64 // by direction
	Connections    [2]uint64 // by role
	Sampled        [2]uint64 // connections whose data packets are analysed, by role
	Handshake      [2]Histogram
	Response       [2]Histogram
	SynUnanswered  [2]uint64 // by role
	SYNCollisions  [2]uint64 // SYNs answered by a bare ACK (the server still held the 4-tuple) or the client's RST to one, by role
	SynRetransmits [2]uint64 // by role
	Refused        [2]uint64 // by role
	Resets         [2]uint64 // RST segments on connections past the SYN (not a RST answering a late SYN-ACK), by direction
	Retransmits    [2]uint64 // data retransmissions, by direction
	ZeroWindows    [2]uint64 // zero-window advertisements, by direction
	Unanswered     [2]uint64 // requests without a reply, by role
	ICMP           [numICMPKinds]uint64
	SmallMSS       uint64 // handshakes whose smaller MSS was below 536
}

// SmallMSSThreshold is the MSS below which a handshake is counted as small:
// 536 is the IPv4 default MSS (RFC 879), so anything below comes from an
// MTU under 576, far below any sane path.
const SmallMSSThreshold = 536

// PeerSnapshot is one peer's label and counters at one moment.
type PeerSnapshot struct {
	Label string
	Stats PeerStats
	// MinMSS is the smallest MSS seen in the peer's handshakes over the
	// last 5 to 10 minutes, 0 if none.
	MinMSS uint16
}

// OtherPeer labels everything beyond the top K peers.
const OtherPeer = "other"

const (
	otherPeer = int32(-1)
	// peerIdle frees a peer's slot once it has had no connection and no
	// packet for this long, so that a new peer can take it.
	peerIdle = 5 * time.Minute
	// mssEpoch is the length of each of the two windows MinMSS spans.
	mssEpoch = 5 * time.Minute
	// candidateReset is how often the list of peers waiting for a slot is
	// forgotten.
	candidateReset = time.Minute
)

type peerKey struct {
	addr  Addr
	group int32 // peer-map entry, or -1 for a plain address
}

type peerSlot struct {
	key        peerKey
	label      string
	used       bool
	refs       int32 // live connections attributed to the slot
	lastActive int64
	stats      PeerStats
	mss        mssWindow
}

// mssWindow keeps the minimum MSS of the current and previous epoch.
type mssWindow struct {
	cur, prev  uint16
	epochStart int64
}

func (w *mssWindow) note(v uint16, now int64) {
	w.rotate(now)
	if v != 0 && (w.cur == 0 || v < w.cur) {
		w.cur = v
	}
}

func (w *mssWindow) rotate(now int64) {
	switch d := now - w.epochStart; {
	case d >= 2*int64(mssEpoch):
		w.cur, w.prev, w.epochStart = 0, 0, now
	case d >= int64(mssEpoch):
		w.prev, w.cur, w.epochStart = w.cur, 0, now
	}
}

func (w *mssWindow) min(now int64) uint16 {
	w.rotate(now)
	switch {
	case w.cur == 0:
		return w.prev
	case w.prev == 0 || w.cur < w.prev:
		return w.cur
	}
	return w.prev
}

// PeerTable aggregates per-peer counters for at most Max peers; the rest
// share the "other" entry, so the peer label stays bounded at Max+1 values.
//
// A peer gets its own slot the first time it is seen while fewer than half
// the slots are taken; past that it needs a second connection within a
// minute, so a flood from random source addresses cannot take every slot.
// A slot is freed when its peer has been idle for 5 minutes. Counts made
// while a peer had no slot stay in "other": every series only grows.
type PeerTable struct {
	max        int
	peerMap    *PeerMap
	index      map[peerKey]int32
	slots      []peerSlot
	free       []int32
	other      peerSlot
	candidates map[peerKey]uint8
	lastReset  int64
}

// NewPeerTable returns a table of at most max peers (at least 1) named
// through pm (nil: every address is its own peer).
func NewPeerTable(max int, pm *PeerMap) *PeerTable {
	if max < 1 {
		max = 1
	}
	pt := &PeerTable{
		max:        max,
		peerMap:    pm,
		index:      make(map[peerKey]int32, max),
		slots:      make([]peerSlot, max),
		free:       make([]int32, max),
		candidates: make(map[peerKey]uint8, 4*max),
		other:      peerSlot{label: OtherPeer, used: true},
	}
	for i := range pt.free {
		pt.free[i] = int32(max - 1 - i)
	}
	return pt
}

// resolve returns the slot of the peer at addr, taking a free slot if the
// peer qualifies, or otherPeer.
func (pt *PeerTable) resolve(addr Addr, now int64) int32 {
	k := pt.peerMap.key(addr)
	if idx, ok := pt.index[k]; ok {
		return idx
	}
	if len(pt.free) == 0 {
		return otherPeer
	}
	if pt.max-len(pt.free) >= (pt.max+1)/2 {
		n := pt.candidates[k]
		if n == 0 {
			if len(pt.candidates) < 4*pt.max {
				pt.candidates[k] = 1
			}
			return otherPeer
		}
		delete(pt.candidates, k)
	}
	idx := pt.free[len(pt.free)-1]
	pt.free = pt.free[:len(pt.free)-1]
	pt.slots[idx] = peerSlot{key: k, label: pt.peerMap.label(k), used: true, lastActive: now}
	pt.index[k] = idx
	return idx
}

func (pt *PeerTable) slot(idx int32) *peerSlot {
	if idx < 0 {
		return &pt.other
	}
	return &pt.slots[idx]
}

func (pt *PeerTable) stats(idx int32) *PeerStats { return &pt.slot(idx).stats }

// tick frees idle slots and forgets stale candidates.
func (pt *PeerTable) tick(now int64) {
	if now-pt.lastReset >= int64(candidateReset) {
		clear(pt.candidates)
		pt.lastReset = now
	}
	for i := range pt.slots {
		s := &pt.slots[i]
		if s.used && s.refs <= 0 && now-s.lastActive >= int64(peerIdle) {
			delete(pt.index, s.key)
			*s = peerSlot{}
			pt.free = append(pt.free, int32(i))
		}
	}
}

// Snapshot copies every peer with a slot, then "other".
func (pt *PeerTable) Snapshot(now int64) []PeerSnapshot {
	out := make([]PeerSnapshot, 0, pt.max-len(pt.free)+1)
	for i := range pt.slots {
		s := &pt.slots[i]
		if s.used {
			out = append(out, PeerSnapshot{Label: s.label, Stats: s.stats, MinMSS: s.mss.min(now)})
		}
	}
	return append(out, PeerSnapshot{Label: OtherPeer, Stats: pt.other.stats, MinMSS: pt.other.mss.min(now)})
}

// Len is the number of peers with a slot.
func (pt *PeerTable) Len() int { return pt.max - len(pt.free) }
