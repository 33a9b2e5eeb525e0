package sampler

import (
	"encoding/binary"
	"errors"
)

// ICMPKind classifies a destination-unreachable or packet-too-big error by
// what it says about the path; the values name the kind label. A TCP stack
// with no listener answers a SYN with RST, never with port unreachable,
// while iptables' default REJECT answers with port unreachable: so a port
// unreachable about a TCP segment counts as ICMPProhibited (icmpKindFor),
// and ICMPPort is left to UDP's closed ports (traceroute, DNS).
type ICMPKind uint8

const (
	ICMPNet        ICMPKind = iota // network unreachable, no route
	ICMPHost                       // host unreachable
	ICMPPort                       // port unreachable for UDP (or any protocol but TCP): a closed port
	ICMPProtocol                   // protocol unreachable
	ICMPProhibited                 // prohibited: administratively prohibited, or port unreachable for a TCP segment: both are a firewall's REJECT
	ICMPFragNeeded                 // fragmentation needed / packet too big: MTU
	ICMPOther                      // any other unreachable code
	numICMPKinds
)

var icmpKindNames = [numICMPKinds]string{"net", "host", "port", "protocol", "prohibited", "frag_needed", "other"}

func (k ICMPKind) String() string {
	if k < numICMPKinds {
		return icmpKindNames[k]
	}
	return "other"
}

// ICMPKinds lists every kind, for exporters that want stable series.
func ICMPKinds() []ICMPKind {
	out := make([]ICMPKind, numICMPKinds)
	for i := range out {
		out[i] = ICMPKind(i)
	}
	return out
}

// icmp4Kind maps an ICMPv4 destination-unreachable code (RFC 792, 1122,
// 1812).
func icmp4Kind(code uint8) ICMPKind {
	switch code {
	case 0, 6, 11: // net, net unknown, net for TOS
		return ICMPNet
	case 1, 7, 12: // host, host unknown, host for TOS
		return ICMPHost
	case 2:
		return ICMPProtocol
	case 3:
		return ICMPPort
	case 4:
		return ICMPFragNeeded
	case 9, 10, 13: // net/host prohibited, communication prohibited
		return ICMPProhibited
	}
	return ICMPOther
}

// icmp6Kind maps an ICMPv6 destination-unreachable code (RFC 4443).
func icmp6Kind(code uint8) ICMPKind {
	switch code {
	case 0: // no route
		return ICMPNet
	case 1, 5, 6: // prohibited, failed ingress/egress policy, reject route
		return ICMPProhibited
	case 3:
		return ICMPHost
	case 4:
		return ICMPPort
	}
	return ICMPOther
}

// icmpKindFor is the kind counted for an error of kind k about a packet of
// protocol proto: a port unreachable quoting a TCP segment is a firewall's
// REJECT, counted as ICMPProhibited; quoting UDP it is a closed port.
func icmpKindFor(k ICMPKind, proto uint8) ICMPKind {
	if k == ICMPPort && proto == 6 {
		return ICMPProhibited
	}
	return k
}

var errEmbedded = errors.New("ICMP error without a usable embedded IP header")

// parseEmbedded reads the IP header and first 8 bytes of the packet an ICMP
// error quotes. Routers quote at least the IP header and 8 bytes (RFC
// 792), enough for the ports; anything shorter is reported as an error.
func parseEmbedded(b []byte, p *Packet) error {
	if len(b) < 1 {
		return errEmbedded
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return errEmbedded
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return errEmbedded
		}
		p.Src, p.Dst = AddrFrom4(b[12:16]), AddrFrom4(b[16:20])
		p.InnerProto = b[9]
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 { // first fragment: ports follow
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return errEmbedded
		}
		p.Src, p.Dst = AddrFrom16(b[8:24]), AddrFrom16(b[24:40])
		p.InnerProto = b[6]
		l4 = b[40:]
	default:
		return errEmbedded
	}
	p.SrcPort, p.DstPort = 0, 0
	if (p.InnerProto == 6 || p.InnerProto == 17) && len(l4) >= 4 {
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	}
	return nil
}
