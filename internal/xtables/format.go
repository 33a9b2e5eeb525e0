package xtables

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// The text of a rule is written the way iptables-save writes it for the
// extensions below; any other extension is written as its name and a hex
// dump of its options, which identifies it but is not iptables syntax.
// The text is for people; a rule's identity is SpecHash of its bytes, so a
// better rendering in a later version does not rename any series.

// Format returns the rule as iptables-save writes it, without counters:
// "-A CHAIN -s 10.0.0.0/8 -p tcp -m tcp --dport 80 -j DROP". jumps names
// the targets of jumps (JumpTargets); without it a jump is written as its
// offset.
func Format(fam Family, e *Entry, jumps map[int32][]byte) string {
	var b strings.Builder
	b.WriteString("-A ")
	b.Write(e.Chain)
	formatHeader(&b, fam, e.Header)
	ForEachMatch(e.Matches, func(name []byte, rev uint8, data []byte) {
		FormatMatch(&b, fam, string(name), rev, data)
	})
	formatEntryTarget(&b, fam, e, jumps)
	return b.String()
}

func formatHeader(b *strings.Builder, fam Family, h []byte) {
	var inv, flags, proto int
	var src, dst, smsk, dmsk []byte
	var in, out, inMask, outMask []byte
	if fam == IPv6 {
		src, dst, smsk, dmsk = h[0:16], h[16:32], h[32:48], h[48:64]
		in, out, inMask, outMask = h[64:80], h[80:96], h[96:112], h[112:128]
		proto = int(binary.NativeEndian.Uint16(h[128:]))
		flags, inv = int(h[131]), int(h[132])
		if flags&0x01 == 0 { // IP6T_F_PROTO
			proto = 0
		}
	} else {
		src, dst, smsk, dmsk = h[0:4], h[4:8], h[8:12], h[12:16]
		in, out, inMask, outMask = h[16:32], h[32:48], h[48:64], h[64:80]
		proto = int(binary.NativeEndian.Uint16(h[80:]))
		flags, inv = int(h[82]), int(h[83])
	}
	writeAddr(b, "-s", src, smsk, inv&0x08 != 0)
	writeAddr(b, "-d", dst, dmsk, inv&0x10 != 0)
	writeIface(b, "-i", in, inMask, inv&0x01 != 0)
	writeIface(b, "-o", out, outMask, inv&0x02 != 0)
	if proto != 0 || inv&0x40 != 0 {
		writeInv(b, inv&0x40 != 0)
		b.WriteString(" -p ")
		b.WriteString(ProtoName(proto))
	}
	if fam == IPv4 && flags&0x01 != 0 { // IPT_F_FRAG
		writeInv(b, inv&0x20 != 0)
		b.WriteString(" -f")
	}
}

// ProtoName names an IP protocol number as iptables-save does.
func ProtoName(p int) string {
	switch p {
	case 0:
		return "all"
	case 1:
		return "icmp"
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 58:
		return "ipv6-icmp"
	case 132:
		return "sctp"
	case 136:
		return "udplite"
	}
	return strconv.Itoa(p)
}

func writeInv(b *strings.Builder, inv bool) {
	if inv {
		b.WriteString(" !")
	}
}

func writeAddr(b *strings.Builder, flag string, addr, mask []byte, inv bool) {
	if allZero(addr) && allZero(mask) && !inv {
		return
	}
	writeInv(b, inv)
	b.WriteString(" " + flag + " ")
	b.WriteString(FormatPrefix(addr, mask))
}

// FormatPrefix writes addr/mask as a prefix when the mask is contiguous,
// else as addr/mask-address, the way iptables-save does.
func FormatPrefix(addr, mask []byte) string {
	a, ok := netip.AddrFromSlice(addr)
	if !ok {
		return hex.EncodeToString(addr)
	}
	if bits, ok := prefixLen(mask); ok {
		return a.String() + "/" + strconv.Itoa(bits)
	}
	m, _ := netip.AddrFromSlice(mask)
	return a.String() + "/" + m.String()
}

func prefixLen(mask []byte) (int, bool) {
	bits, done := 0, false
	for _, c := range mask {
		for i := 7; i >= 0; i-- {
			set := c&(1<<i) != 0
			if set && done {
				return 0, false
			}
			if set {
				bits++
			} else {
				done = true
			}
		}
	}
	return bits, true
}

func writeIface(b *strings.Builder, flag string, name, mask []byte, inv bool) {
	n := cString(name)
	if len(n) == 0 && !inv {
		return
	}
	writeInv(b, inv)
	b.WriteString(" " + flag + " ")
	b.Write(n)
	// A wildcard "eth+" matches the prefix only: its mask covers the
	// name without the NUL.
	if len(n) < len(mask) && mask[len(n)] == 0 && len(n) > 0 && mask[len(n)-1] != 0 {
		b.WriteByte('+')
	}
}

func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func formatEntryTarget(b *strings.Builder, fam Family, e *Entry, jumps map[int32][]byte) {
	if len(e.TargetName) == 0 {
		goto_ := false
		if fam == IPv4 {
			goto_ = e.Header[82]&0x02 != 0 // IPT_F_GOTO
		} else {
			goto_ = e.Header[131]&0x04 != 0 // IP6T_F_GOTO
		}
		switch {
		case e.Verdict == VerdictDrop:
			b.WriteString(" -j DROP")
		case e.Verdict == VerdictAccept:
			b.WriteString(" -j ACCEPT")
		case e.Verdict == VerdictReturn:
			b.WriteString(" -j RETURN")
		case e.Verdict == -4: // -NF_QUEUE - 1
			b.WriteString(" -j QUEUE")
		case e.Verdict >= 0:
			flag := " -j "
			if goto_ {
				flag = " -g "
			}
			b.WriteString(flag)
			if name, ok := jumps[e.Verdict]; ok {
				b.Write(name)
			} else {
				b.WriteString("<offset " + strconv.Itoa(int(e.Verdict)) + ">")
			}
		default:
			b.WriteString(" -j <verdict " + strconv.Itoa(int(e.Verdict)) + ">")
		}
		return
	}
	FormatTarget(b, fam, string(e.TargetName), e.Target[extHdrLen-1], e.Target[extHdrLen:])
}

// FormatMatch writes " -m NAME OPTIONS" for an xt match.
func FormatMatch(b *strings.Builder, fam Family, name string, rev uint8, data []byte) {
	var opts strings.Builder
	shown := name
	if formatKnownMatch(&opts, fam, &shown, rev, data) {
		b.WriteString(" -m " + shown)
		b.WriteString(opts.String())
		return
	}
	b.WriteString(" -m " + name)
	writeOpaque(b, rev, data)
}

// FormatTarget writes " -j NAME OPTIONS" for an xt target.
func FormatTarget(b *strings.Builder, fam Family, name string, rev uint8, data []byte) {
	b.WriteString(" -j ")
	b.WriteString(name)
	if name == "REJECT" && rev == 0 && len(data) >= 4 {
		with := binary.NativeEndian.Uint32(data)
		names := rejectWith4
		if fam == IPv6 {
			names = rejectWith6
		}
		b.WriteString(" --reject-with ")
		if int(with) < len(names) {
			b.WriteString(names[with])
		} else {
			b.WriteString(strconv.Itoa(int(with)))
		}
		return
	}
	if name == "LOG" && rev == 0 && len(data) >= 32 {
		level, flags := data[0], data[1]
		if prefix := cString(data[2:32]); len(prefix) > 0 {
			b.WriteString(" --log-prefix")
			writeSaveString(b, prefix)
		}
		if level != 4 {
			fmt.Fprintf(b, " --log-level %d", level)
		}
		for _, f := range []struct {
			bit  uint8
			name string
		}{{0x01, "--log-tcp-sequence"}, {0x02, "--log-tcp-options"}, {0x04, "--log-ip-options"}, {0x08, "--log-uid"}, {0x20, "--log-macdecode"}} {
			if flags&f.bit != 0 {
				b.WriteString(" " + f.name)
			}
		}
		return
	}
	if !allZero(data) {
		writeOpaque(b, rev, data)
	}
}

// FormatRate writes an xt_limit rate (seconds per packet, scaled by
// XT_LIMIT_SCALE) the way libxt_limit does: "5/min".
func FormatRate(period uint32) string {
	const scale = 10000
	rates := []struct {
		name string
		mult uint32
	}{{"day", scale * 24 * 60 * 60}, {"hour", scale * 60 * 60}, {"min", scale * 60}, {"sec", scale}}
	if period == 0 {
		return "+Inf"
	}
	i := 1
	for ; i < len(rates); i++ {
		if period > rates[i].mult || rates[i].mult/period < rates[i].mult%period {
			break
		}
	}
	return fmt.Sprintf("%d/%s", rates[i-1].mult/period, rates[i-1].name)
}

var (
	rejectWith4 = []string{"icmp-net-unreachable", "icmp-host-unreachable", "icmp-proto-unreachable",
		"icmp-port-unreachable", "icmp-echo-reply", "icmp-net-prohibited", "icmp-host-prohibited",
		"tcp-reset", "icmp-admin-prohibited"}
	rejectWith6 = []string{"icmp6-no-route", "icmp6-adm-prohibited", "icmp6-not-neighbor",
		"icmp6-addr-unreachable", "icmp6-port-unreachable", "echo-reply", "tcp-reset",
		"icmp6-policy-fail", "icmp6-reject-route"}
)

// writeOpaque writes options this package cannot decode: revision and data
// in hex, trailing zero bytes dropped.
func writeOpaque(b *strings.Builder, rev uint8, data []byte) {
	d := bytes.TrimRight(data, "\x00")
	fmt.Fprintf(b, " <rev %d opts %s>", rev, hex.EncodeToString(d))
}

// formatKnownMatch writes the options of the matches this package
// decodes; it may rename the match, as iptables shows a conntrack match
// made by -m state as a state match.
func formatKnownMatch(b *strings.Builder, fam Family, shown *string, rev uint8, d []byte) bool {
	ne := binary.NativeEndian
	name := *shown
	switch {
	case name == "comment" && len(d) >= 1:
		b.WriteString(" --comment")
		writeSaveString(b, cString(d))
	case name == "statistic" && rev == 0 && len(d) >= 16:
		mode, flags := ne.Uint16(d), ne.Uint16(d[2:])
		inv := ""
		if flags&0x1 != 0 {
			inv = " !"
		}
		switch mode {
		case 0:
			p := float64(ne.Uint32(d[4:])) / 0x80000000
			fmt.Fprintf(b, " --mode random%s --probability %.11f", inv, p)
		case 1:
			fmt.Fprintf(b, " --mode nth%s --every %d --packet %d", inv, ne.Uint32(d[4:])+1, ne.Uint32(d[8:]))
		default:
			return false
		}
	case name == "tcp" && rev == 0 && len(d) >= 12:
		inv := d[11]
		writePorts(b, "--sport", ne.Uint16(d[0:]), ne.Uint16(d[2:]), inv&0x01 != 0)
		writePorts(b, "--dport", ne.Uint16(d[4:]), ne.Uint16(d[6:]), inv&0x02 != 0)
		if d[8] != 0 || inv&0x08 != 0 {
			writeInv(b, inv&0x08 != 0)
			fmt.Fprintf(b, " --tcp-option %d", d[8])
		}
		if d[9] != 0 || inv&0x04 != 0 {
			writeInv(b, inv&0x04 != 0)
			b.WriteString(" --tcp-flags " + TCPFlags(d[9]) + " " + TCPFlags(d[10]))
		}
	case name == "udp" && rev == 0 && len(d) >= 9:
		inv := d[8]
		writePorts(b, "--sport", ne.Uint16(d[0:]), ne.Uint16(d[2:]), inv&0x01 != 0)
		writePorts(b, "--dport", ne.Uint16(d[4:]), ne.Uint16(d[6:]), inv&0x02 != 0)
	case (name == "icmp" && fam == IPv4 || name == "icmp6" && fam == IPv6) && rev == 0 && len(d) >= 4:
		writeInv(b, d[3]&0x01 != 0)
		opt := " --icmp-type "
		if fam == IPv6 {
			opt = " --icmpv6-type "
		}
		if fam == IPv4 && d[0] == 0xff {
			b.WriteString(opt + "any")
			break
		}
		fmt.Fprintf(b, "%s%d", opt, d[0])
		if d[1] != 0 || d[2] != 0xff {
			fmt.Fprintf(b, "/%d", d[1])
		}
	case name == "multiport" && rev == 1 && len(d) >= 48:
		flags, count := d[0], int(d[1])
		if count > 15 {
			return false
		}
		writeInv(b, d[47] != 0)
		b.WriteString([]string{" --sports ", " --dports ", " --ports "}[min(int(flags), 2)])
		for i := 0; i < count; i++ {
			if i > 0 {
				if d[32+i-1] != 0 {
					b.WriteByte(':')
				} else {
					b.WriteByte(',')
				}
			}
			b.WriteString(strconv.Itoa(int(ne.Uint16(d[2+2*i:]))))
		}
	case name == "state" && rev == 0 && len(d) >= 4:
		b.WriteString(" --state " + ctStates(ne.Uint32(d), 64))
	case name == "conntrack" && rev >= 1 && rev <= 3 && len(d) >= 152:
		return formatConntrack(b, shown, rev, d)
	case name == "limit" && rev == 0 && len(d) >= 8:
		b.WriteString(" --limit " + FormatRate(ne.Uint32(d)))
		if burst := ne.Uint32(d[4:]); burst != 5 {
			fmt.Fprintf(b, " --limit-burst %d", burst)
		}
	case name == "mark" && rev == 1 && len(d) >= 9:
		writeInv(b, d[8] != 0)
		writeMark(b, " --mark ", ne.Uint32(d), ne.Uint32(d[4:]))
	default:
		return false
	}
	return true
}

func writeMark(b *strings.Builder, opt string, mark, mask uint32) {
	b.WriteString(opt)
	fmt.Fprintf(b, "0x%x", mark)
	if mask != math.MaxUint32 {
		fmt.Fprintf(b, "/0x%x", mask)
	}
}

// formatConntrack writes the state and status of a conntrack match, which
// is what a filtering rule uses; a match on addresses, ports or expiry is
// left opaque.
func formatConntrack(b *strings.Builder, shown *string, rev uint8, d []byte) bool {
	ne := binary.NativeEndian
	matchFlags, invFlags := ne.Uint16(d[146:]), ne.Uint16(d[148:])
	const (
		ctState  = 1 << 0
		ctStatus = 1 << 6
		ctAlias  = 1 << 13
	)
	if matchFlags&^(ctState|ctStatus|ctAlias) != 0 {
		return false
	}
	var state, status uint32
	if rev > 1 && len(d) < 154 {
		return false
	}
	if rev == 1 {
		state, status = uint32(d[150]), uint32(d[151])
	} else {
		state, status = uint32(ne.Uint16(d[150:])), uint32(ne.Uint16(d[152:]))
	}
	if matchFlags&ctAlias != 0 {
		// -m state, which iptables implements with conntrack.
		if matchFlags != ctState|ctAlias {
			return false
		}
		*shown = "state"
		writeInv(b, invFlags&ctState != 0)
		b.WriteString(" --state " + ctStates(state, 256))
		return true
	}
	if matchFlags&ctState != 0 {
		writeInv(b, invFlags&ctState != 0)
		b.WriteString(" --ctstate " + ctStates(state, 256))
	}
	if matchFlags&ctStatus != 0 {
		writeInv(b, invFlags&ctStatus != 0)
		b.WriteString(" --ctstatus ")
		var names []string
		for i, n := range []string{"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED"} {
			if status&(1<<i) != 0 {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			names = []string{"NONE"}
		}
		b.WriteString(strings.Join(names, ","))
	}
	return true
}

// ctStates names conntrack states in iptables' order; untracked is the bit
// for UNTRACKED, which differs between the state and conntrack matches.
func ctStates(s uint32, untracked uint32) string {
	var names []string
	for _, st := range []struct {
		bit  uint32
		name string
	}{{1, "INVALID"}, {8, "NEW"}, {4, "RELATED"}, {2, "ESTABLISHED"}, {untracked, "UNTRACKED"}} {
		if s&st.bit != 0 {
			names = append(names, st.name)
		}
	}
	if untracked == 256 {
		if s&64 != 0 {
			names = append(names, "SNAT")
		}
		if s&128 != 0 {
			names = append(names, "DNAT")
		}
	}
	return strings.Join(names, ",")
}

func writePorts(b *strings.Builder, opt string, lo, hi uint16, inv bool) {
	if lo == 0 && hi == 0xffff && !inv {
		return
	}
	writeInv(b, inv)
	if lo == hi {
		fmt.Fprintf(b, " %s %d", opt, lo)
	} else {
		fmt.Fprintf(b, " %s %d:%d", opt, lo, hi)
	}
}

// TCPFlags names TCP flags as iptables does: "FIN,SYN", or "NONE".
func TCPFlags(f uint8) string {
	if f == 0 {
		return "NONE"
	}
	var names []string
	for i, n := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG"} {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// writeSaveString quotes a string the way xtables_save_string does.
func writeSaveString(b *strings.Builder, s []byte) {
	plain := len(s) > 0
	for _, c := range s {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			plain = false
			break
		}
	}
	b.WriteByte(' ')
	if plain {
		b.Write(s)
		return
	}
	b.WriteByte('"')
	for _, c := range s {
		if c == '"' || c == '\\' || c == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
}

// Comment returns the text of a rule's first comment match.
func Comment(matches []byte) ([]byte, bool) {
	var c []byte
	found := false
	ForEachMatch(matches, func(name []byte, _ uint8, data []byte) {
		if !found && string(name) == "comment" {
			c, found = cString(data), true
		}
	})
	return c, found
}

// SpecHash hashes what defines a rule: its address header, matches and
// target, but not its counters, position or chain. Equal rules hash equal
// in any table and across reloads.
//
// The hash is xxHash64: stable across processes and versions (a series
// name must survive a restart) and fast on the tens of thousands of rules
// a collection may hash.
func SpecHash(e *Entry) uint64 {
	var d xxhash.Digest
	d.Reset()
	d.Write(e.Header)
	ForEachMatch(e.Matches, func(name []byte, rev uint8, data []byte) {
		d.Write(name)
		d.Write([]byte{0, rev})
		d.Write(data)
	})
	d.Write(e.TargetName)
	d.Write([]byte{0, e.Target[extHdrLen-1]})
	d.Write(e.Target[extHdrLen:])
	return d.Sum64()
}
