package sampler

// ConnRecord is a finished connection, oriented client to server. Array
// fields are indexed by sender: 0 the client, 1 the server.
type ConnRecord struct {
	// Serial numbers connections in the order their first packet came.
	Serial         uint64
	Client, Server Endpoint
	// GuessedRoles: no SYN or SYN-ACK was seen, so the client was guessed
	// from the ports.
	GuessedRoles bool
	Start, End   int64 // ns since the epoch
	// Completeness is Wireshark's tcp.completeness: 1 SYN, 2 SYN-ACK,
	// 4 ACK, 8 data, 16 FIN, 32 RST.
	Completeness  uint8
	SYNs, SYNACKs uint16
	// SynToSynAck is the first SYN to the first SYN-ACK (the client's
	// view of the handshake; tshark's tcp.analysis.ack_rtt on the
	// SYN-ACK), -1 when either is missing.
	SynToSynAck int64
	// SynAckToAck is the SYN-ACK to the client's ACK of it (the server's
	// view), -1 when either is missing.
	SynAckToAck int64
	MSS         [2]uint16
	Packets     [2]uint32
	// Retransmissions counts what tshark flags tcp.analysis.retransmission
	// (SYNs included); DataRetransmissions only segments with payload.
	Retransmissions     [2]uint32
	DataRetransmissions [2]uint32
	Resets              [2]uint16
	ZeroWindows         [2]uint32
	ICMPErrors          uint16
	Refused             bool
	// Aborted: an RST ended the connection past its handshake (Resets
	// also counts RSTs that answer a SYN-ACK after its client gave up).
	Aborted bool
	// SYNCollision: the SYN was answered by a bare ACK (or the client's RST
	// to one): the server still held a connection on the same ports.
	SYNCollision bool
	Sampled      bool
	// Responses: requests (client data after the server last spoke)
	// answered by a first server byte, and the delays between the two.
	Responses                             uint32
	ResponseMin, ResponseMax, ResponseSum int64
	// Unanswered requests: no reply within the response timeout, or the
	// connection closed first.
	Unanswered uint32
}

// Handshake reports whether both the SYN and the SYN-ACK were seen.
func (r *ConnRecord) Handshake() bool {
	return r.Completeness&(compSyn|compSynAck) == compSyn|compSynAck
}

// UnansweredSYN reports whether only SYNs were seen (tshark's
// tcp.completeness == 1).
func (r *ConnRecord) UnansweredSYN() bool { return r.Completeness == compSyn }

// record turns a conn into its client-oriented record.
func (c *conn) record() ConnRecord {
	cs, ss := c.clientSide, c.serverSide()
	r := ConnRecord{
		Serial:       c.serial,
		Client:       c.key.endpoint(cs),
		Server:       c.key.endpoint(ss),
		GuessedRoles: c.flags&cGuessedRoles != 0,
		Start:        c.firstTS,
		End:          c.lastTS,
		Completeness: c.completeness,
		SYNs:         c.synCount,
		SYNACKs:      c.synAckCount,
		SynToSynAck:  -1,
		SynAckToAck:  -1,
		ICMPErrors:   c.icmp,
		Refused:      c.flags&cRefused != 0,
		Aborted:      c.flags&cAborted != 0,
		SYNCollision: c.flags&cSynCollision != 0,
		Sampled:      c.flags&cSampled != 0,
		Responses:    c.responses,
		ResponseMin:  c.respMin,
		ResponseMax:  c.respMax,
		ResponseSum:  c.respSum,
		Unanswered:   c.unanswered,
	}
	if c.flags&(cSawSyn|cSawSynAck) == cSawSyn|cSawSynAck {
		r.SynToSynAck = c.synAck - c.firstSyn
	}
	if c.flags&cHandshakeAcked != 0 {
		r.SynAckToAck = c.hsAck - c.synAck
	}
	for i, s := range [2]uint8{cs, ss} {
		r.MSS[i] = c.mss[s]
		r.Packets[i] = c.packets[s]
		r.Retransmissions[i] = c.retrans[s]
		r.DataRetransmissions[i] = c.dataRetrans[s]
		r.Resets[i] = c.rsts[s]
		r.ZeroWindows[i] = c.zeroWin[s]
	}
	return r
}
