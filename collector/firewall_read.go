package collector

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/netcause/netcause/internal/nftdump"
	"github.com/netcause/netcause/internal/xtables"
)

// Backends, the values of the backend label.
const (
	backendLegacy = "iptables-legacy"
	backendXtNFT  = "iptables-nft"
	backendNFT    = "nftables"
)

// fwSources are the kernel handles of one collection, opened inside the
// target namespace.
type fwSources struct {
	nft    *nftdump.Conn
	nftErr error
	legacy []legacySource
}

type legacySource struct {
	fam    xtables.Family
	tables []string
	sock   *xtables.Socket
	err    error
}

func openFirewallSources(procNet string) *fwSources {
	s := &fwSources{}
	s.nft, s.nftErr = nftdump.Open()
	for _, fam := range []xtables.Family{xtables.IPv4, xtables.IPv6} {
		ls := legacySource{fam: fam}
		ls.tables, ls.err = xtables.TableNames(procNet, fam)
		if ls.err == nil && len(ls.tables) > 0 {
			ls.sock, ls.err = xtables.Open(fam)
		}
		s.legacy = append(s.legacy, ls)
	}
	return s
}

func (s *fwSources) close() {
	if s.nft != nil {
		s.nft.Close()
	}
	for _, l := range s.legacy {
		if l.sock != nil {
			l.sock.Close()
		}
	}
}

// fwRule is one discarding rule or DROP policy as read.
type fwRule struct {
	family, table, chain, verdict, backend string
	ident                                  string // comment, hash, or rulePolicy
	text                                   string
	counted                                bool
	packets, bytes                         uint64
}

type fwCountKey struct{ family, backend string }

// fwRead is what one collection read, before aggregation.
type fwRead struct {
	rules  []fwRule
	counts map[fwCountKey]int
	errs   []error
}

// fwReader holds what one namespace's collections reuse: the buffer for
// legacy tables, which may be tens of megabytes, and the text of rules,
// which needs rendering only when a rule is new.
type fwReader struct {
	legacyBuf []byte
	texts     map[textKey]string
	nextTexts map[textKey]string
	intern    map[string]string
}

// textKey names a rule's text: the text starts with "-A CHAIN", so equal
// rules of two chains have two texts.
type textKey struct {
	backend, chain string
	hash           uint64
}

func (r *fwReader) begin() {
	r.nextTexts = make(map[textKey]string, len(r.texts))
	if r.intern == nil || len(r.intern) > 4096 {
		r.intern = map[string]string{}
	}
}

func (r *fwReader) end() { r.texts, r.nextTexts = r.nextTexts, nil }

// text returns the cached text of a rule or renders it.
func (r *fwReader) text(k textKey, render func() string) string {
	t, ok := r.nextTexts[k]
	if !ok {
		if t, ok = r.texts[k]; !ok {
			t = render()
		}
		r.nextTexts[k] = t
	}
	return t
}

// str returns b as a string, allocating once per distinct value.
func (r *fwReader) str(b []byte) string {
	if s, ok := r.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	r.intern[s] = s
	return s
}

func (c *firewallCollector) collect(st *fwState, src *fwSources) *fwView {
	start := time.Now()
	st.reader.begin()
	rd := &fwRead{counts: map[fwCountKey]int{}}
	nftOK := readNFT(&st.reader, src, rd)
	legacyOK := readLegacy(&st.reader, src, rd)
	st.reader.end()
	if !nftOK && !legacyOK {
		// Neither source answered: whatever the reasons, nothing about
		// this namespace's firewall is known.
		rd.errs = append(rd.errs, errors.New("firewall: neither nf_tables nor legacy iptables tables readable"))
	}
	v := aggregateFirewall(rd, c.maxRules, st.shown)
	st.shown = v.shown
	v.when = time.Now()
	v.took = v.when.Sub(start)
	return v
}

// absentNFT reports errors that mean the kernel has no nf_tables here, as
// opposed to nf_tables refusing us.
func absentNFT(err error) bool {
	return errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EAFNOSUPPORT)
}

// readNFT reads every nf_tables chain and rule. It reports whether
// nf_tables answered; its absence is an error only if legacy tables cannot
// be read either (the caller decides).
func readNFT(r *fwReader, src *fwSources, rd *fwRead) bool {
	if src.nftErr != nil {
		if !absentNFT(src.nftErr) {
			rd.errs = append(rd.errs, src.nftErr)
		}
		return false
	}
	var rules []fwRule
	var counts map[fwCountKey]int
	var err error
	// A ruleset change between the chain list and the last rule dump gives
	// a mix of two rulesets; read again, a bounded number of times.
	for attempt := 0; attempt < 3; attempt++ {
		var gen1, gen2 uint32
		if gen1, err = src.nft.Generation(); err != nil {
			break
		}
		rules, counts, err = readNFTOnce(r, src.nft)
		if errors.Is(err, nftdump.ErrInterrupted) {
			continue
		}
		if err != nil {
			break
		}
		if gen2, err = src.nft.Generation(); err != nil || gen1 == gen2 {
			break
		}
	}
	if errors.Is(err, nftdump.ErrInterrupted) {
		err = nil // still changing: serve the last read, each rule's counters are its own
	}
	if err != nil {
		if !absentNFT(err) {
			rd.errs = append(rd.errs, fmt.Errorf("nf_tables: %w", err))
		}
		return false
	}
	rd.rules = append(rd.rules, rules...)
	for k, n := range counts {
		rd.counts[k] += n
	}
	return true
}

// nftChainRef locates one chain in a chainList's name arena.
type nftChainRef struct {
	family         uint8
	table, name    [2]int // offsets into names
	policyDrop     bool
	counted        bool
	packets, bytes uint64
}

// chainList keeps the chains of a dump with their names in one arena, so
// tens of thousands of chains cost a few allocations.
type chainList struct {
	names  []byte
	chains []nftChainRef
	tables map[tableKey]*nftTable
}

type tableKey struct {
	family uint8
	name   string
}

type nftTable struct {
	backend string
	// xtShaped stays true while every base chain has an iptables name.
	xtShaped, hasBase bool
}

func (l *chainList) add(b []byte) [2]int {
	s := len(l.names)
	l.names = append(l.names, b...)
	return [2]int{s, len(l.names)}
}

func (l *chainList) get(r [2]int) []byte { return l.names[r[0]:r[1]] }

// xtTables are the tables iptables-nft creates, and xtChains their base
// chains: a table of that shape is reported as iptables-nft.
var (
	xtTables = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true}
	xtChains = map[string]bool{"PREROUTING": true, "INPUT": true, "FORWARD": true, "OUTPUT": true, "POSTROUTING": true}
)

func readNFTOnce(r *fwReader, conn *nftdump.Conn) ([]fwRule, map[fwCountKey]int, error) {
	l := chainList{tables: map[tableKey]*nftTable{}}
	var ch nftdump.Chain
	err := conn.DumpChains(0, func(p []byte) error {
		if err := nftdump.ParseChain(p, &ch); err != nil {
			return err
		}
		tk := tableKey{ch.Family, r.str(ch.Table)}
		t := l.tables[tk]
		if t == nil {
			t = &nftTable{xtShaped: (ch.Family == nftdump.FamilyIPv4 || ch.Family == nftdump.FamilyIPv6) && xtTables[tk.name]}
			l.tables[tk] = t
		}
		if ch.Base {
			t.hasBase = true
			if !xtChains[string(ch.Name)] {
				t.xtShaped = false
			}
		}
		l.chains = append(l.chains, nftChainRef{
			family: ch.Family, table: l.add(ch.Table), name: l.add(ch.Name),
			policyDrop: ch.PolicyDrop(), counted: ch.HasCounters, packets: ch.Packets, bytes: ch.Bytes,
		})
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("chain dump: %w", err)
	}
	for _, t := range l.tables {
		t.backend = backendNFT
		if t.xtShaped && t.hasBase {
			t.backend = backendXtNFT
		}
	}

	var rules []fwRule
	counts := map[fwCountKey]int{}
	var rule nftdump.Rule
	for _, cr := range l.chains {
		table, chain := l.get(cr.table), l.get(cr.name)
		t := l.tables[tableKey{cr.family, string(table)}]
		family := nftFamilyName(cr.family)
		n := 0
		err := conn.DumpRules(cr.family, table, chain, func(p []byte) error {
			if err := nftdump.ParseRule(p, &rule); err != nil {
				return err
			}
			n++
			s, err := nftdump.Summarize(rule.Exprs)
			if err != nil {
				return fmt.Errorf("%s %s %s rule %d: %w", family, table, chain, rule.Handle, err)
			}
			if s.Verdict == nftdump.VerdictOther {
				return nil
			}
			hash := nftdump.SpecHash(rule.Exprs)
			ident := hashIdent(hash)
			if c, ok := nftdump.XtComment(&rule); ok && len(c) > 0 {
				ident = string(c)
			}
			text := r.text(textKey{t.backend, r.str(chain), hash}, func() string {
				if t.backend == backendXtNFT {
					return nftdump.FormatXtables(&rule)
				}
				return nftdump.FormatNative(rule.Exprs)
			})
			rules = append(rules, fwRule{
				family: family, table: r.str(table), chain: r.str(chain), verdict: s.Verdict.String(),
				backend: t.backend, ident: ident, text: text,
				counted: s.Counted, packets: s.Packets, bytes: s.Bytes,
			})
			return nil
		})
		// A chain deleted since the chain dump has no rules, no error; the
		// generation check then reads again.
		if err != nil {
			return nil, nil, err
		}
		counts[fwCountKey{family, t.backend}] += n
		if cr.policyDrop {
			rules = append(rules, fwRule{
				family: family, table: r.str(table), chain: r.str(chain), verdict: "drop",
				backend: t.backend, ident: rulePolicy, counted: cr.counted, packets: cr.packets, bytes: cr.bytes,
			})
		}
	}
	return rules, counts, nil
}

func nftFamilyName(f uint8) string {
	switch f {
	case nftdump.FamilyIPv4:
		return "ipv4"
	case nftdump.FamilyIPv6:
		return "ipv6"
	case nftdump.FamilyINet:
		return "inet"
	case nftdump.FamilyARP:
		return "arp"
	case nftdump.FamilyBridge:
		return "bridge"
	case nftdump.FamilyNetdev:
		return "netdev"
	}
	return "family" + strconv.Itoa(int(f))
}

func hashIdent(h uint64) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := range b {
		b[i] = digits[(h>>(60-4*i))&0xf]
	}
	return string(b[:])
}

// readLegacy reads every legacy table the namespace has. It reports whether
// the legacy tables could be read (true also when there are none).
func readLegacy(r *fwReader, src *fwSources, rd *fwRead) bool {
	ok := true
	for _, ls := range src.legacy {
		if ls.err != nil {
			rd.errs = append(rd.errs, fmt.Errorf("legacy %s tables: %w", ls.fam, ls.err))
			ok = false
			continue
		}
		family := ls.fam.String()
		for _, table := range ls.tables {
			info, entries, buf, err := ls.sock.Read(table, r.legacyBuf)
			r.legacyBuf = buf
			if errors.Is(err, syscall.ENOENT) {
				continue // the table went away since ip_tables_names was read
			}
			if err != nil {
				rd.errs = append(rd.errs, fmt.Errorf("legacy: %w", err))
				ok = false
				continue
			}
			n := 0
			err = xtables.Walk(ls.fam, info, entries, func(e *xtables.Entry) error {
				if e.Policy {
					if e.Verdict == xtables.VerdictDrop && len(e.TargetName) == 0 {
						rd.rules = append(rd.rules, fwRule{
							family: family, table: r.str([]byte(table)), chain: r.str(e.Chain), verdict: "drop",
							backend: backendLegacy, ident: rulePolicy, counted: true, packets: e.Packets, bytes: e.Bytes,
						})
					}
					return nil
				}
				n++
				verdict := e.Discarding()
				if verdict == "" {
					return nil
				}
				hash := xtables.SpecHash(e)
				ident := hashIdent(hash)
				if c, ok := xtables.Comment(e.Matches); ok && len(c) > 0 {
					ident = string(c)
				}
				rd.rules = append(rd.rules, fwRule{
					family: family, table: r.str([]byte(table)), chain: r.str(e.Chain), verdict: verdict,
					backend: backendLegacy, ident: ident,
					text:    r.text(textKey{backendLegacy, r.str(e.Chain), hash}, func() string { return xtables.Format(ls.fam, e, nil) }),
					counted: true, packets: e.Packets, bytes: e.Bytes,
				})
				return nil
			})
			if err != nil {
				rd.errs = append(rd.errs, fmt.Errorf("legacy %s table %s: %w", family, table, err))
				ok = false
			}
			rd.counts[fwCountKey{family, backendLegacy}] += n
		}
	}
	return ok
}
