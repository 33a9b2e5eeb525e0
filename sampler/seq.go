package sampler

// Sequence analysis after Wireshark's tcp_analyze_sequence_number (the
// tcp.analysis.* fields), so that retransmission counts can be checked
// against tshark on the same capture. Like Wireshark it works on raw
// sequence numbers and treats 0 as "not known yet".

// Analysis flags of one segment.
const (
	aRetrans uint16 = 1 << iota
	aFastRetrans
	aSpurious
	aOutOfOrder
	aKeepAlive
	aKeepAliveAck
	aZeroWindow
	aZeroWindowProbe
	aZeroWindowProbeAck
	aDupAck
)

// anyRetrans is what tshark's tcp.analysis.retransmission matches.
const anyRetrans = aRetrans | aFastRetrans | aSpurious

// half is the sequence state of one direction of a connection.
type half struct {
	nextSeq         uint32 // highest seq+len seen; 0 while unknown
	nextSeqTime     int64
	maxSeqToBeAcked uint32
	lastAck         uint32
	lastAckTime     int64
	window          int32 // last raw window; -1 before the first segment
	dupAcks         int32
	lastFlags       uint16 // analysis flags of this direction's last segment
	isn             uint32 // base sequence number (ISN, or seq-1 mid-stream)
	isnSet          bool
}

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }
func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

// analyzeSeq classifies one segment sent in direction fwd; rev is the
// other direction and firstRTT the connection's initial RTT (0 if not
// known), which bounds how late a segment may be and still count as out of
// order rather than retransmitted.
func analyzeSeq(fwd, rev *half, p *Packet, firstRTT int64) uint16 {
	var ta uint16
	seq, ack, seglen, flags := p.Seq, p.Ack, p.SegLen, p.Flags
	window := int32(p.Window)
	const synFinRst = FlagSYN | FlagFIN | FlagRST

	if !fwd.isnSet {
		if flags&FlagSYN != 0 {
			fwd.isn = seq
		} else {
			fwd.isn = seq - 1
		}
		fwd.isnSet = true
	}
	if !rev.isnSet && flags&FlagACK != 0 {
		rev.isn = ack - 1
		rev.isnSet = true
	}

	if seglen == 1 && seq == fwd.nextSeq && rev.window == 0 {
		ta |= aZeroWindowProbe
		goto finishedFwd
	}
	if window == 0 && flags&synFinRst == 0 {
		ta |= aZeroWindow
	}
	if seglen <= 1 && seq == fwd.nextSeq-1 && flags&synFinRst == 0 {
		ta |= aKeepAlive
	}
	if seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextSeq &&
		ack == fwd.lastAck && rev.lastFlags&aKeepAlive != 0 && flags&synFinRst == 0 {
		ta |= aKeepAliveAck
		goto finishedFwd
	}
	if seglen == 0 && window == 0 && window == fwd.window && seq == fwd.nextSeq &&
		ack == fwd.lastAck && rev.lastFlags&aZeroWindowProbe != 0 && flags&synFinRst == 0 {
		ta |= aZeroWindowProbeAck
		goto finishedFwd
	}
	if seglen == 0 && window != 0 && window == fwd.window && seq == fwd.nextSeq &&
		ack == fwd.lastAck && flags&synFinRst == 0 {
		if fwd.dupAcks == -1 {
			fwd.dupAcks = 1
		} else {
			fwd.dupAcks++
		}
		ta |= aDupAck
	}

finishedFwd:
	if ack != fwd.lastAck {
		fwd.dupAcks = 0
	}
	// An ACK beyond what the other direction has sent: segments in that
	// direction were not captured.
	if rev.maxSeqToBeAcked != 0 && seqGT(ack, rev.maxSeqToBeAcked) && flags&FlagACK != 0 {
		if rev.maxSeqToBeAcked > rev.nextSeq {
			rev.maxSeqToBeAcked = rev.nextSeq
		} else {
			rev.dupAcks = -1
		}
	}

	if seglen > 0 || flags&(FlagSYN|FlagFIN) != 0 {
		ta |= classifyResend(fwd, rev, p, ta, firstRTT)
	}

	{
		nextSeq := seq + seglen
		if flags&(FlagSYN|FlagFIN) != 0 {
			nextSeq++
		}
		if (seqGT(nextSeq, fwd.nextSeq) || fwd.nextSeq == 0) && ta&aZeroWindowProbe == 0 {
			fwd.nextSeq = nextSeq
			fwd.nextSeqTime = p.TS
		}
	}
	if (seq == fwd.maxSeqToBeAcked || fwd.maxSeqToBeAcked == 0) && ta&aZeroWindowProbe == 0 {
		fwd.maxSeqToBeAcked = fwd.nextSeq
	}
	fwd.window = window
	fwd.lastAck = ack
	fwd.lastAckTime = p.TS
	fwd.lastFlags = ta
	return ta
}

// classifyResend tells a segment that does not advance the sequence number
// apart: spurious, fast or plain retransmission, or out of order.
func classifyResend(fwd, rev *half, p *Packet, ta uint16, firstRTT int64) uint16 {
	if ta&aKeepAlive != 0 {
		return 0
	}
	seq, seglen, flags := p.Seq, p.SegLen, p.Flags
	notAdvanced := fwd.nextSeq != 0 && seqLT(seq, fwd.nextSeq)
	// More than one byte starting one before nextseq adds new data (the
	// previous segment was probably a zero-window probe).
	if seglen > 1 && fwd.nextSeq-1 == seq {
		notAdvanced = false
	}
	if seglen > 0 && rev.lastAck != 0 && seqLE(seq+seglen, rev.lastAck) {
		return aSpurious
	}
	if notAdvanced && rev.dupAcks >= 2 && rev.lastAck == seq && uint64(p.TS-rev.lastAckTime) < 20e6 {
		return aFastRetrans
	}
	thres := firstRTT
	if thres == 0 {
		thres = 3e6
	}
	end := seq + seglen
	if flags&(FlagSYN|FlagFIN) != 0 {
		end++
	}
	// Unsigned like Wireshark's: a clock going backwards gives a huge gap.
	if notAdvanced && uint64(p.TS-fwd.nextSeqTime) < uint64(thres) && fwd.nextSeq != end {
		return aOutOfOrder
	}
	if notAdvanced {
		return aRetrans
	}
	return 0
}
