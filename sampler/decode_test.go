package sampler

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	v4a, v4b = net.IP{10, 99, 0, 1}, net.IP{10, 99, 0, 2}
	v6a, v6b = net.ParseIP("fd00::1"), net.ParseIP("fd00::2")
	ethV4    = &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ethV6    = &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv6}
)

func tcpLayer(flags uint8) *layers.TCP {
	return &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1000, Ack: 2000, Window: 512,
		SYN: flags&FlagSYN != 0, ACK: flags&FlagACK != 0, RST: flags&FlagRST != 0, FIN: flags&FlagFIN != 0}
}

// TestDecode also holds every frame it decodes to no allocation per packet.
func TestDecode(t *testing.T) {
	synMSS := tcpLayer(FlagSYN)
	synMSS.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindNop, OptionLength: 1},
		{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x01, 0x00}}}

	full := serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b},
		tcpLayer(FlagACK|FlagPSH), gopacket.Payload(make([]byte, 1000)))

	// An ICMP fragmentation-needed error quoting a TCP packet, as a router
	// sends it: the original IP header and 8 bytes of TCP.
	quoted := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b, Flags: layers.IPv4DontFragment},
		tcpLayer(FlagACK), gopacket.Payload(make([]byte, 1400)))[:28]
	icmpFrag := serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{10, 99, 0, 254}, DstIP: v4a},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4), Seq: 1280}, gopacket.Payload(quoted))

	quoted6 := serialize(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: v6a, DstIP: v6b},
		tcpLayer(FlagACK), gopacket.Payload(make([]byte, 1400)))[:48]
	ptb := make([]byte, 4+len(quoted6))
	binary.BigEndian.PutUint32(ptb, 1280)
	copy(ptb[4:], quoted6)
	icmpPTB := serialize(t, ethV6, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("fd00::fe"), DstIP: v6a},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(2, 0)}, gopacket.Payload(ptb))

	unreach6 := make([]byte, 4+len(quoted6))
	copy(unreach6[4:], quoted6)
	icmpProhib6 := serialize(t, ethV6, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("fd00::fe"), DstIP: v6a},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 1)}, gopacket.Payload(unreach6))

	hbh := &layers.IPv6HopByHop{}
	hbh.NextHeader = layers.IPProtocolIPv6Destination
	hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	dst := &layers.IPv6Destination{}
	dst.NextHeader = layers.IPProtocolTCP
	dst.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: make([]byte, 4)}}
	v6ext := serialize(t, ethV6, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop, SrcIP: v6a, DstIP: v6b, HopByHop: hbh},
		dst, tcpLayer(FlagACK), gopacket.Payload(make([]byte, 300)))

	dss := tcpLayer(FlagACK)
	dss.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMultipathTCP, OptionLength: 8,
		OptionData: []byte{0x20, 0x01, 0, 0, 0, 1}}}

	frag6 := serialize(t, ethV6, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6Fragment, SrcIP: v6a, DstIP: v6b},
		&layers.IPv6Fragment{NextHeader: layers.IPProtocolTCP, FragmentOffset: 100, Identification: 7}, gopacket.Payload(make([]byte, 64)))

	tests := []struct {
		name    string
		lt      layers.LinkType
		data    []byte
		kind    Kind
		wantErr bool
		check   func(t *testing.T, p *Packet)
		// allocates: gopacket's IPv6 layer allocates for hop-by-hop
		// options, which TCP traffic rarely carries.
		allocates bool
	}{
		{name: "syn with mss", lt: layers.LinkTypeEthernet, kind: KindTCP,
			data: serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b}, synMSS),
			check: func(t *testing.T, p *Packet) {
				if p.MSS != 256 || p.Flags != FlagSYN || p.SegLen != 0 || p.SrcPort != 40000 || p.DstPort != 80 || p.Src != AddrFrom4(v4a) {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "snaplen cut keeps the real segment length", lt: layers.LinkTypeEthernet, kind: KindTCP, data: full[:96],
			check: func(t *testing.T, p *Packet) {
				if p.SegLen != 1000 || p.Seq != 1000 || p.Ack != 2000 || p.Window != 512 {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "vlan tagged", lt: layers.LinkTypeEthernet, kind: KindTCP,
			data: serialize(t, &layers.Ethernet{SrcMAC: ethV4.SrcMAC, DstMAC: ethV4.DstMAC, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b}, tcpLayer(FlagRST)),
			check: func(t *testing.T, p *Packet) {
				if p.Flags != FlagRST {
					t.Errorf("flags %#x", p.Flags)
				}
			}},
		{name: "qinq", lt: layers.LinkTypeEthernet, kind: KindTCP,
			data: serialize(t, &layers.Ethernet{SrcMAC: ethV4.SrcMAC, DstMAC: ethV4.DstMAC, EthernetType: layers.EthernetTypeDot1Q},
				&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 8, Type: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b}, tcpLayer(FlagFIN|FlagACK))},
		{name: "ipv6 extension headers", lt: layers.LinkTypeEthernet, kind: KindTCP, data: v6ext, allocates: true,
			check: func(t *testing.T, p *Packet) {
				if p.SegLen != 300 || p.Src != AddrFrom16(v6a) || p.Src.Is4() {
					t.Errorf("got seglen %d src %v", p.SegLen, p.Src)
				}
			}},
		{name: "ipv6", lt: layers.LinkTypeEthernet, kind: KindTCP,
			data: pkt{src: "[fd00::1]:40000", dst: "[fd00::2]:443", flags: FlagACK | FlagPSH, payload: 100}.frame(t),
			check: func(t *testing.T, p *Packet) {
				if p.SegLen != 100 || p.Src != AddrFrom16(v6a) || p.DstPort != 443 {
					t.Errorf("got %+v", p)
				}
			}},
		// Every MPTCP data segment carries a DSS option, for which
		// gopacket's own TCP layer allocates.
		{name: "mptcp data segment", lt: layers.LinkTypeEthernet, kind: KindTCP,
			data: serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b},
				dss, gopacket.Payload(make([]byte, 100))),
			check: func(t *testing.T, p *Packet) {
				if p.SegLen != 100 || p.Flags != FlagACK {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "ipv6 fragment is not a segment", lt: layers.LinkTypeEthernet, kind: KindOther, data: frag6},
		{name: "ipv4 later fragment is not a segment", lt: layers.LinkTypeEthernet, kind: KindOther,
			data: serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b, FragOffset: 100},
				gopacket.Payload(make([]byte, 40)))},
		{name: "udp ignored", lt: layers.LinkTypeEthernet, kind: KindOther,
			data: serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: v4a, DstIP: v4b},
				&layers.UDP{SrcPort: 53, DstPort: 53})},
		{name: "icmp fragmentation needed", lt: layers.LinkTypeEthernet, kind: KindICMPError, data: icmpFrag,
			check: func(t *testing.T, p *Packet) {
				if p.ICMP != ICMPFragNeeded || p.MTU != 1280 || p.Src != AddrFrom4(v4a) || p.Dst != AddrFrom4(v4b) ||
					p.SrcPort != 40000 || p.DstPort != 80 || p.InnerProto != 6 || p.ICMPFrom != AddrFrom4(net.IP{10, 99, 0, 254}) {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "icmpv6 packet too big", lt: layers.LinkTypeEthernet, kind: KindICMPError, data: icmpPTB,
			check: func(t *testing.T, p *Packet) {
				if p.ICMP != ICMPFragNeeded || p.MTU != 1280 || p.Dst != AddrFrom16(v6b) || p.DstPort != 80 {
					t.Errorf("got %+v", p)
				}
			}},
		{name: "icmpv6 prohibited", lt: layers.LinkTypeEthernet, kind: KindICMPError, data: icmpProhib6,
			check: func(t *testing.T, p *Packet) {
				if p.ICMP != ICMPProhibited {
					t.Errorf("kind %v", p.ICMP)
				}
			}},
		{name: "icmp echo ignored", lt: layers.LinkTypeEthernet, kind: KindOther,
			data: serialize(t, ethV4, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: v4a, DstIP: v4b},
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})},
		{name: "raw ip", lt: layers.LinkTypeRaw, kind: KindTCP,
			data: serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b}, tcpLayer(FlagSYN|FlagACK))},
		{name: "linux cooked", lt: layers.LinkTypeLinuxSLL, kind: KindTCP,
			data: append([]byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, // outgoing, ARPHRD_ETHER, 6-byte address, IPv4
				serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: v4a, DstIP: v4b}, tcpLayer(FlagACK))...)},
		{name: "tcp header cut short", lt: layers.LinkTypeEthernet, data: full[:14+20+10], wantErr: true},
		{name: "data offset beyond the packet", lt: layers.LinkTypeEthernet, wantErr: true, data: func() []byte {
			b := append([]byte(nil), full[:14+20+20]...)
			b[14+20+12] = 0xf0 // 60-byte header in a 20-byte capture
			return b
		}()},
		{name: "unknown link type", lt: layers.LinkType(147), data: full, wantErr: true},
		{name: "empty", lt: layers.LinkTypeRaw, data: nil, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Packet
			err := NewDecoder().Decode(tc.data, tc.lt, &p)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if p.Kind != tc.kind {
				t.Fatalf("kind %d, want %d", p.Kind, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, &p)
			}
			d := NewDecoder()
			if n := testing.AllocsPerRun(100, func() { _ = d.Decode(tc.data, tc.lt, &p) }); (n != 0) != tc.allocates {
				t.Errorf("%.1f allocations per decode", n)
			}
		})
	}
}
