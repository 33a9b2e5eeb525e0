package sampler

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpHeader is the sampler's TCP layer, a gopacket DecodingLayer in place of
// gopacket's own. That one decodes every option into a struct and allocates
// one more for each MPTCP option, which every MPTCP data segment carries;
// of the options the sampler needs only a SYN's MSS. tcpHeader reads the
// fixed header in place and walks the options of SYNs only. It is also the
// last layer decoded: what follows the header is payload, which the sampler
// never looks at, so there is no decoder to look up for it by port.
type tcpHeader struct {
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint8
	window           uint16
	mss              uint16 // a SYN's MSS option; 0 when absent, or not a SYN
	hdrLen           int    // header length, options included
	payload          []byte // the captured bytes after the header
}

func (t *tcpHeader) CanDecode() gopacket.LayerClass    { return layers.LayerTypeTCP }
func (t *tcpHeader) NextLayerType() gopacket.LayerType { return gopacket.LayerTypePayload }
func (t *tcpHeader) LayerPayload() []byte              { return t.payload }

// DecodeFromBytes fails where gopacket's TCP layer does: a header shorter
// than 20 bytes, or a data offset below 5 words or past the captured bytes.
func (t *tcpHeader) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return fmt.Errorf("TCP header of %d bytes, less than 20", len(data))
	}
	off := int(data[12]>>4) * 4
	if off < 20 {
		return fmt.Errorf("TCP data offset %d words, less than 5", off/4)
	}
	if off > len(data) {
		df.SetTruncated()
		return errTCPOffset
	}
	be := binary.BigEndian
	t.srcPort, t.dstPort = be.Uint16(data[0:]), be.Uint16(data[2:])
	t.seq, t.ack = be.Uint32(data[4:]), be.Uint32(data[8:])
	t.flags = data[13]
	t.window = be.Uint16(data[14:])
	t.hdrLen = off
	t.payload = data[off:]
	t.mss = 0
	if t.flags&FlagSYN != 0 {
		t.mss = synMSS(data[20:off])
	}
	return nil
}

var errTCPOffset = errors.New("TCP data offset past the end of the packet")

// synMSS finds the MSS in a SYN's options the way the receiving Linux
// kernel does (tcp_parse_options): the walk ends at end-of-list or at an
// option whose length is under 2 or runs past the header, and the last MSS
// option of length 4 and non-zero value counts.
func synMSS(opts []byte) uint16 {
	var mss uint16
	for len(opts) > 0 {
		switch kind := opts[0]; kind {
		case 0: // end of list
			return mss
		case 1: // no-operation
			opts = opts[1:]
		default:
			if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
				return mss
			}
			if kind == 2 && opts[1] == 4 {
				if v := binary.BigEndian.Uint16(opts[2:]); v != 0 {
					mss = v
				}
			}
			opts = opts[opts[1]:]
		}
	}
	return mss
}
