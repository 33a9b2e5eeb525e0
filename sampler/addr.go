package sampler

import (
	"encoding/binary"
	"net/netip"
)

// Addr is an IPv4 or IPv6 address in 16-byte form, IPv4 mapped into IPv6.
// A fixed array keeps flow keys free of pointers, so a table of 100k
// connections costs the garbage collector nothing to scan.
type Addr [16]byte

var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

// AddrFrom4 returns the v4-mapped form of a 4-byte address.
func AddrFrom4(b []byte) Addr {
	var a Addr
	a[10], a[11] = 0xff, 0xff
	copy(a[12:], b)
	return a
}

// putAddr4 writes the v4-mapped form of a 4-byte address in two stores,
// which matters at millions of packets a second.
func putAddr4(a *Addr, b []byte) {
	le := binary.LittleEndian
	le.PutUint64(a[0:], 0)
	le.PutUint64(a[8:], 0xffff<<16|uint64(le.Uint32(b))<<32)
}

// AddrFrom16 returns a 16-byte address as is.
func AddrFrom16(b []byte) Addr {
	var a Addr
	copy(a[:], b)
	return a
}

// AddrFromNetip converts a netip.Addr.
func AddrFromNetip(ip netip.Addr) Addr {
	if ip.Is4() {
		b := ip.As4()
		return AddrFrom4(b[:])
	}
	return Addr(ip.As16())
}

// Is4 reports whether a is an IPv4 address.
func (a Addr) Is4() bool { return [12]byte(a[:12]) == v4InV6Prefix }

// Netip returns a as a netip.Addr, unmapped for IPv4.
func (a Addr) Netip() netip.Addr {
	if a.Is4() {
		return netip.AddrFrom4([4]byte(a[12:]))
	}
	return netip.AddrFrom16(a)
}

func (a Addr) String() string { return a.Netip().String() }

// Endpoint is an address and a port.
type Endpoint struct {
	Addr Addr
	Port uint16
}

func (e Endpoint) String() string {
	return netip.AddrPortFrom(e.Addr.Netip(), e.Port).String()
}
