package collector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cespare/xxhash/v2"

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

// fwReader is what one namespace's collections keep from one to the next,
// so that a collection of an unchanged ruleset allocates little: the legacy
// buffer (a kube-proxy nat table is tens of megabytes), interned names,
// the chains, the aggregation tables and the text of the rules shown.
type fwReader struct {
	legacyBuf []byte
	chains    chainList
	agg       fwAgg

	strs  map[string]string
	ctxs  map[fwCtxKey]*fwChainCtx
	texts map[fwTextKey]*fwText
	gen   uint64 // collection number, to drop what a collection did not use
}

// fwChainCtx is a chain that holds discarding rules; its address is part
// of the rules' keys, so it lives as long as the chain does.
type fwChainCtx struct {
	family, table, chain, backend string
	used                          uint64 // gen of the last collection that saw it
}

type fwCtxKey struct{ family, table, chain, backend string }

type fwTextKey struct {
	ctx  *fwChainCtx
	hash uint64
}

type fwText struct {
	text string
	used uint64
}

func (r *fwReader) begin() {
	r.gen++
	if r.strs == nil {
		r.strs, r.ctxs, r.texts = map[string]string{}, map[fwCtxKey]*fwChainCtx{}, map[fwTextKey]*fwText{}
	}
}

// end forgets the chains and texts this collection did not see, and the
// interned names once they are mostly stale.
func (r *fwReader) end() {
	for k, c := range r.ctxs {
		if c.used != r.gen {
			delete(r.ctxs, k)
		}
	}
	for k, t := range r.texts {
		if t.used != r.gen {
			delete(r.texts, k)
		}
	}
	if len(r.strs) > 4*len(r.ctxs)+1024 {
		r.strs = map[string]string{}
	}
}

// str returns b as a string, allocating once per distinct value.
func (r *fwReader) str(b []byte) string {
	if s, ok := r.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	r.strs[s] = s
	return s
}

// ctx returns the chain's context; table is interned already.
func (r *fwReader) ctx(family, backend, table string, chain []byte) *fwChainCtx {
	k := fwCtxKey{family, table, r.str(chain), backend}
	c := r.ctxs[k]
	if c == nil {
		c = &fwChainCtx{family: k.family, table: k.table, chain: k.chain, backend: backend}
		r.ctxs[k] = c
	}
	c.used = r.gen
	return c
}

// text returns the cached text of a rule, rendering it when new.
func (r *fwReader) text(ctx *fwChainCtx, hash uint64, render func() string) string {
	k := fwTextKey{ctx, hash}
	t := r.texts[k]
	if t == nil {
		// Comments and interface names may hold any bytes; label values
		// must be UTF-8.
		t = &fwText{text: strings.ToValidUTF8(render(), "\uFFFD")}
		r.texts[k] = t
	}
	t.used = r.gen
	return t.text
}

// addRule adds one discarding rule; without a comment its spec hash names
// it. render is called only if the rule may get a series of its own and
// its text is not cached.
func (r *fwReader) addRule(ctx *fwChainCtx, verdict string, comment []byte, spec uint64,
	counted bool, packets, bytes uint64, render func() string) {
	k := fwGroupKey{ctx: ctx, verdict: verdictIndex(verdict), id: spec, kind: kindSpec}
	if len(comment) > 0 {
		k.kind, k.id = kindComment, xxhash.Sum64(comment)
	}
	if g := r.agg.add(k, comment, spec, counted, packets, bytes); g != nil && g.n == 1 && g.mayShow {
		g.text = r.text(ctx, spec, render)
	}
}

// addPolicy adds a built-in or base chain's DROP policy.
func (r *fwReader) addPolicy(ctx *fwChainCtx, counted bool, packets, bytes uint64) {
	r.agg.add(fwGroupKey{ctx: ctx, kind: kindPolicy}, nil, 0, counted, packets, bytes)
}

func (c *firewallCollector) collect(st *fwState, src *fwSources) *fwView {
	start := time.Now()
	r := &st.reader
	r.begin()
	r.agg.reset(st.shown, c.maxRules)
	var errs []error
	counts := map[fwCountKey]int{}
	nftOK := readNFT(r, src, counts, &errs)
	legacyOK := readLegacy(r, src, counts, &errs)
	if !nftOK && !legacyOK {
		// Neither source answered: whatever the reasons, nothing about
		// this namespace's firewall is known.
		errs = append(errs, errors.New("firewall: neither nf_tables nor legacy iptables tables readable"))
	}
	v := r.agg.view(counts, errs)
	r.end()
	st.labels.attach(st.ns, v)
	st.shown = v.shown
	v.when = time.Now()
	v.took = v.when.Sub(start)
	return v
}

type fwCountKey struct{ family, backend string }

// absentNFT reports errors that mean the kernel has no nf_tables here, as
// opposed to nf_tables refusing us.
func absentNFT(err error) bool {
	return errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ENOENT) ||
		errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EAFNOSUPPORT)
}

// readNFT reads every nf_tables chain and rule. It reports whether
// nf_tables answered; its absence is an error only if legacy tables cannot
// be read either (the caller decides).
func readNFT(r *fwReader, src *fwSources, counts map[fwCountKey]int, errs *[]error) bool {
	if src.nftErr != nil {
		if !absentNFT(src.nftErr) {
			*errs = append(*errs, src.nftErr)
		}
		return false
	}
	// A ruleset change between the chain list and the last rule dump gives
	// a mix of two rulesets: read again, a bounded number of times. The
	// rules read so far are dropped, the texts stay cached.
	mark := r.agg.mark()
	var err error
	nftCounts := map[fwCountKey]int{}
	for attempt := 0; attempt < 3; attempt++ {
		r.agg.rollback(mark)
		clear(nftCounts)
		var gen1, gen2 uint32
		if gen1, err = src.nft.Generation(); err != nil {
			break
		}
		err = readNFTOnce(r, src.nft, nftCounts)
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
		r.agg.rollback(mark)
		if !absentNFT(err) {
			*errs = append(*errs, fmt.Errorf("nf_tables: %w", err))
		}
		return false
	}
	for k, n := range nftCounts {
		counts[k] += n
	}
	return true
}

// nftChainRef locates one chain in a chainList's name arena.
type nftChainRef struct {
	family         uint8
	table, name    [2]int // offsets into names
	tbl            *nftTable
	policyDrop     bool
	counted        bool
	packets, bytes uint64
}

// chainList keeps the chains of a dump with their names in one arena, so
// tens of thousands of chains cost no allocation per chain.
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

func readNFTOnce(r *fwReader, conn *nftdump.Conn, counts map[fwCountKey]int) error {
	l := &r.chains
	l.names, l.chains = l.names[:0], l.chains[:0]
	if l.tables == nil {
		l.tables = map[tableKey]*nftTable{}
	}
	clear(l.tables)
	var ch nftdump.Chain
	if err := conn.StartChains(0); err != nil {
		return fmt.Errorf("chain dump: %w", err)
	}
	for conn.Next() {
		if err := nftdump.ParseChain(conn.Payload(), &ch); err != nil {
			return fmt.Errorf("chain dump: %w", err)
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
			family: ch.Family, table: l.add(ch.Table), name: l.add(ch.Name), tbl: t,
			policyDrop: ch.PolicyDrop(), counted: ch.HasCounters, packets: ch.Packets, bytes: ch.Bytes,
		})
	}
	if err := conn.Err(); err != nil {
		return fmt.Errorf("chain dump: %w", err)
	}
	for _, t := range l.tables {
		t.backend = backendNFT
		if t.xtShaped && t.hasBase {
			t.backend = backendXtNFT
		}
	}

	var rule nftdump.Rule
	render := func() string {
		if r.chains.tablesBackend(&rule) == backendXtNFT {
			return nftdump.FormatXtables(&rule)
		}
		return nftdump.FormatNative(rule.Exprs)
	}
	for i := range l.chains {
		cr := &l.chains[i]
		table, chain := l.get(cr.table), l.get(cr.name)
		family := nftFamilyName(cr.family)
		var ctx *fwChainCtx
		n := 0
		if err := conn.StartRules(cr.family, table, chain); err != nil {
			return err
		}
		for conn.Next() {
			if err := nftdump.ParseRule(conn.Payload(), &rule); err != nil {
				return err
			}
			n++
			s, err := nftdump.Summarize(rule.Exprs)
			if err != nil {
				return fmt.Errorf("%s %s %s rule %d: %w", family, table, chain, rule.Handle, err)
			}
			if s.Verdict == nftdump.VerdictOther {
				continue
			}
			if ctx == nil {
				ctx = r.ctx(family, cr.tbl.backend, r.str(table), chain)
			}
			comment, _ := nftdump.XtComment(&rule)
			r.addRule(ctx, s.Verdict.String(), comment, nftdump.SpecHash(rule.Exprs), s.Counted, s.Packets, s.Bytes, render)
		}
		// A chain deleted since the chain dump has no rules, no error;
		// the generation check then reads again.
		if err := conn.Err(); err != nil {
			return err
		}
		counts[fwCountKey{family, cr.tbl.backend}] += n
		if cr.policyDrop {
			if ctx == nil {
				ctx = r.ctx(family, cr.tbl.backend, r.str(table), chain)
			}
			r.addPolicy(ctx, cr.counted, cr.packets, cr.bytes)
		}
	}
	return nil
}

// tablesBackend returns the backend of the table a rule belongs to.
func (l *chainList) tablesBackend(rule *nftdump.Rule) string {
	if t := l.tables[tableKey{rule.Family, string(rule.Table)}]; t != nil {
		return t.backend
	}
	return backendNFT
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

// readLegacy reads every legacy table the namespace has. It reports whether
// the legacy tables could be read (true also when there are none).
func readLegacy(r *fwReader, src *fwSources, counts map[fwCountKey]int, errs *[]error) bool {
	ok := true
	for _, ls := range src.legacy {
		if ls.err != nil {
			*errs = append(*errs, fmt.Errorf("legacy %s tables: %w", ls.fam, ls.err))
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
				*errs = append(*errs, fmt.Errorf("legacy: %w", err))
				ok = false
				continue
			}
			n, err := walkLegacy(r, ls.fam, family, table, info, entries)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("legacy %s table %s: %w", family, table, err))
				ok = false
			}
			counts[fwCountKey{family, backendLegacy}] += n
		}
	}
	return ok
}

// walkLegacy adds a legacy table's discarding rules and DROP policies and
// returns how many rules it has.
func walkLegacy(r *fwReader, fam xtables.Family, family, table string, info xtables.Info, entries []byte) (int, error) {
	n := 0
	var ctx *fwChainCtx
	var cur *xtables.Entry
	render := func() string { return xtables.Format(fam, cur, nil) }
	err := xtables.Walk(fam, info, entries, func(e *xtables.Entry) error {
		if !e.Policy {
			n++
		}
		verdict := e.Discarding()
		if verdict == "" {
			return nil
		}
		if ctx == nil || ctx.chain != string(e.Chain) {
			ctx = r.ctx(family, backendLegacy, table, e.Chain)
		}
		if e.Policy {
			r.addPolicy(ctx, true, e.Packets, e.Bytes)
			return nil
		}
		comment, _ := xtables.Comment(e.Matches)
		cur = e
		r.addRule(ctx, verdict, comment, xtables.SpecHash(e), true, e.Packets, e.Bytes, render)
		return nil
	})
	return n, err
}
