package nftdump

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/netcause/netcause/internal/xtables"
)

// A rule's text is for people: native nftables rules are written in the
// notation `nft --debug=netlink list ruleset` prints (libnftnl's), rules of
// iptables-nft tables as iptables-save writes them. A rule's identity is
// SpecHash of its expressions, so a better rendering in a later version
// does not rename any series.

// More attribute numbers, for the text only.
const (
	attrPayloadDreg = 1
	attrPayloadBase = 2
	attrPayloadOff  = 3
	attrPayloadLen  = 4
	attrPayloadSreg = 5

	attrMetaDreg = 1
	attrMetaKey  = 2
	attrMetaSreg = 3

	attrCmpSreg = 1
	attrCmpOp   = 2
	attrCmpData = 3

	attrBitwiseSreg = 1
	attrBitwiseDreg = 2
	attrBitwiseMask = 4
	attrBitwiseXor  = 5
	attrBitwiseOp   = 6

	attrRangeSreg = 1
	attrRangeOp   = 2
	attrRangeFrom = 3
	attrRangeTo   = 4

	attrLookupSet   = 1
	attrLookupSreg  = 2
	attrLookupDreg  = 3
	attrLookupFlags = 5

	attrCtDreg = 1
	attrCtKey  = 2
	attrCtDir  = 3
	attrCtSreg = 4

	attrRejectType = 1
	attrRejectCode = 2

	attrQuotaBytes = 1
	attrQuotaFlags = 2

	attrLimitRate  = 1
	attrLimitUnit  = 2
	attrLimitBurst = 3
	attrLimitType  = 4
	attrLimitFlags = 5

	attrLogGroup      = 1
	attrLogPrefix     = 2
	attrLogSnaplen    = 3
	attrLogQThreshold = 4
	attrLogLevel      = 5
	attrLogFlags      = 6
)

var (
	payloadBases = []string{"link", "network", "transport", "inner"}
	cmpOps       = []string{"eq", "neq", "lt", "lte", "gt", "gte"}
	metaKeys     = []string{"len", "protocol", "priority", "mark", "iif", "oif", "iifname", "oifname",
		"iiftype", "oiftype", "skuid", "skgid", "nftrace", "rtclassid", "secmark", "nfproto", "l4proto",
		"bri_iifname", "bri_oifname", "pkttype", "cpu", "iifgroup", "oifgroup", "cgroup", "prandom",
		"secpath", "iifkind", "oifkind", "bri_iifpvid", "bri_iifvproto", "time", "day", "hour", "sdif",
		"sdifname", "bri_broute"}
	ctKeys = []string{"state", "direction", "status", "mark", "secmark", "expiration", "helper",
		"l3protocol", "src", "dst", "protocol", "proto-src", "proto-dst", "label", "packets", "bytes",
		"avgpkt", "zone", "event", "src_ip", "dst_ip", "src_ip6", "dst_ip6", "id"}
)

func name(names []string, i uint32) string {
	if int(i) < len(names) {
		return names[i]
	}
	return strconv.Itoa(int(i))
}

// exprAttrs holds an expression's attributes by number: raw, as a 32-bit
// big-endian value when four bytes long, and the content of a nested
// NFTA_DATA_VALUE.
type exprAttrs struct {
	u32  [16]uint32
	has  uint32     // bit n: u32[n] set
	data [16][]byte // nested NFTA_DATA_VALUE contents
	raw  [16][]byte
}

func (x *exprAttrs) str(t int) []byte { return cstr(x.raw[t]) }

func readExprAttrs(b []byte) (exprAttrs, error) {
	var x exprAttrs
	a := newAttrs(b)
	for a.next() {
		t := a.typ
		if t >= 16 {
			continue
		}
		x.raw[t] = a.val
		if len(a.val) == 4 {
			x.u32[t] = binary.BigEndian.Uint32(a.val)
			x.has |= 1 << t
		}
		if len(a.val) >= 4 && binary.NativeEndian.Uint16(a.val[2:])&nlaTypeMask == attrDataValue {
			d := newAttrs(a.val)
			if d.next() && d.typ == attrDataValue {
				x.data[t] = d.val
			}
		}
	}
	return x, a.err
}

func (x *exprAttrs) get(t int) (uint32, bool) { return x.u32[t], x.has&(1<<t) != 0 }

// writeWords writes register data the way libnftnl does: 32-bit words in
// host order.
func writeWords(b *strings.Builder, d []byte) {
	for i := 0; i < len(d); i += 4 {
		var w [4]byte
		copy(w[:], d[i:])
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(b, "0x%08x", binary.NativeEndian.Uint32(w[:]))
	}
}

func verdictName(code int32, chain []byte) string {
	switch code {
	case nfDrop:
		return "drop"
	case nfAccept:
		return "accept"
	case 3:
		return "queue"
	case -1:
		return "continue"
	case -2:
		return "break"
	case -3:
		return "jump -> " + string(chain)
	case -4:
		return "goto -> " + string(chain)
	case -5:
		return "return"
	}
	return "verdict " + strconv.Itoa(int(code))
}

// immediateText returns the verdict or data an immediate expression loads.
func immediateText(data []byte) string {
	var dreg uint32
	var payload []byte
	a := newAttrs(data)
	for a.next() {
		switch a.typ {
		case attrImmDreg:
			dreg, _ = be32(a.val)
		case attrImmData:
			payload = a.val
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "reg %d ", dreg)
	d := newAttrs(payload)
	for d.next() {
		switch d.typ {
		case attrDataValue:
			writeWords(&b, d.val)
		case attrDataVerdict:
			var code uint32
			var chain []byte
			v := newAttrs(d.val)
			for v.next() {
				switch v.typ {
				case attrVerdictCode:
					code, _ = be32(v.val)
				case attrVerdictName:
					chain = cstr(v.val)
				}
			}
			b.WriteString(verdictName(int32(code), chain))
		}
	}
	return b.String()
}

// exprText writes one expression in libnftnl's notation. Counters are
// written without their values, which change from scrape to scrape.
func exprText(b *strings.Builder, exprName, data []byte) {
	x, err := readExprAttrs(data)
	b.WriteString("[ ")
	if err != nil {
		fmt.Fprintf(b, "%s %s ]", exprName, hex.EncodeToString(data))
		return
	}
	switch string(exprName) {
	case "payload":
		if sreg, ok := x.get(attrPayloadSreg); ok {
			fmt.Fprintf(b, "payload write reg %d => %db @ %s header + %d", sreg, x.u32[attrPayloadLen],
				name(payloadBases, x.u32[attrPayloadBase]), x.u32[attrPayloadOff])
		} else {
			fmt.Fprintf(b, "payload load %db @ %s header + %d => reg %d", x.u32[attrPayloadLen],
				name(payloadBases, x.u32[attrPayloadBase]), x.u32[attrPayloadOff], x.u32[attrPayloadDreg])
		}
	case "meta":
		if sreg, ok := x.get(attrMetaSreg); ok {
			fmt.Fprintf(b, "meta set %s with reg %d", name(metaKeys, x.u32[attrMetaKey]), sreg)
		} else {
			fmt.Fprintf(b, "meta load %s => reg %d", name(metaKeys, x.u32[attrMetaKey]), x.u32[attrMetaDreg])
		}
	case "ct":
		if sreg, ok := x.get(attrCtSreg); ok {
			fmt.Fprintf(b, "ct set %s with reg %d", name(ctKeys, x.u32[attrCtKey]), sreg)
		} else {
			fmt.Fprintf(b, "ct load %s => reg %d", name(ctKeys, x.u32[attrCtKey]), x.u32[attrCtDreg])
			if dir, ok := x.get(attrCtDir); ok {
				fmt.Fprintf(b, " , dir %s", map[bool]string{true: "original", false: "reply"}[dir == 0])
			}
		}
	case "cmp":
		fmt.Fprintf(b, "cmp %s reg %d ", name(cmpOps, x.u32[attrCmpOp]), x.u32[attrCmpSreg])
		writeWords(b, x.data[attrCmpData])
	case "range":
		fmt.Fprintf(b, "range %s reg %d ", name(cmpOps, x.u32[attrRangeOp]), x.u32[attrRangeSreg])
		writeWords(b, x.data[attrRangeFrom])
		b.WriteByte(' ')
		writeWords(b, x.data[attrRangeTo])
	case "bitwise":
		fmt.Fprintf(b, "bitwise reg %d = ( reg %d & ", x.u32[attrBitwiseDreg], x.u32[attrBitwiseSreg])
		writeWords(b, x.data[attrBitwiseMask])
		b.WriteString(" ) ^ ")
		writeWords(b, x.data[attrBitwiseXor])
		if op, ok := x.get(attrBitwiseOp); ok && op != 0 {
			fmt.Fprintf(b, " op %d", op)
		}
	case "lookup":
		fmt.Fprintf(b, "lookup reg %d set %s", x.u32[attrLookupSreg], x.str(attrLookupSet))
		if dreg, ok := x.get(attrLookupDreg); ok {
			fmt.Fprintf(b, " dreg %d", dreg)
		}
		fmt.Fprintf(b, " 0x%x", x.u32[attrLookupFlags])
	case "immediate":
		b.WriteString("immediate " + immediateText(data))
	case "counter":
		b.WriteString("counter")
	case "last":
		b.WriteString("last")
	case "quota":
		// The bytes consumed change with traffic: left out, like counters.
		fmt.Fprintf(b, "quota bytes %d flags %d", be64OrZero(x.raw[attrQuotaBytes]), x.u32[attrQuotaFlags])
	case "limit":
		unit := map[uint64]string{1: "second", 60: "minute", 3600: "hour", 86400: "day", 604800: "week"}[be64OrZero(x.raw[attrLimitUnit])]
		typ := "packets"
		if x.u32[attrLimitType] == 1 {
			typ = "bytes"
		}
		fmt.Fprintf(b, "limit rate %d/%s burst %d type %s flags 0x%x", be64OrZero(x.raw[attrLimitRate]), unit,
			x.u32[attrLimitBurst], typ, x.u32[attrLimitFlags])
	case "log":
		b.WriteString("log")
		if p := x.raw[attrLogPrefix]; p != nil {
			fmt.Fprintf(b, " prefix %s", cstr(p))
		}
		if g, ok := x.get(attrLogGroup); ok {
			fmt.Fprintf(b, " group %d snaplen %d qthreshold %d", g, x.u32[attrLogSnaplen], x.u32[attrLogQThreshold])
		} else {
			if l, ok := x.get(attrLogLevel); ok {
				fmt.Fprintf(b, " level %d", l)
			}
			if f, ok := x.get(attrLogFlags); ok {
				fmt.Fprintf(b, " flags %d", f)
			}
		}
	case "reject":
		fmt.Fprintf(b, "reject type %d code %d", x.u32[attrRejectType], firstByte(x.raw[attrRejectCode]))
	case "match", "target":
		rev, _ := x.get(attrXtRev)
		fmt.Fprintf(b, "%s name %s rev %d", exprName, x.str(attrXtName), rev)
	default:
		b.Write(exprName)
		if len(data) > 0 {
			b.WriteString(" " + hex.EncodeToString(data))
		}
	}
	b.WriteString(" ]")
}

func be64OrZero(b []byte) uint64 {
	v, _ := be64(b)
	return v
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// FormatNative writes a rule in libnftnl's notation, one bracketed
// expression after another.
func FormatNative(exprs []byte) string {
	var b strings.Builder
	_ = ForEachExpr(exprs, func(n, d []byte) error {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		exprText(&b, n, d)
		return nil
	})
	return b.String()
}

// SpecHash hashes what defines a rule: its expressions, without counter
// values and the other state the kernel reports (quota used, last seen).
// Equal rules hash equal across reloads and positions. xxHash64, as
// xtables.SpecHash: stable, and fast on tens of thousands of rules.
func SpecHash(exprs []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	_ = ForEachExpr(exprs, func(n, data []byte) error {
		d.Write(n)
		d.Write([]byte{0})
		switch string(n) {
		case "counter", "last":
		case "quota":
			a := newAttrs(data)
			for a.next() {
				if a.typ == attrQuotaBytes || a.typ == attrQuotaFlags {
					d.Write(a.val)
				}
			}
		default:
			d.Write(data)
		}
		return nil
	})
	return d.Sum64()
}

// XtComment returns the comment of a rule: its user-data comment (nft) or
// its xt comment match (iptables-nft).
func XtComment(r *Rule) ([]byte, bool) {
	if c, ok := Comment(r.UserData); ok {
		return c, true
	}
	var c []byte
	found := false
	_ = ForEachExpr(r.Exprs, func(n, d []byte) error {
		if found || string(n) != "match" {
			return nil
		}
		x, err := readExprAttrs(d)
		if err == nil && string(x.str(attrXtName)) == "comment" {
			c, found = cstr(x.raw[attrXtInfo]), true
		}
		return nil
	})
	return c, found
}

// register contents the iptables-nft translation understands.
type regLoad struct {
	kind   string // "meta", "payload"
	key    uint32 // meta key
	base   uint32 // payload base
	off    uint32
	length uint32
	mask   []byte
	texts  []string // the notation of the loads, for a fallback
}

// FormatXtables writes a rule of an iptables-nft table the way
// iptables-nft-save does: "-A CHAIN -s 10.0.0.0/8 -p tcp -m tcp --dport 80
// -j DROP". Expressions outside the patterns iptables-nft generates are
// written in libnftnl's notation in their place.
func FormatXtables(r *Rule) string {
	fam := xtables.IPv4
	if r.Family == FamilyIPv6 {
		fam = xtables.IPv6
	}
	var src, dst, in, out, proto, frag string
	var rest strings.Builder
	// Loads wait in pending until an expression consumes their register;
	// anything that cannot be translated writes every pending load first,
	// so the fallback text keeps the rule's expression order.
	var regs [32]*regLoad
	var pending []*regLoad
	take := func(reg uint32) *regLoad {
		if reg >= 32 || regs[reg] == nil {
			return nil
		}
		l := regs[reg]
		regs[reg] = nil
		for i, p := range pending {
			if p == l {
				pending = append(pending[:i], pending[i+1:]...)
				break
			}
		}
		return l
	}
	l4 := ""
	var ports []string // pending --sport/--dport options of l4
	flushPorts := func() {
		if len(ports) > 0 {
			rest.WriteString(" -m " + l4 + strings.Join(ports, ""))
			ports = ports[:0]
		}
	}
	fallback := func(load *regLoad, n, d []byte) {
		flushPorts()
		if load != nil {
			pending = append(pending, load)
		}
		for _, p := range pending {
			for _, t := range p.texts {
				rest.WriteString(" " + t)
			}
		}
		pending = pending[:0]
		regs = [32]*regLoad{}
		var t strings.Builder
		exprText(&t, n, d)
		rest.WriteString(" " + t.String())
	}
	_ = ForEachExpr(r.Exprs, func(n, d []byte) error {
		x, err := readExprAttrs(d)
		if err != nil {
			fallback(nil, n, d)
			return nil
		}
		var t strings.Builder
		exprText(&t, n, d)
		switch string(n) {
		case "meta":
			if _, set := x.get(attrMetaSreg); !set {
				if reg := x.u32[attrMetaDreg]; reg < 32 {
					take(reg)
					regs[reg] = &regLoad{kind: "meta", key: x.u32[attrMetaKey], texts: []string{t.String()}}
					pending = append(pending, regs[reg])
					return nil
				}
			}
		case "payload":
			if _, set := x.get(attrPayloadSreg); !set {
				if reg := x.u32[attrPayloadDreg]; reg < 32 {
					take(reg)
					regs[reg] = &regLoad{kind: "payload", base: x.u32[attrPayloadBase], off: x.u32[attrPayloadOff],
						length: x.u32[attrPayloadLen], texts: []string{t.String()}}
					pending = append(pending, regs[reg])
					return nil
				}
			}
		case "bitwise":
			s, dr := x.u32[attrBitwiseSreg], x.u32[attrBitwiseDreg]
			if s == dr && s < 32 && regs[s] != nil && allZero(x.data[attrBitwiseXor]) && x.u32[attrBitwiseOp] == 0 {
				regs[s].mask = x.data[attrBitwiseMask]
				regs[s].texts = append(regs[s].texts, t.String())
				return nil
			}
		case "cmp":
			reg, op := x.u32[attrCmpSreg], x.u32[attrCmpOp]
			load := take(reg)
			if load != nil && (op == 0 || op == 1) {
				inv := ""
				if op == 1 {
					inv = "! "
				}
				v := x.data[attrCmpData]
				switch {
				case load.kind == "meta" && load.key == 16 && len(v) == 1: // l4proto
					proto = inv + "-p " + xtables.ProtoName(int(v[0]))
					flushPorts()
					l4 = xtables.ProtoName(int(v[0]))
					return nil
				case load.kind == "meta" && (load.key == 6 || load.key == 7): // iifname, oifname
					nm := string(cstr(v))
					if len(v) < 16 && len(cstr(v)) == len(v) {
						nm += "+"
					}
					if load.key == 6 {
						in = inv + "-i " + nm
					} else {
						out = inv + "-o " + nm
					}
					return nil
				case load.kind == "meta" && load.key == 3 && len(v) == 4: // mark
					flushPorts()
					rest.WriteString(" -m mark " + inv + "--mark " + fmt.Sprintf("0x%x", binary.NativeEndian.Uint32(v)))
					if len(load.mask) == 4 {
						rest.WriteString(fmt.Sprintf("/0x%x", binary.NativeEndian.Uint32(load.mask)))
					}
					return nil
				case load.kind == "payload" && load.base == 1 && load.off == 6 && load.length == 2 && fam == xtables.IPv4 &&
					len(load.mask) == 2 && binary.BigEndian.Uint16(load.mask) == 0x1fff && allZero(v):
					// -f: a fragment offset other than zero; the
					// comparison is inverted for "! -f".
					if op == 1 {
						frag = "-f"
					} else {
						frag = "! -f"
					}
					return nil
				case load.kind == "payload" && load.base == 2 && load.off == 13 && load.length == 1 && l4 == "tcp" &&
					len(load.mask) == 1 && len(v) == 1:
					flags := " --tcp-flags " + xtables.TCPFlags(load.mask[0]) + " " + xtables.TCPFlags(v[0])
					if inv != "" {
						flags = " !" + flags
					}
					ports = append(ports, flags)
					return nil
				case load.kind == "payload" && load.base == 1:
					if s, which, ok := addrMatch(fam, load, v); ok {
						if which == 's' {
							src = inv + "-s " + s
						} else {
							dst = inv + "-d " + s
						}
						return nil
					}
				case load.kind == "payload" && load.base == 2 && load.length == 2 && len(v) == 2 && load.mask == nil &&
					(load.off == 0 || load.off == 2) && (l4 == "tcp" || l4 == "udp"):
					// len(v): the compared value comes from the kernel's
					// attribute, not from the load's length, and may be
					// shorter (found by FuzzParseRule).
					opt := " --sport "
					if load.off == 2 {
						opt = " --dport "
					}
					if inv != "" {
						opt = " !" + opt
					}
					ports = append(ports, opt+strconv.Itoa(int(binary.BigEndian.Uint16(v))))
					return nil
				}
			}
			fallback(load, n, d)
			return nil
		case "range":
			reg, op := x.u32[attrRangeSreg], x.u32[attrRangeOp]
			load := take(reg)
			from, to := x.data[attrRangeFrom], x.data[attrRangeTo]
			if load != nil && load.kind == "payload" && load.base == 2 && load.length == 2 && len(from) == 2 &&
				len(to) == 2 && (load.off == 0 || load.off == 2) && (op == 0 || op == 1) && (l4 == "tcp" || l4 == "udp") {
				opt := " --sport "
				if load.off == 2 {
					opt = " --dport "
				}
				if op == 1 {
					opt = " !" + opt
				}
				ports = append(ports, fmt.Sprintf("%s%d:%d", opt, binary.BigEndian.Uint16(from), binary.BigEndian.Uint16(to)))
				return nil
			}
			fallback(load, n, d)
			return nil
		case "counter":
			return nil
		case "limit":
			// iptables-nft turns -m limit into a native limit.
			rate, unit := be64OrZero(x.raw[attrLimitRate]), be64OrZero(x.raw[attrLimitUnit])
			if rate > 0 && unit > 0 && x.u32[attrLimitType] == 0 && x.u32[attrLimitFlags] == 0 && 10000*unit/rate <= 1<<32-1 {
				flushPorts()
				rest.WriteString(" -m limit --limit " + xtables.FormatRate(uint32(10000*unit/rate)))
				if burst := x.u32[attrLimitBurst]; burst != 5 {
					rest.WriteString(" --limit-burst " + strconv.Itoa(int(burst)))
				}
				return nil
			}
		case "match":
			flushPorts()
			var mb strings.Builder
			rev, _ := x.get(attrXtRev)
			xtables.FormatMatch(&mb, fam, string(x.str(attrXtName)), uint8(rev), x.raw[attrXtInfo])
			rest.WriteString(mb.String())
			return nil
		case "target":
			flushPorts()
			var tb strings.Builder
			rev, _ := x.get(attrXtRev)
			xtables.FormatTarget(&tb, fam, string(x.str(attrXtName)), uint8(rev), x.raw[attrXtInfo])
			rest.WriteString(tb.String())
			return nil
		case "immediate":
			if code, ok, _ := immediateVerdict(d); ok {
				flushPorts()
				rest.WriteString(xtVerdict(int32(code), d))
				return nil
			}
		}
		fallback(nil, n, d)
		return nil
	})
	flushPorts()
	var b strings.Builder
	b.WriteString("-A ")
	b.Write(r.Chain)
	for _, p := range []string{src, dst, in, out, proto, frag} {
		if p != "" {
			b.WriteString(" " + p)
		}
	}
	b.WriteString(rest.String())
	return b.String()
}

func xtVerdict(code int32, data []byte) string {
	switch code {
	case nfDrop:
		return " -j DROP"
	case nfAccept:
		return " -j ACCEPT"
	case -5:
		return " -j RETURN"
	case -3, -4:
		t := immediateText(data)
		chain := t[strings.LastIndex(t, "-> ")+3:]
		if code == -4 {
			return " -g " + chain
		}
		return " -j " + chain
	}
	return " [ immediate " + immediateText(data) + " ]"
}

// addrMatch turns a network-header load compared with v into an address
// prefix, if the load is an iptables-nft source or destination match.
func addrMatch(fam xtables.Family, load *regLoad, v []byte) (string, byte, bool) {
	size, srcOff, dstOff := 4, uint32(12), uint32(16)
	if fam == xtables.IPv6 {
		size, srcOff, dstOff = 16, 8, 24
	}
	var which byte
	switch load.off {
	case srcOff:
		which = 's'
	case dstOff:
		which = 'd'
	default:
		return "", 0, false
	}
	if int(load.length) > size || int(load.length) != len(v) || load.length == 0 {
		return "", 0, false
	}
	addr := make([]byte, size)
	mask := make([]byte, size)
	copy(addr, v)
	for i := 0; i < int(load.length); i++ {
		mask[i] = 0xff
	}
	if load.mask != nil {
		if len(load.mask) != len(v) {
			return "", 0, false
		}
		copy(mask, load.mask)
	}
	return xtables.FormatPrefix(addr, mask), which, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
