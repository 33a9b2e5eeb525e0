package sampler

import (
	"fmt"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// ipPacket serializes an IP packet (no link header), as a SOCK_DGRAM
// packet socket sees it.
func ipPacket(t *testing.T, src, dst string, flags uint8, payload int) []byte {
	t.Helper()
	sip, sport := mustAddrPort(t, src)
	dip, dport := mustAddrPort(t, dst)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 1, Ack: 1, Window: 100,
		SYN: flags&FlagSYN != 0, ACK: flags&FlagACK != 0, RST: flags&FlagRST != 0, FIN: flags&FlagFIN != 0}
	var ip gopacket.SerializableLayer
	if sip.To4() != nil {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: sip.To4(), DstIP: dip.To4()}
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: sip, DstIP: dip}
	}
	return serialize(t, ip, tcp, gopacket.Payload(make([]byte, payload)))
}

func runFilter(t *testing.T, prog []bpf.Instruction, pkt []byte) int {
	t.Helper()
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("program rejected: %v", err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return n
}

func TestFilterProgram(t *testing.T) {
	all := Filter{}
	f, err := ParseFilter("80, 443,10.5.0.0/16, fd00:5::/64")
	if err != nil {
		t.Fatal(err)
	}
	icmp := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{10, 0, 0, 9}, DstIP: net.IP{10, 0, 0, 1}},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 4)}, gopacket.Payload(make([]byte, 28)))
	echo := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP{10, 0, 0, 9}, DstIP: net.IP{10, 0, 0, 1}},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
	udp := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 0, 0, 9}, DstIP: net.IP{10, 0, 0, 1}},
		&layers.UDP{SrcPort: 53, DstPort: 53})
	frag := serialize(t, &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 9}, DstIP: net.IP{10, 0, 0, 1}, FragOffset: 10},
		gopacket.Payload(make([]byte, 40)))
	ptb := serialize(t, &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolICMPv6, SrcIP: net.ParseIP("fd00::9"), DstIP: net.ParseIP("fd00::1")},
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(2, 0)}, gopacket.Payload(make([]byte, 52)))

	tests := []struct {
		name   string
		f      Filter
		rate   float64
		pkt    []byte
		accept bool
	}{
		{"syn", all, 0.01, ipPacket(t, "10.0.0.1:40000", "10.0.0.2:80", FlagSYN, 0), true},
		{"data at rate 1", all, 1, ipPacket(t, "10.0.0.1:40000", "10.0.0.2:80", FlagACK, 500), true},
		{"rst at rate 0.01", all, 0.01, ipPacket(t, "10.0.0.1:40000", "10.0.0.2:80", FlagRST|FlagACK, 0), true},
		{"icmp frag needed", all, 0.01, icmp, true},
		{"icmpv6 packet too big", all, 0.01, ptb, true},
		{"icmp echo", all, 1, echo, false},
		{"udp", all, 1, udp, false},
		{"later fragment", all, 1, frag, false},
		{"port and net match", f, 1, ipPacket(t, "10.5.3.1:40000", "10.9.0.2:443", FlagACK, 10), true},
		{"port mismatch", f, 1, ipPacket(t, "10.5.3.1:40000", "10.9.0.2:8080", FlagSYN, 0), false},
		{"net mismatch", f, 1, ipPacket(t, "10.6.3.1:40000", "10.9.0.2:80", FlagSYN, 0), false},
		{"v6 net match", f, 1, ipPacket(t, "[fd00:5::7]:40000", "[fd00:9::2]:80", FlagSYN, 0), true},
		{"v6 net mismatch", f, 1, ipPacket(t, "[fd00:6::7]:40000", "[fd00:9::2]:80", FlagSYN, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := tc.f.Program(tc.rate, 128)
			if err != nil {
				t.Fatal(err)
			}
			n := runFilter(t, prog, tc.pkt)
			if (n > 0) != tc.accept {
				t.Fatalf("accepted %d bytes, want accept=%v", n, tc.accept)
			}
			if tc.accept && n != 128 {
				t.Errorf("snap length %d, want 128", n)
			}
		})
	}
}

// The kernel program samples exactly the connections the tracker treats
// as sampled: the BPF hash equals SampleHash, for both directions.
func TestFilterSamplesLikeTracker(t *testing.T) {
	const rate = 0.3
	th := sampleThreshold(rate)
	r := rand.New(rand.NewPCG(7, 8))
	var f Filter
	prog, err := f.Program(rate, 128)
	if err != nil {
		t.Fatal(err)
	}
	taken := 0
	for range 400 {
		src := fmt.Sprintf("10.%d.%d.%d:%d", r.IntN(256), r.IntN(256), r.IntN(256), 1+r.IntN(65535))
		dst := fmt.Sprintf("10.9.%d.%d:%d", r.IntN(256), r.IntN(256), 1+r.IntN(65535))
		if r.IntN(4) == 0 {
			src = fmt.Sprintf("[fd00::%x]:%d", r.IntN(65536), 1+r.IntN(65535))
			dst = fmt.Sprintf("[fd00:1::%x]:%d", r.IntN(65536), 1+r.IntN(65535))
		}
		sip, sp := mustAddrPort(t, src)
		dip, dp := mustAddrPort(t, dst)
		toAddr := func(ip net.IP) Addr {
			if ip.To4() != nil {
				return AddrFrom4(ip.To4())
			}
			return AddrFrom16(ip)
		}
		k, _ := newKey(toAddr(sip), toAddr(dip), sp, dp)
		want := sampleHash(&k) < th
		fwd := runFilter(t, prog, ipPacket(t, src, dst, FlagACK, 100)) > 0
		rev := runFilter(t, prog, ipPacket(t, dst, src, FlagACK, 100)) > 0
		if fwd != want || rev != want {
			t.Fatalf("%s -> %s: kernel takes %v/%v, tracker samples %v", src, dst, fwd, rev, want)
		}
		if want {
			taken++
		}
	}
	if taken < 80 || taken > 160 {
		t.Errorf("%d of 400 connections sampled at rate 0.3", taken)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := ParseFilter("22,10.0.0.1,fd00::/8")
	if err != nil || len(f.Ports) != 1 || len(f.Prefixes) != 2 || f.Prefixes[0].Bits() != 32 {
		t.Fatalf("%+v %v", f, err)
	}
	if !f.Match(AddrFrom4([]byte{10, 0, 0, 1}), AddrFrom4([]byte{1, 1, 1, 1}), 22, 5000) ||
		f.Match(AddrFrom4([]byte{10, 0, 0, 2}), AddrFrom4([]byte{1, 1, 1, 1}), 22, 5000) {
		t.Error("Match disagrees with the filter")
	}
	for _, bad := range []string{"0", "70000", "host", "10.0.0.0/40"} {
		if _, err := ParseFilter(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	var many string
	for i := 1; i <= MaxFilterPorts+1; i++ {
		many += fmt.Sprintf("%d,", i)
	}
	if _, err := ParseFilter(many); err == nil {
		t.Error("too many ports accepted")
	}
	// The largest filter still assembles.
	var big Filter
	for i := range MaxFilterPorts {
		big.Ports = append(big.Ports, uint16(1000+i))
	}
	for i := range MaxFilterPrefixes {
		p, _ := parsePrefix(fmt.Sprintf("fd%02x:1:2:3:4:5:6:7/128", i))
		big.Prefixes = append(big.Prefixes, p)
	}
	if _, err := big.Program(0.5, 128); err != nil {
		t.Errorf("largest filter: %v", err)
	}
}
