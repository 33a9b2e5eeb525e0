package sampler

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pkt describes a TCP packet for fixtures.
type pkt struct {
	src, dst string // "ip:port"
	flags    uint8
	seq, ack uint32
	win      uint16
	payload  int
	mss      uint16
	at       time.Duration // capture time after t0
	zeroWin  bool          // advertise a zero window (win 0 means the default)
	vlan     bool
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func mustAddrPort(t testing.TB, s string) (net.IP, uint16) {
	t.Helper()
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return a.IP, uint16(a.Port)
}

// frame serializes p as Ethernet (optionally 802.1Q) / IPv4 or IPv6 / TCP.
func (p pkt) frame(t testing.TB) []byte {
	t.Helper()
	sip, sport := mustAddrPort(t, p.src)
	dip, dport := mustAddrPort(t, p.dst)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: p.seq, Ack: p.ack,
		Window: p.win, FIN: p.flags&FlagFIN != 0, SYN: p.flags&FlagSYN != 0, RST: p.flags&FlagRST != 0,
		PSH: p.flags&FlagPSH != 0, ACK: p.flags&FlagACK != 0}
	if p.win == 0 && !p.zeroWin {
		tcp.Window = 1000
	}
	if p.mss != 0 {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4,
			OptionData: []byte{byte(p.mss >> 8), byte(p.mss)}}}
	}
	var ls []gopacket.SerializableLayer
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	ls = append(ls, eth)
	etype := layers.EthernetTypeIPv4
	if sip.To4() == nil {
		etype = layers.EthernetTypeIPv6
	}
	if p.vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Type: etype})
	} else {
		eth.EthernetType = etype
	}
	if etype == layers.EthernetTypeIPv4 {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: sip.To4(), DstIP: dip.To4()}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: sip, DstIP: dip}
		_ = tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	}
	ls = append(ls, tcp, gopacket.Payload(make([]byte, p.payload)))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// capture writes pkts as a pcap file with the given snap length (0: 65535).
func capture(t testing.TB, snaplen int, pkts ...pkt) []byte {
	t.Helper()
	if snaplen == 0 {
		snaplen = 65535
	}
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		data := p.frame(t)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(p.at), Length: len(data), CaptureLength: min(len(data), snaplen)}
		if err := w.WritePacket(ci, data[:ci.CaptureLength]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// decoded decodes p the way the tracker receives it.
func (p pkt) decoded(t testing.TB) *Packet {
	t.Helper()
	var out Packet
	if err := NewDecoder().Decode(p.frame(t), layers.LinkTypeEthernet, &out); err != nil {
		t.Fatalf("decode %+v: %v", p, err)
	}
	out.TS = t0.Add(p.at).UnixNano()
	return &out
}
