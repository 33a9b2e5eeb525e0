package xtables

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Info is a table's struct ipt_getinfo: where each built-in chain starts
// (HookEntry) and where its policy rule is (Underflow), as offsets into the
// entries.
type Info struct {
	ValidHooks uint32
	HookEntry  [numHooks]uint32
	Underflow  [numHooks]uint32
	NumEntries uint32
	Size       uint32
}

const numHooks = 5 // NF_INET_NUMHOOKS

// HookNames are the built-in chains, by hook number.
var HookNames = [numHooks]string{"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}

// ParseInfo decodes a struct ipt_getinfo (ip6t_getinfo has the same layout).
func ParseInfo(b []byte) (Info, error) {
	if len(b) != getInfoLen {
		return Info{}, fmt.Errorf("getinfo: %d bytes, want %d", len(b), getInfoLen)
	}
	var in Info
	ne := binary.NativeEndian
	in.ValidHooks = ne.Uint32(b[32:])
	for h := 0; h < numHooks; h++ {
		in.HookEntry[h] = ne.Uint32(b[36+4*h:])
		in.Underflow[h] = ne.Uint32(b[56+4*h:])
	}
	in.NumEntries = ne.Uint32(b[76:])
	in.Size = ne.Uint32(b[80:])
	return in, nil
}

// Layout of struct ipt_entry / ip6t_entry and the extension headers, from
// linux/netfilter_ipv4/ip_tables.h and linux/netfilter/x_tables.h.
type layout struct {
	header   int // sizeof(struct ipt_ip) / ip6t_ip6
	targetOf int // offsetof target_offset; next_offset follows
	counters int // offsetof counters
	entry    int // sizeof(struct ipt_entry): where matches start
}

var layouts = map[Family]layout{
	IPv4: {header: 84, targetOf: 88, counters: 96, entry: 112},
	IPv6: {header: 136, targetOf: 140, counters: 152, entry: 168},
}

const (
	extHdrLen  = 32 // sizeof(struct xt_entry_match), xt_entry_target
	extNameLen = 29 // XT_EXTENSION_MAXNAMELEN
)

// Standard-target verdicts: -NF_x - 1, and XT_RETURN.
const (
	VerdictDrop   = -1
	VerdictAccept = -2
	VerdictReturn = -5
)

// Entry is one rule of a table, decoded as far as the collector needs. Byte
// slices point into the entries buffer.
type Entry struct {
	Chain   []byte // the chain the rule belongs to
	Builtin bool   // Chain is a built-in chain
	// Policy marks the built-in chain's policy: the last entry of the
	// chain, which iptables shows as the chain's policy and counters.
	Policy     bool
	Header     []byte // struct ipt_ip or ip6t_ip6
	Matches    []byte // the xt_entry_match list
	Target     []byte // the xt_entry_target with its data
	TargetName []byte // "" for the standard target (verdict or jump)
	Verdict    int32  // standard target's verdict or jump offset
	Packets    uint64
	Bytes      uint64
}

// Discarding reports whether the rule drops or rejects what it matches:
// "drop", "reject", or "" for any other verdict.
func (e *Entry) Discarding() string {
	switch {
	case len(e.TargetName) == 0 && e.Verdict == VerdictDrop:
		return "drop"
	case string(e.TargetName) == "REJECT":
		return "reject"
	}
	return ""
}

// Walk calls fn for every rule and every built-in chain policy of a table's
// entries, in table order. The chain head and end entries iptables creates
// for user-defined chains are not passed. fn must not keep e.
func Walk(fam Family, info Info, entries []byte, fn func(e *Entry) error) error {
	lay, ok := layouts[fam]
	if !ok {
		return fmt.Errorf("unknown family %d", fam)
	}
	if int(info.Size) != len(entries) {
		return fmt.Errorf("entries: %d bytes, table info says %d", len(entries), info.Size)
	}
	var hookAt, policyAt [numHooks]int
	for h := 0; h < numHooks; h++ {
		hookAt[h], policyAt[h] = -1, -1
		if info.ValidHooks&(1<<h) != 0 {
			hookAt[h], policyAt[h] = int(info.HookEntry[h]), int(info.Underflow[h])
		}
	}
	ne := binary.NativeEndian
	var e Entry
	var chain []byte
	builtin := false
	n := 0
	for off := 0; off < len(entries); n++ {
		if n >= int(info.NumEntries) {
			return fmt.Errorf("entries: more than the %d the table info says", info.NumEntries)
		}
		if len(entries)-off < lay.entry || off%8 != 0 {
			return fmt.Errorf("entry at %d: truncated or misaligned", off)
		}
		b := entries[off:]
		tOff := int(ne.Uint16(b[lay.targetOf:]))
		next := int(ne.Uint16(b[lay.targetOf+2:]))
		if tOff < lay.entry || next < tOff+extHdrLen || next > len(b) {
			return fmt.Errorf("entry at %d: target offset %d, next offset %d out of range", off, tOff, next)
		}
		b = b[:next]
		target := b[tOff:]
		tSize := int(ne.Uint16(target))
		if tSize < extHdrLen || tSize > len(target) {
			return fmt.Errorf("entry at %d: target size %d out of range", off, tSize)
		}
		target = target[:tSize]
		e = Entry{
			Header:     b[:lay.header],
			Matches:    b[lay.entry:tOff],
			Target:     target,
			TargetName: extName(target),
			Packets:    ne.Uint64(b[lay.counters:]),
			Bytes:      ne.Uint64(b[lay.counters+8:]),
		}
		if len(e.TargetName) == 0 {
			if tSize < extHdrLen+4 {
				return fmt.Errorf("entry at %d: standard target without verdict", off)
			}
			e.Verdict = int32(ne.Uint32(target[extHdrLen:]))
		}
		if err := checkMatches(e.Matches); err != nil {
			return fmt.Errorf("entry at %d: %w", off, err)
		}

		for h := 0; h < numHooks; h++ {
			if hookAt[h] == off {
				chain, builtin = []byte(HookNames[h]), true
			}
		}
		isPolicy := false
		for h := 0; h < numHooks; h++ {
			if policyAt[h] == off {
				isPolicy = true
			}
		}
		cur := off
		off += next
		if string(e.TargetName) == "ERROR" {
			// A chain head carries the name of the user-defined chain that
			// follows; the table ends with one named "ERROR".
			name := bytes.TrimRight(target[extHdrLen:], "\x00")
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			chain, builtin = name, false
			continue
		}
		if chain == nil {
			return fmt.Errorf("entry at %d: rule outside any chain", cur)
		}
		// iptables ends every user-defined chain with a RETURN entry it
		// does not show; it is the entry just before the next chain head.
		if !builtin && len(e.TargetName) == 0 && e.Verdict == VerdictReturn && isChainHead(entries, off, lay, hookAt) {
			continue
		}
		e.Chain, e.Builtin, e.Policy = chain, builtin, isPolicy
		if err := fn(&e); err != nil {
			return err
		}
	}
	return nil
}

// JumpTargets maps the offsets that jumps to user-defined chains carry to
// the chains' names. Only a rule's text needs it, so Walk does not pay for
// it.
func JumpTargets(fam Family, info Info, entries []byte) (map[int32][]byte, error) {
	lay, ok := layouts[fam]
	if !ok {
		return nil, fmt.Errorf("unknown family %d", fam)
	}
	out := map[int32][]byte{}
	ne := binary.NativeEndian
	for off, n := 0, 0; off < len(entries) && n < int(info.NumEntries); n++ {
		if len(entries)-off < lay.entry {
			return nil, fmt.Errorf("entry at %d: truncated", off)
		}
		b := entries[off:]
		tOff := int(ne.Uint16(b[lay.targetOf:]))
		next := int(ne.Uint16(b[lay.targetOf+2:]))
		if tOff < lay.entry || next < tOff+extHdrLen || next > len(b) {
			return nil, fmt.Errorf("entry at %d: offsets out of range", off)
		}
		// A jump lands on the first entry after the chain head; the
		// table's last entry is an ERROR entry too, but heads no chain.
		if t := b[tOff:next]; string(extName(t)) == "ERROR" && off+next < len(entries) {
			out[int32(off+next)] = cString(t[extHdrLen:])
		}
		off += next
	}
	return out, nil
}

// isChainHead reports whether the entry at off starts a chain (or is the
// table's end marker), or off is the end of the table.
func isChainHead(entries []byte, off int, lay layout, hookAt [numHooks]int) bool {
	if off >= len(entries) {
		return true
	}
	for _, h := range hookAt {
		if h == off {
			return true
		}
	}
	if len(entries)-off < lay.entry {
		return false
	}
	tOff := int(binary.NativeEndian.Uint16(entries[off+lay.targetOf:]))
	if off+tOff+extHdrLen > len(entries) {
		return false
	}
	return string(extName(entries[off+tOff:])) == "ERROR"
}

func checkMatches(m []byte) error {
	for len(m) > 0 {
		if len(m) < extHdrLen {
			return errors.New("truncated match")
		}
		sz := int(binary.NativeEndian.Uint16(m))
		if sz < extHdrLen || sz > len(m) {
			return fmt.Errorf("match size %d out of range", sz)
		}
		m = m[sz:]
	}
	return nil
}

// ForEachMatch calls fn with each match of a rule: its name, revision and
// data. The kernel writes only the name's bytes up to its NUL, so the rest
// of the name field is never read.
func ForEachMatch(matches []byte, fn func(name []byte, rev uint8, data []byte)) {
	for len(matches) >= extHdrLen {
		sz := int(binary.NativeEndian.Uint16(matches))
		if sz < extHdrLen || sz > len(matches) {
			return
		}
		m := matches[:sz]
		fn(extName(m), m[extHdrLen-1], m[extHdrLen:])
		matches = matches[sz:]
	}
}

// extName returns the name of an xt_entry_match or xt_entry_target header.
func extName(h []byte) []byte {
	name := h[2 : 2+extNameLen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		return name[:i]
	}
	return name
}
