package sampler

import (
	"encoding/binary"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpBytes is a TCP header with the given flags and options (padded to a
// multiple of 4 with end-of-list), followed by payload bytes.
func tcpBytes(flags uint8, opts []byte, payload int) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	b := make([]byte, 20+len(opts)+payload)
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], 443)
	binary.BigEndian.PutUint32(b[4:], 0xfffffff0)
	binary.BigEndian.PutUint32(b[8:], 7)
	b[12] = byte((20+len(opts))/4) << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 64240)
	copy(b[20:], opts)
	return b
}

func TestSynMSS(t *testing.T) {
	mss := func(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }
	cat := func(parts ...[]byte) (b []byte) {
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	mptcp := []byte{30, 12, 0x00, 0x81, 1, 2, 3, 4, 5, 6, 7, 8} // MP_CAPABLE with a key
	for _, tc := range []struct {
		name  string
		flags uint8
		opts  []byte
		want  uint16
	}{
		{"no options", FlagSYN, nil, 0},
		{"MSS", FlagSYN, mss(1460), 1460},
		{"MSS of a SYN-ACK", FlagSYN | FlagACK, mss(256), 256},
		{"MSS of a segment that is no SYN", FlagACK, mss(1460), 0},
		{"after no-ops, window scale, SACK permitted and timestamps", FlagSYN,
			cat([]byte{1, 1, 3, 3, 7, 4, 2}, []byte{8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, mss(536)), 536},
		{"after an MPTCP option", FlagSYN, cat(mptcp, mss(1400)), 1400},
		{"the last of two", FlagSYN, cat(mss(1460), mss(88)), 88},
		{"a zero MSS does not count", FlagSYN, cat(mss(1460), mss(0)), 1460},
		{"MSS of the wrong length", FlagSYN, []byte{2, 3, 5, 1, 1, 1, 1, 1}, 0},
		{"after end-of-list", FlagSYN, cat([]byte{0, 1, 1, 1}, mss(1460)), 0},
		{"after an option of length 1", FlagSYN, cat([]byte{5, 1, 1, 1}, mss(1460)), 0},
		{"cut at the end of the header", FlagSYN, []byte{1, 1, 2, 4, 5, 0xb4, 1, 1, 1, 1, 2, 4}, 1460},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h tcpHeader
			if err := h.DecodeFromBytes(tcpBytes(tc.flags, tc.opts, 3), gopacket.NilDecodeFeedback); err != nil {
				t.Fatal(err)
			}
			if h.mss != tc.want {
				t.Errorf("MSS %d, want %d", h.mss, tc.want)
			}
			if h.flags != tc.flags || h.seq != 0xfffffff0 || h.ack != 7 || h.window != 64240 || len(h.payload) != 3 {
				t.Errorf("header read wrong: %+v", h)
			}
		})
	}
}

// FuzzTCPHeader holds tcpHeader to gopacket's TCP layer on the same bytes:
// an error from both or from neither, the same fields, and the same MSS as
// the last non-zero MSS option gopacket found on a SYN. gopacket stops
// reading options at an MPTCP option whose subtype has an unexpected
// length, where the kernel (and tcpHeader) walks on by the option's
// length, so the MSS is not compared after an MPTCP option.
func FuzzTCPHeader(f *testing.F) {
	f.Add(tcpBytes(FlagSYN, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7}, 0))
	f.Add(tcpBytes(FlagACK, []byte{30, 8, 0x20, 0x01, 0, 0, 0, 1}, 100)) // MPTCP DSS
	f.Add(tcpBytes(FlagSYN|FlagACK, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, 0))
	f.Add([]byte{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 2, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var ours tcpHeader
		var theirs layers.TCP
		eo := ours.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
		et := theirs.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
		if (eo == nil) != (et == nil) {
			t.Fatalf("tcpHeader error %v, gopacket's %v", eo, et)
		}
		if eo != nil {
			return
		}
		if ours.srcPort != uint16(theirs.SrcPort) || ours.dstPort != uint16(theirs.DstPort) ||
			ours.seq != theirs.Seq || ours.ack != theirs.Ack || ours.window != theirs.Window ||
			ours.flags != theirs.Contents[13] || ours.hdrLen != len(theirs.Contents) ||
			len(ours.payload) != len(theirs.Payload) {
			t.Fatalf("tcpHeader %+v, gopacket's %+v", ours, theirs)
		}
		if theirs.Multipath {
			return
		}
		var want uint16
		if theirs.SYN {
			for _, o := range theirs.Options {
				if o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2 {
					if v := binary.BigEndian.Uint16(o.OptionData); v != 0 {
						want = v
					}
				}
			}
		}
		if ours.mss != want {
			t.Fatalf("MSS %d, gopacket's options give %d", ours.mss, want)
		}
	})
}
