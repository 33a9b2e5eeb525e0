package sampler

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Kind says what a decoded packet is to the sampler.
type Kind uint8

const (
	// KindOther is anything the sampler ignores (UDP, ARP, fragments...).
	KindOther Kind = iota
	// KindTCP is a TCP segment.
	KindTCP
	// KindICMPError is an ICMP or ICMPv6 error about an earlier packet.
	KindICMPError
)

// TCP flag bits as they sit in the header's 14th byte.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// Packet is what the sampler keeps of one packet: addresses, ports and TCP
// header fields. It holds no payload, only payload lengths.
type Packet struct {
	TS               int64 // capture time, ns since the Unix epoch
	Kind             Kind
	Src, Dst         Addr
	SrcPort, DstPort uint16

	// TCP.
	Flags  uint8
	Seq    uint32
	Ack    uint32
	Window uint16
	// SegLen is the TCP payload length from the IP header's length, so a
	// packet cut by the snap length still counts its full length.
	SegLen uint32
	// MSS is the MSS option of a SYN or SYN-ACK, 0 when absent.
	MSS uint16

	// ICMP errors: Src, Dst and the ports are those of the packet the
	// error is about (the embedded header); ICMPFrom sent the error.
	ICMP     ICMPKind
	ICMPFrom Addr
	// InnerProto is the embedded packet's IP protocol (6 for TCP).
	InnerProto uint8
	// MTU is the next-hop MTU of a fragmentation-needed or packet-too-big
	// error, 0 otherwise.
	MTU uint32
}

// Decoder turns captured bytes into a Packet with gopacket's layers,
// preallocated and decoded in place, so that a steady stream of packets
// allocates nothing: TCP right after the IP header directly (decodeIPTCP),
// everything else through a DecodingLayerParser.
type Decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	loop  layers.Loopback
	ip4   layers.IPv4
	ip6   layers.IPv6
	ext   layers.IPv6ExtensionSkipper
	frag6 layers.IPv6Fragment
	tcp   tcpHeader
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6

	parsers map[layers.LinkType]*gopacket.DecodingLayerParser
	// The link type rarely changes within a capture: remember the last.
	lastLT     layers.LinkType
	lastParser *gopacket.DecodingLayerParser
	ip4p       *gopacket.DecodingLayerParser
	ip6p       *gopacket.DecodingLayerParser
	decoded    []gopacket.LayerType
}

// Link types a capture file may declare that carry raw IP.
const (
	linkTypeIPv4 layers.LinkType = 228
	linkTypeIPv6 layers.LinkType = 229
)

// NewDecoder returns a decoder for every link type the sampler reads.
func NewDecoder() *Decoder {
	d := &Decoder{decoded: make([]gopacket.LayerType, 0, 16)}
	newParser := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		// A sparse container finds the decoder of a layer type by index
		// rather than through a map.
		var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.loop,
			&d.ip4, &d.ip6, &d.ext, &d.frag6, &d.tcp, &d.icmp4, &d.icmp6} {
			dlc = dlc.Put(l)
		}
		p.SetDecodingLayerContainer(dlc)
		// The layer after TCP (HTTP, TLS...) is of no interest: stop there
		// without an error.
		p.IgnoreUnsupported = true
		return p
	}
	d.ip4p = newParser(layers.LayerTypeIPv4)
	d.ip6p = newParser(layers.LayerTypeIPv6)
	d.parsers = map[layers.LinkType]*gopacket.DecodingLayerParser{
		layers.LinkTypeEthernet: newParser(layers.LayerTypeEthernet),
		layers.LinkTypeLinuxSLL: newParser(layers.LayerTypeLinuxSLL),
		layers.LinkTypeNull:     newParser(layers.LayerTypeLoopback),
		layers.LinkTypeLoop:     newParser(layers.LayerTypeLoopback),
		276:                     newParser(layers.LayerTypeLinuxSLL2), // LINKTYPE_LINUX_SLL2
	}
	return d
}

// ErrLinkType is returned for a link type the decoder cannot read.
var ErrLinkType = errors.New("unsupported link type")

// SupportsLinkType reports whether Decode can read frames of lt.
func (d *Decoder) SupportsLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeRaw, linkTypeIPv4, linkTypeIPv6, 12: // 12: LINKTYPE_RAW on OpenBSD
		return true
	}
	return d.parsers[lt] != nil
}

// Decode decodes a frame of link type lt. A packet that is neither TCP nor
// an ICMP error gives KindOther and no error; a TCP or IP header that is
// cut short or malformed gives an error.
func (d *Decoder) Decode(data []byte, lt layers.LinkType, p *Packet) error {
	var parser *gopacket.DecodingLayerParser
	switch lt {
	case layers.LinkTypeRaw, linkTypeIPv4, linkTypeIPv6, 12:
		return d.DecodeIP(data, p)
	case layers.LinkTypeEthernet:
		// Untagged IP over Ethernet, nearly every packet, starts the IP
		// parser past the 14-byte header: one layer fewer to dispatch.
		if len(data) >= 15 {
			switch uint16(data[12])<<8 | uint16(data[13]) {
			case 0x0800:
				return d.decodeIPTCP(data[14:], false, p)
			case 0x86dd:
				return d.decodeIPTCP(data[14:], true, p)
			}
		}
		fallthrough
	default:
		if lt == d.lastLT && d.lastParser != nil {
			parser = d.lastParser
		} else if parser = d.parsers[lt]; parser == nil {
			return ErrLinkType
		}
		d.lastLT, d.lastParser = lt, parser
	}
	return d.decode(parser, data, p)
}

// DecodeIP decodes a packet that starts at its IP header, as a SOCK_DGRAM
// packet socket delivers it.
func (d *Decoder) DecodeIP(data []byte, p *Packet) error {
	if len(data) == 0 {
		return errEmpty
	}
	switch data[0] >> 4 {
	case 4:
		return d.decodeIPTCP(data, false, p)
	case 6:
		return d.decodeIPTCP(data, true, p)
	}
	p.Kind = KindOther
	return nil
}

// decodeIPTCP is the path nearly every packet takes, TCP right after the
// IP header. It calls the layers the parser would, in its order and with
// its checks, without the parser's dispatch per layer (a container lookup,
// a class check and an indirect call), which costs as much as decoding both
// headers. Any other payload, fragments and IPv6 extension headers
// included, goes through the parser.
func (d *Decoder) decodeIPTCP(data []byte, ipv6 bool, p *Packet) (err error) {
	// The parser turns a panic in a layer decoder into an error; so does
	// this path, so that malformed input behaves the same on both.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding IP/TCP: %v", r)
		}
	}()
	p.Kind = KindOther
	var payload []byte
	parser := d.ip4p
	if ipv6 {
		parser = d.ip6p
		if err := d.ip6.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return err
		}
		payload = d.ip6.Payload
	} else {
		if err := d.ip4.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return err
		}
		payload = d.ip4.Payload
	}
	if len(payload) == 0 {
		return nil // the parser stops without an error where the data ends
	}
	if !d.nextIsTCP(ipv6) {
		return d.decode(parser, data, p)
	}
	if err := d.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
		return err
	}
	return d.fillTCP(ipv6, p)
}

var errEmpty = errors.New("empty packet")

func (d *Decoder) decode(parser *gopacket.DecodingLayerParser, data []byte, p *Packet) error {
	p.Kind = KindOther
	err := parser.DecodeLayers(data, &d.decoded)
	var ipv6, haveIP bool
	var last gopacket.LayerType
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if haveIP {
				return nil // IP in IP: not a flow of this host
			}
			haveIP = true
		case layers.LayerTypeIPv6:
			if haveIP {
				return nil
			}
			haveIP, ipv6 = true, true
		}
		last = t
	}
	if !haveIP {
		if err != nil {
			return err
		}
		return nil
	}
	switch last {
	case layers.LayerTypeTCP:
		return d.fillTCP(ipv6, p)
	case layers.LayerTypeICMPv4:
		if err == nil {
			return d.fillICMP4(p)
		}
	case layers.LayerTypeICMPv6:
		if err == nil {
			return d.fillICMP6(p)
		}
	}
	if err != nil && (last == layers.LayerTypeIPv4 || last == layers.LayerTypeIPv6 ||
		last == layers.LayerTypeIPv6Fragment) && d.nextIsTCP(ipv6) {
		// The IP header decoded but the TCP header did not.
		return err
	}
	return nil
}

// nextIsTCP reports whether the IP layer names TCP as its payload, read
// from the header fields (protocol, fragment bits, the hop-by-hop header's
// next header) as gopacket's NextLayerType does, without its table of
// protocols.
func (d *Decoder) nextIsTCP(ipv6 bool) bool {
	if ipv6 {
		next := d.ip6.NextHeader
		if d.ip6.HopByHop != nil {
			next = d.ip6.HopByHop.NextHeader
		}
		return next == layers.IPProtocolTCP
	}
	fragment := d.ip4.Flags&layers.IPv4MoreFragments != 0 || d.ip4.FragOffset != 0
	return d.ip4.Protocol == layers.IPProtocolTCP && !fragment
}

func (d *Decoder) fillTCP(ipv6 bool, p *Packet) error {
	t := &d.tcp
	hdr := t.hdrLen
	var seg int
	if ipv6 {
		p.Src, p.Dst = AddrFrom16(d.ip6.SrcIP), AddrFrom16(d.ip6.DstIP)
		// The IPv6 payload length covers extension headers too: subtract
		// the bytes between the IPv6 header and the TCP header.
		ext := len(d.ip6.Payload) - (hdr + len(t.payload))
		if d.ip6.HopByHop != nil {
			// gopacket strips the hop-by-hop header from the IPv6 payload.
			ext += d.ip6.HopByHop.ActualLength
		}
		if d.ip6.Length == 0 { // jumbogram: trust what was captured
			seg = len(t.payload)
		} else {
			seg = int(d.ip6.Length) - ext - hdr
		}
	} else {
		putAddr4(&p.Src, d.ip4.SrcIP)
		putAddr4(&p.Dst, d.ip4.DstIP)
		seg = int(d.ip4.Length) - int(d.ip4.IHL)*4 - hdr
	}
	if seg < 0 {
		return fmt.Errorf("TCP header (%d bytes) longer than the IP packet", hdr)
	}
	p.Kind = KindTCP
	p.SrcPort, p.DstPort = t.srcPort, t.dstPort
	p.Seq, p.Ack, p.Window = t.seq, t.ack, t.window
	p.Flags = t.flags
	p.SegLen = uint32(seg)
	p.MSS = t.mss
	return nil
}

func (d *Decoder) fillICMP4(p *Packet) error {
	typ, code := d.icmp4.TypeCode.Type(), d.icmp4.TypeCode.Code()
	if typ != layers.ICMPv4TypeDestinationUnreachable {
		return nil
	}
	p.ICMP = icmp4Kind(code)
	p.MTU = 0
	if p.ICMP == ICMPFragNeeded {
		p.MTU = uint32(d.icmp4.Seq) // next-hop MTU sits where echo's sequence does
	}
	p.ICMPFrom = AddrFrom4(d.ip4.SrcIP)
	if err := parseEmbedded(d.icmp4.Payload, p); err != nil {
		return err
	}
	p.Kind = KindICMPError
	return nil
}

func (d *Decoder) fillICMP6(p *Packet) error {
	typ, code := d.icmp6.TypeCode.Type(), d.icmp6.TypeCode.Code()
	body := d.icmp6.Payload // starts with the 4 bytes after type, code, checksum
	if len(body) < 4 {
		return errors.New("ICMPv6 error shorter than its header")
	}
	switch typ {
	case layers.ICMPv6TypeDestinationUnreachable:
		p.ICMP = icmp6Kind(code)
		p.MTU = 0
	case layers.ICMPv6TypePacketTooBig:
		p.ICMP = ICMPFragNeeded
		p.MTU = binary.BigEndian.Uint32(body[:4])
	default:
		return nil
	}
	p.ICMPFrom = AddrFrom16(d.ip6.SrcIP)
	if err := parseEmbedded(body[4:], p); err != nil {
		return err
	}
	p.Kind = KindICMPError
	return nil
}
