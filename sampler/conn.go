package sampler

// conn is one tracked TCP connection. Sides are the two endpoints of its
// key: side 0 is key.a, side 1 key.b; a packet's direction is the side
// that sent it.
type conn struct {
	key        flowKey
	hash       uint64
	prev, next int32 // LRU list

	h            [2]half
	flags        uint32
	completeness uint8  // Wireshark's tcp.completeness bits
	clientSide   uint8  // the side that sent the SYN (or was guessed to)
	localSide    uint8  // the side that is this host (live capture)
	peer         int32  // peer slot, or otherPeer
	serial       uint64 // order of the connection's first packet, from 0
	live         bool   // in the table (the arena keeps freed entries)

	firstTS, lastTS int64
	firstSyn        int64 // first SYN from the client
	lastSyn         int64 // most recent SYN, for the initial RTT
	synAck          int64 // first SYN-ACK
	hsAck           int64 // the client's ACK of the SYN-ACK
	firstRTT        int64 // SYN to the ACK of the SYN-ACK, as Wireshark's initial_rtt
	reqStart        int64 // first byte of the pending request
	synCount        uint16
	synAckCount     uint16
	mss             [2]uint16 // MSS option each side advertised
	packets         [2]uint32
	retrans         [2]uint32 // segments tshark flags as retransmissions, SYNs included
	dataRetrans     [2]uint32 // retransmissions carrying data
	rsts            [2]uint16
	zeroWin         [2]uint32
	icmp            uint16
	responses       uint32
	unanswered      uint32 // requests without a reply (timeout or close)
	respSum         int64
	respMin         int64
	respMax         int64
}

// conn.flags bits.
const (
	cSawSyn         uint32 = 1 << iota
	cSawSynAck             // a SYN-ACK from the server side
	cHandshakeAcked        // the client acknowledged the SYN-ACK
	cRefused               // the SYN was answered by RST
	cSynCounted            // counted as an unanswered SYN already
	cReqPending            // a request waits for its first response byte
	cReqCounted            // the pending request was counted unanswered
	cSampled               // data packets of this connection are analysed
	cSmallMSS              // counted as a handshake with a small MSS
	cGuessedRoles          // no SYN or SYN-ACK seen: the client was guessed
	cSynCollision          // the SYN was answered by a bare ACK: the server still held the 4-tuple
	cServerFin             // the server side sent a FIN
	cAborted               // an RST ended it past the handshake (not one answering a late SYN-ACK)
	cClosed                // a FIN or RST since the client's last SYN: closing or gone, so the shorter closed timeout ends it
)

// Wireshark's tcp.completeness bits.
const (
	compSyn    uint8 = 1
	compSynAck uint8 = 2
	compAck    uint8 = 4
	compData   uint8 = 8
	compFin    uint8 = 16
	compRst    uint8 = 32
)

// Peer-relative indices of the per-peer counters.
const (
	roleClient = 0 // this host opened the connection
	roleServer = 1
	dirSent    = 0 // sent by this host
	dirRecv    = 1
)

func (c *conn) serverSide() uint8 { return 1 - c.clientSide }

// role is this host's role in the connection.
func (c *conn) role() int {
	if c.localSide == c.clientSide {
		return roleClient
	}
	return roleServer
}

// dirOf maps the side that sent a packet to sent or received.
func (c *conn) dirOf(side uint8) int {
	if side == c.localSide {
		return dirSent
	}
	return dirRecv
}

// unansweredSyn reports whether the connection is only SYNs, tshark's
// tcp.completeness == 1.
func (c *conn) unansweredSyn() bool { return c.completeness == compSyn }

// waitingForSynAnswer reports whether a SYN has had no answer yet: neither
// SYN-ACK nor RST from the other side, nor the sign of a bare ACK (see
// cSynCollision).
func (c *conn) waitingForSynAnswer() bool {
	return c.flags&cSawSyn != 0 && c.flags&(cSawSynAck|cRefused|cSynCollision) == 0
}

// awaitingReply reports whether a request still waits for its reply on a
// connection that only the client has closed (a half-close: the server
// may still answer), so that the connection is not ended before the
// response timeout settles the request.
func (c *conn) awaitingReply() bool {
	return c.completeness&compRst == 0 && c.flags&(cReqPending|cReqCounted|cServerFin) == cReqPending
}

// rstAnswersSynAck reports whether a RST from side is its kernel's answer
// to a SYN-ACK that came after the socket was gone (the client gave up):
// Linux's tcp_v4_send_reset answers a segment with ACK set by a RST whose
// seq is that segment's ack_seq and without the ACK flag, so the RST's seq
// is the sender's ISN+1 when it never sent data, while an abort of a real
// connection (tcp_send_active_reset) is RST|ACK. Only a connection whose
// handshake ACK was not seen qualifies; unsampled connections show no pure
// ACK, but their data does not show either, and the RST's seq is what the
// other end acknowledged: ISN+1 means nothing beyond the SYN.
func (c *conn) rstAnswersSynAck(side uint8, p *Packet) bool {
	sentSyn := cSawSyn
	if side == c.serverSide() {
		sentSyn = cSawSynAck
	}
	if p.Flags&FlagACK == 0 && side == c.clientSide && c.packets[side] == 1 &&
		c.flags&(cSawSyn|cSawSynAck|cHandshakeAcked) == cSawSynAck {
		// A SYN-ACK for a connection this side never opened on this
		// 4-tuple, answered by the kernel's RST: its SYN went to another
		// address (a DNAT whose replies bypass the NAT) or never existed
		// (backscatter of a spoofed SYN).
		return true
	}
	fwd := &c.h[side]
	return p.Flags&FlagACK == 0 && c.flags&cHandshakeAcked == 0 && c.flags&sentSyn != 0 &&
		fwd.isnSet && p.Seq == fwd.isn+1 && fwd.nextSeq == fwd.isn+1
}
