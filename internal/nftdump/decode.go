package nftdump

import (
	"errors"
	"fmt"
)

// Attribute numbers of linux/netfilter/nf_tables.h, only those read here.
const (
	attrGenID = 1 // NFTA_GEN_ID

	attrChainTable    = 1 // NFTA_CHAIN_TABLE
	attrChainName     = 3 // NFTA_CHAIN_NAME
	attrChainHook     = 4 // NFTA_CHAIN_HOOK
	attrChainPolicy   = 5 // NFTA_CHAIN_POLICY
	attrChainType     = 7 // NFTA_CHAIN_TYPE
	attrChainCounters = 8 // NFTA_CHAIN_COUNTERS
	attrHookNum       = 1 // NFTA_HOOK_HOOKNUM

	attrRuleTable    = 1 // NFTA_RULE_TABLE
	attrRuleChain    = 2 // NFTA_RULE_CHAIN
	attrRuleHandle   = 3 // NFTA_RULE_HANDLE
	attrRuleExprs    = 4 // NFTA_RULE_EXPRESSIONS
	attrRuleUserData = 7 // NFTA_RULE_USERDATA

	attrListElem = 1 // NFTA_LIST_ELEM
	attrExprName = 1 // NFTA_EXPR_NAME
	attrExprData = 2 // NFTA_EXPR_DATA

	attrCounterBytes   = 1 // NFTA_COUNTER_BYTES
	attrCounterPackets = 2 // NFTA_COUNTER_PACKETS

	attrImmDreg     = 1 // NFTA_IMMEDIATE_DREG
	attrImmData     = 2 // NFTA_IMMEDIATE_DATA
	attrDataValue   = 1 // NFTA_DATA_VALUE
	attrDataVerdict = 2 // NFTA_DATA_VERDICT
	attrVerdictCode = 1 // NFTA_VERDICT_CODE
	attrVerdictName = 2 // NFTA_VERDICT_CHAIN

	attrXtName = 1 // NFTA_TARGET_NAME, NFTA_MATCH_NAME
	attrXtRev  = 2 // NFTA_TARGET_REV, NFTA_MATCH_REV
	attrXtInfo = 3 // NFTA_TARGET_INFO, NFTA_MATCH_INFO

	regVerdict = 0 // NFT_REG_VERDICT

	udataRuleComment = 0 // NFTNL_UDATA_RULE_COMMENT
)

// Verdict codes (linux/netfilter.h, nf_tables.h).
const (
	nfDrop   = 0
	nfAccept = 1
)

// Families of nfgenmsg.nfgen_family (NFPROTO_*).
const (
	FamilyINet   = 1
	FamilyIPv4   = 2
	FamilyARP    = 3
	FamilyNetdev = 5
	FamilyBridge = 7
	FamilyIPv6   = 10
)

// ParseGeneration reads the generation id of an NFT_MSG_NEWGEN payload.
func ParseGeneration(payload []byte) (uint32, error) {
	_, body, err := splitGen(payload)
	if err != nil {
		return 0, err
	}
	a := newAttrs(body)
	for a.next() {
		if a.typ == attrGenID {
			return be32(a.val)
		}
	}
	if a.err != nil {
		return 0, a.err
	}
	return 0, errors.New("generation message without an id")
}

func splitGen(payload []byte) (family uint8, body []byte, err error) {
	if len(payload) < nfgenHdrLen {
		return 0, nil, fmt.Errorf("message of %d bytes has no nfgenmsg header", len(payload))
	}
	return payload[0], payload[nfgenHdrLen:], nil
}

// Chain is the part of a chain the collector needs. Byte slices point into
// the message and are valid only as long as it is.
type Chain struct {
	Family      uint8
	Table, Name []byte
	Type        []byte // "filter", "nat", "route"; empty for regular chains
	Base        bool   // attached to a hook
	Hook        uint32 // NF_INET_* hook number, base chains only
	Policy      uint32 // NF_ACCEPT or NF_DROP, base chains only
	HasCounters bool   // the kernel keeps policy counters for this chain
	Packets     uint64 // packets that met the policy
	Bytes       uint64
}

// PolicyDrop reports whether the chain is a base chain whose policy drops.
func (c *Chain) PolicyDrop() bool { return c.Base && c.Policy == nfDrop }

// ParseChain decodes an NFT_MSG_NEWCHAIN payload.
func ParseChain(payload []byte, c *Chain) error {
	fam, body, err := splitGen(payload)
	if err != nil {
		return err
	}
	*c = Chain{Family: fam}
	a := newAttrs(body)
	for a.next() {
		switch a.typ {
		case attrChainTable:
			c.Table = cstr(a.val)
		case attrChainName:
			c.Name = cstr(a.val)
		case attrChainType:
			c.Type = cstr(a.val)
		case attrChainHook:
			c.Base = true
			h := newAttrs(a.val)
			for h.next() {
				if h.typ == attrHookNum {
					if c.Hook, err = be32(h.val); err != nil {
						return fmt.Errorf("chain hook: %w", err)
					}
				}
			}
			if h.err != nil {
				return fmt.Errorf("chain hook: %w", h.err)
			}
		case attrChainPolicy:
			if c.Policy, err = be32(a.val); err != nil {
				return fmt.Errorf("chain policy: %w", err)
			}
		case attrChainCounters:
			c.HasCounters = true
			if c.Packets, c.Bytes, err = parseCounter(a.val); err != nil {
				return fmt.Errorf("chain counters: %w", err)
			}
		}
	}
	if a.err != nil {
		return fmt.Errorf("chain: %w", a.err)
	}
	if len(c.Table) == 0 || len(c.Name) == 0 {
		return errors.New("chain without table or name")
	}
	return nil
}

// Rule is a rule as dumped, undecoded past its attributes. Byte slices point
// into the message.
type Rule struct {
	Family       uint8
	Table, Chain []byte
	Handle       uint64
	Exprs        []byte // the NFTA_RULE_EXPRESSIONS list
	UserData     []byte // NFTA_RULE_USERDATA: comment and other TLVs
}

// ParseRule decodes an NFT_MSG_NEWRULE payload's top level.
func ParseRule(payload []byte, r *Rule) error {
	fam, body, err := splitGen(payload)
	if err != nil {
		return err
	}
	*r = Rule{Family: fam}
	a := newAttrs(body)
	for a.next() {
		switch a.typ {
		case attrRuleTable:
			r.Table = cstr(a.val)
		case attrRuleChain:
			r.Chain = cstr(a.val)
		case attrRuleHandle:
			if r.Handle, err = be64(a.val); err != nil {
				return fmt.Errorf("rule handle: %w", err)
			}
		case attrRuleExprs:
			r.Exprs = a.val
		case attrRuleUserData:
			r.UserData = a.val
		}
	}
	if a.err != nil {
		return fmt.Errorf("rule: %w", a.err)
	}
	if len(r.Table) == 0 || len(r.Chain) == 0 {
		return errors.New("rule without table or chain")
	}
	return nil
}

// Comment returns the comment nft or iptables-nft stored in a rule's user
// data, if any.
func Comment(udata []byte) ([]byte, bool) {
	for len(udata) >= 2 {
		typ, l := udata[0], int(udata[1])
		if 2+l > len(udata) {
			return nil, false
		}
		if typ == udataRuleComment {
			return cstr(udata[2 : 2+l]), true
		}
		udata = udata[2+l:]
	}
	return nil, false
}

// ForEachExpr calls fn with the name and NFTA_EXPR_DATA of each expression
// of an NFTA_RULE_EXPRESSIONS list, in order.
func ForEachExpr(exprs []byte, fn func(name, data []byte) error) error {
	l := newAttrs(exprs)
	for l.next() {
		if l.typ != attrListElem {
			continue
		}
		var name, data []byte
		e := newAttrs(l.val)
		for e.next() {
			switch e.typ {
			case attrExprName:
				name = cstr(e.val)
			case attrExprData:
				data = e.val
			}
		}
		if e.err != nil {
			return fmt.Errorf("expression: %w", e.err)
		}
		if len(name) == 0 {
			return errors.New("expression without a name")
		}
		if err := fn(name, data); err != nil {
			return err
		}
	}
	if l.err != nil {
		return fmt.Errorf("expression list: %w", l.err)
	}
	return nil
}

// Verdict is what a rule does to the packets it matches, as far as the
// collector cares.
type Verdict uint8

const (
	VerdictOther  Verdict = iota // accept, jump, return, continue, none
	VerdictDrop                  // drop
	VerdictReject                // reject expression or xt REJECT target
)

func (v Verdict) String() string {
	switch v {
	case VerdictDrop:
		return "drop"
	case VerdictReject:
		return "reject"
	}
	return "other"
}

// Summary is a rule's verdict and the counter that counts its verdict.
type Summary struct {
	Verdict Verdict
	// Counted is true when a counter expression follows every expression
	// that can stop the rule from matching: only then does the counter
	// count exactly the packets the verdict applied to. A rule without
	// counter, or with a counter before a match, is not counted.
	Counted        bool
	Packets, Bytes uint64
}

// Summarize reads a rule's verdict and counter from its expression list.
func Summarize(exprs []byte) (Summary, error) {
	var s Summary
	err := ForEachExpr(exprs, func(name, data []byte) error {
		switch string(name) {
		case "counter":
			p, b, err := parseCounter(data)
			if err != nil {
				return fmt.Errorf("counter: %w", err)
			}
			s.Packets, s.Bytes, s.Counted = p, b, true
		case "immediate":
			code, ok, err := immediateVerdict(data)
			if err != nil {
				return fmt.Errorf("immediate: %w", err)
			}
			if ok && code&0xff == nfDrop && int32(code) >= 0 {
				s.Verdict = VerdictDrop
			}
		case "reject":
			s.Verdict = VerdictReject
		case "target":
			if string(xtName(data)) == "REJECT" {
				s.Verdict = VerdictReject
			}
		case "log":
			// Logs and never stops the rule.
		default:
			// Any other expression may end the rule without a match
			// (NFT_BREAK), so a counter before it counts packets the
			// verdict never saw.
			s.Counted = false
		}
		return nil
	})
	return s, err
}

func parseCounter(b []byte) (packets, bytes uint64, err error) {
	a := newAttrs(b)
	for a.next() {
		switch a.typ {
		case attrCounterBytes:
			if bytes, err = be64(a.val); err != nil {
				return 0, 0, err
			}
		case attrCounterPackets:
			if packets, err = be64(a.val); err != nil {
				return 0, 0, err
			}
		}
	}
	return packets, bytes, a.err
}

// immediateVerdict returns the verdict code an immediate expression loads
// into the verdict register; ok is false for a data load.
func immediateVerdict(b []byte) (code uint32, ok bool, err error) {
	var dreg uint32
	var data []byte
	a := newAttrs(b)
	for a.next() {
		switch a.typ {
		case attrImmDreg:
			if dreg, err = be32(a.val); err != nil {
				return 0, false, err
			}
		case attrImmData:
			data = a.val
		}
	}
	if a.err != nil || dreg != regVerdict {
		return 0, false, a.err
	}
	d := newAttrs(data)
	for d.next() {
		if d.typ != attrDataVerdict {
			continue
		}
		v := newAttrs(d.val)
		for v.next() {
			if v.typ == attrVerdictCode {
				code, err = be32(v.val)
				return code, err == nil, err
			}
		}
		if v.err != nil {
			return 0, false, v.err
		}
	}
	return 0, false, d.err
}

// xtName returns the extension name of a match or target expression.
func xtName(b []byte) []byte {
	a := newAttrs(b)
	for a.next() {
		if a.typ == attrXtName {
			return cstr(a.val)
		}
	}
	return nil
}
