package sampler

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"
)

// Filter narrows what the live sampler captures: TCP packets with a port
// in Ports (either side) and an address in Prefixes (either side); an empty
// list matches everything. ICMP errors are kept when the packet they quote
// matches.
type Filter struct {
	Ports    []uint16
	Prefixes []netip.Prefix
}

// Limits keep the kernel program within the classic BPF jump range.
const (
	MaxFilterPorts    = 16
	MaxFilterPrefixes = 8
)

// ParseFilter reads a comma-separated list of ports (443), addresses
// (10.0.2.10, fd00::1) and CIDRs (10.0.2.0/24).
func ParseFilter(s string) (Filter, error) {
	var f Filter
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if n, err := strconv.ParseUint(item, 10, 16); err == nil {
			if n == 0 {
				return f, errors.New("filter: port 0")
			}
			f.Ports = append(f.Ports, uint16(n))
			continue
		}
		p, err := parsePrefix(item)
		if err != nil {
			return f, fmt.Errorf("filter: %q is neither a port, an address nor a CIDR", item)
		}
		f.Prefixes = append(f.Prefixes, p)
	}
	if len(f.Ports) > MaxFilterPorts || len(f.Prefixes) > MaxFilterPrefixes {
		return f, fmt.Errorf("filter: at most %d ports and %d addresses or CIDRs", MaxFilterPorts, MaxFilterPrefixes)
	}
	return f, nil
}

// Match applies the filter in Go, for packets the kernel program lets
// through unfiltered (ICMP errors, IPv6 with extension headers).
func (f *Filter) Match(src, dst Addr, sport, dport uint16) bool {
	if len(f.Ports) > 0 {
		ok := false
		for _, p := range f.Ports {
			if p == sport || p == dport {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Prefixes) > 0 {
		s, d := src.Netip(), dst.Netip()
		for _, p := range f.Prefixes {
			if p.Contains(s) || p.Contains(d) {
				return true
			}
		}
		return false
	}
	return true
}

// Empty reports whether the filter matches everything.
func (f *Filter) Empty() bool { return len(f.Ports) == 0 && len(f.Prefixes) == 0 }

// asm assembles classic BPF with forward jumps to named labels. A
// conditional jump can only skip 255 instructions, so a branch to a label
// is a conditional jump over an unconditional one, which reaches anywhere.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	gotos  map[int]string // instruction index of a Jump -> its label
}

// maxBPF is the kernel's BPF_MAXINSNS.
const maxBPF = 4096

func newAsm() *asm { return &asm{labels: map[string]int{}, gotos: map[int]string{}} }

func (a *asm) add(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

func (a *asm) label(name string) { a.labels[name] = len(a.ins) }

// branch jumps to label when A cond val holds.
func (a *asm) branch(cond bpf.JumpTest, val uint32, label string) {
	a.add(bpf.JumpIf{Cond: cond, Val: val, SkipTrue: 0, SkipFalse: 1})
	a.goTo(label)
}

func (a *asm) goTo(label string) {
	a.gotos[len(a.ins)] = label
	a.ins = append(a.ins, bpf.Jump{})
}

func (a *asm) resolve() ([]bpf.Instruction, error) {
	for at, label := range a.gotos {
		to, ok := a.labels[label]
		if !ok {
			return nil, fmt.Errorf("bpf: no label %s", label)
		}
		if to <= at {
			return nil, fmt.Errorf("bpf: backward jump to %s", label)
		}
		a.ins[at] = bpf.Jump{Skip: uint32(to - at - 1)}
	}
	if len(a.ins) > maxBPF {
		return nil, errors.New("bpf: filter too long")
	}
	return a.ins, nil
}

// Program returns the kernel filter for a SOCK_DGRAM packet socket (the
// packet starts at its IP header): every TCP SYN, FIN and RST and every
// ICMP destination-unreachable and packet-too-big error; TCP data packets
// only of connections whose SampleHash is below rate×65536; all of it cut
// to snaplen bytes. IPv4 fragments after the first are dropped; IPv6
// packets with extension headers pass unsampled and unfiltered, for the
// decoder and Match to judge.
func (f *Filter) Program(rate float64, snaplen uint32) ([]bpf.Instruction, error) {
	a := newAsm()
	var v4, v6 []netip.Prefix
	for _, p := range f.Prefixes {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	threshold := sampleThreshold(rate)

	a.add(bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.branch(bpf.JumpEqual, 0x40, "v4")
	a.branch(bpf.JumpEqual, 0x60, "v6")
	a.goTo("drop")

	// IPv4.
	a.label("v4")
	a.add(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.branch(bpf.JumpEqual, 6, "v4tcp")
	a.branch(bpf.JumpNotEqual, 1, "drop")
	a.add(bpf.LoadMemShift{Off: 0}, bpf.LoadIndirect{Off: 0, Size: 1})
	a.branch(bpf.JumpEqual, 3, "accept")
	a.goTo("drop")
	a.label("v4tcp")
	a.add(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.branch(bpf.JumpBitsSet, 0x1fff, "drop") // a later fragment: no TCP header, nothing to learn
	if len(f.Prefixes) > 0 {
		for _, p := range v4 {
			mask := uint32(0)
			if p.Bits() > 0 {
				mask = ^uint32(0) << (32 - p.Bits())
			}
			b := p.Addr().As4()
			for _, off := range []uint32{12, 16} {
				a.add(bpf.LoadAbsolute{Off: off, Size: 4}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
				a.branch(bpf.JumpEqual, be32(b[:])&mask, "v4net")
			}
		}
		a.goTo("drop")
	}
	a.label("v4net")
	a.add(bpf.LoadMemShift{Off: 0}) // X: the IPv4 header length
	f.tcpTail(a, "v4", func(off, size uint32) bpf.Instruction { return bpf.LoadIndirect{Off: off, Size: int(size)} },
		12, 16, threshold)

	// IPv6: TCP or ICMPv6 right after the fixed header.
	a.label("v6")
	a.add(bpf.LoadAbsolute{Off: 6, Size: 1})
	a.branch(bpf.JumpEqual, 6, "v6tcp")
	a.branch(bpf.JumpEqual, 58, "v6icmp")
	for _, ext := range []uint32{0, 43, 44, 60} { // hop-by-hop, routing, fragment, destination
		a.branch(bpf.JumpEqual, ext, "accept")
	}
	a.goTo("drop")
	a.label("v6icmp")
	a.add(bpf.LoadAbsolute{Off: 40, Size: 1})
	a.branch(bpf.JumpEqual, 1, "accept")
	a.branch(bpf.JumpEqual, 2, "accept")
	a.goTo("drop")
	a.label("v6tcp")
	if len(f.Prefixes) > 0 {
		for i, p := range v6 {
			b := p.Addr().As16()
			for side, base := range []uint32{8, 24} {
				next := fmt.Sprintf("v6p%d_%d", i, side)
				for w := 0; w*32 < p.Bits(); w++ {
					mask := ^uint32(0) << (32 - min(p.Bits()-w*32, 32))
					a.add(bpf.LoadAbsolute{Off: base + uint32(4*w), Size: 4}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
					a.branch(bpf.JumpNotEqual, be32(b[4*w:])&mask, next)
				}
				a.goTo("v6net")
				a.label(next)
			}
		}
		a.goTo("drop")
	}
	a.label("v6net")
	f.tcpTail(a, "v6", func(off, size uint32) bpf.Instruction { return bpf.LoadAbsolute{Off: 40 + off, Size: int(size)} },
		20, 36, threshold)

	a.label("accept")
	a.add(bpf.RetConstant{Val: snaplen})
	a.label("drop")
	a.add(bpf.RetConstant{Val: 0})
	return a.resolve()
}

// tcpTail finishes the program for a TCP segment whose header field at off
// tcp(off, size) loads: the port filter, then SYN, FIN and RST always and
// data only of sampled connections. srcLow and dstLow are the offsets of
// the addresses' low 32 bits, which the sampling hash uses.
func (f *Filter) tcpTail(a *asm, prefix string, tcp func(off, size uint32) bpf.Instruction, srcLow, dstLow, threshold uint32) {
	f.ports(a, prefix, tcp(0, 2), tcp(2, 2))
	a.add(tcp(13, 1))
	a.branch(bpf.JumpBitsSet, FlagFIN|FlagSYN|FlagRST, "accept")
	if threshold >= 1<<16 {
		a.goTo("accept")
		return
	}
	a.add(tcp(0, 4), bpf.StoreScratch{Src: bpf.RegA, N: 0},
		bpf.LoadAbsolute{Off: srcLow, Size: 4}, bpf.TAX{}, bpf.LoadAbsolute{Off: dstLow, Size: 4})
	sampleTail(a, threshold)
}

// ports adds the port test: fall through when a port matches, else drop.
func (f *Filter) ports(a *asm, prefix string, src, dst bpf.Instruction) {
	if len(f.Ports) == 0 {
		return
	}
	ok := prefix + "port"
	for _, ld := range []bpf.Instruction{src, dst} {
		a.add(ld)
		for _, p := range f.Ports {
			a.branch(bpf.JumpEqual, uint32(p), ok)
		}
	}
	a.goTo("drop")
	a.label(ok)
}

// sampleTail finishes SampleHash in BPF, with the ports word in M[0], the
// source address's low word in X and the destination's in A, and accepts
// the packet when the hash is below threshold.
func sampleTail(a *asm, threshold uint32) {
	a.add(
		bpf.ALUOpX{Op: bpf.ALUOpXor}, // A = src ^ dst
		bpf.TAX{},
		bpf.LoadScratch{Dst: bpf.RegA, N: 0},
		bpf.ALUOpX{Op: bpf.ALUOpXor}, // A = h32
		bpf.TAX{},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.StoreScratch{Src: bpf.RegA, N: 0}, // M[0] = h32 >> 16
		bpf.TXA{},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
		bpf.TAX{},
		bpf.LoadScratch{Dst: bpf.RegA, N: 0},
		bpf.ALUOpX{Op: bpf.ALUOpXor}, // A = h16
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: 0x9E3779B1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff},
	)
	a.branch(bpf.JumpLessThan, threshold, "accept")
	a.goTo("drop")
}
