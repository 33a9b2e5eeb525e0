package nftdump_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/netcause/netcause/internal/nftdump"
)

// Fixtures are netlink message payloads (nfgenmsg onwards) captured from a
// live kernel by TestLiveDumpsMatchTools -update, each framed by its
// length as a little-endian uint32.

func readFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for len(b) >= 4 {
		n := int(binary.LittleEndian.Uint32(b))
		if 4+n > len(b) {
			t.Fatalf("%s: frame of %d bytes, %d left", name, n, len(b)-4)
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out
}

func writeFrames(t testing.TB, name string, frames [][]byte) {
	t.Helper()
	var b []byte
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// xtTables are the tables iptables-nft-restore made from the xtables
// package's rule files; the others are native.
func isXt(family uint8, table string) bool {
	return (family == nftdump.FamilyIPv4 || family == nftdump.FamilyIPv6) && (table == "filter" || table == "raw")
}

var (
	counterText = regexp.MustCompile(`\[ counter pkts \d+ bytes \d+ \]`)
	consumed    = regexp.MustCompile(` consumed \d+`)
	debugHead   = regexp.MustCompile(`^(\S+) (\S+) (\S+) (\d+)`)
)

// parseDebug reads `nft --debug=netlink list ruleset` into rule text by
// "family table chain handle", counters without values as FormatNative
// writes them.
func parseDebug(out string) map[string]string {
	rules := map[string]string{}
	var key string
	var exprs []string
	flush := func() {
		if key != "" {
			rules[key] = strings.Join(exprs, " ")
		}
		key, exprs = "", nil
	}
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "  ["):
			e := strings.TrimSpace(l)
			e = counterText.ReplaceAllString(e, "[ counter ]")
			e = consumed.ReplaceAllString(e, "")
			exprs = append(exprs, e)
		case debugHead.MatchString(l) && !strings.Contains(l, "@"):
			flush()
			m := debugHead.FindStringSubmatch(l)
			key = strings.Join(m[1:5], " ")
		default:
			if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "\t") || strings.Contains(l, "@") {
				flush()
			}
		}
	}
	flush()
	return rules
}

var debugFamily = map[uint8]string{nftdump.FamilyIPv4: "ip", nftdump.FamilyIPv6: "ip6",
	nftdump.FamilyINet: "inet", nftdump.FamilyBridge: "bridge", nftdump.FamilyARP: "arp", nftdump.FamilyNetdev: "netdev"}

// checkRules checks every captured rule's text against the tools: rules of
// iptables-nft tables against iptables-nft-save -c, native ones against
// nft --debug=netlink.
func checkRules(t *testing.T, rules [][]byte, save []string, debug map[string]string) {
	t.Helper()
	saved := map[string]int{}
	for _, l := range save {
		saved[l]++
	}
	var r nftdump.Rule
	xt, native := 0, 0
	for _, p := range rules {
		if err := nftdump.ParseRule(p, &r); err != nil {
			t.Fatal(err)
		}
		s, err := nftdump.Summarize(r.Exprs)
		if err != nil {
			t.Fatal(err)
		}
		if isXt(r.Family, string(r.Table)) {
			xt++
			line := fmt.Sprintf("[%d:%d] %s", s.Packets, s.Bytes, nftdump.FormatXtables(&r))
			if saved[line] == 0 {
				t.Errorf("%s: not in iptables-nft-save -c output:\n%s", line, strings.Join(save, "\n"))
			}
			saved[line]--
			continue
		}
		native++
		key := fmt.Sprintf("%s %s %s %d", debugFamily[r.Family], r.Table, r.Chain, r.Handle)
		want, ok := debug[key]
		if !ok {
			t.Errorf("rule %s not in nft --debug=netlink output", key)
			continue
		}
		if got := nftdump.FormatNative(r.Exprs); got != want {
			t.Errorf("rule %s:\n got %s\nwant %s", key, got, want)
		}
	}
	if xt != len(save) || native != len(debug) {
		t.Errorf("%d iptables-nft rules for %d saved, %d native rules for %d in the debug output", xt, len(save), native, len(debug))
	}
}

func TestFixtureRulesMatchTools(t *testing.T) {
	save, err := os.ReadFile("testdata/xt.save")
	if err != nil {
		t.Fatal(err)
	}
	debug, err := os.ReadFile("testdata/native.debug")
	if err != nil {
		t.Fatal(err)
	}
	checkRules(t, readFrames(t, "rules.bin"), strings.Split(strings.TrimSpace(string(save)), "\n"), parseDebug(string(debug)))
}

// What the collector reads from the fixture: verdicts, which rules are
// counted, comments, and the base chains' policies and counters.
func TestFixtureSummaries(t *testing.T) {
	type want struct {
		verdict nftdump.Verdict
		counted bool
		comment string
	}
	got := map[string]want{}
	var r nftdump.Rule
	for _, p := range readFrames(t, "rules.bin") {
		if err := nftdump.ParseRule(p, &r); err != nil {
			t.Fatal(err)
		}
		if isXt(r.Family, string(r.Table)) {
			continue
		}
		s, err := nftdump.Summarize(r.Exprs)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := nftdump.XtComment(&r)
		got[fmt.Sprintf("%s/%d", r.Chain, r.Handle)] = want{s.Verdict, s.Counted, string(c)}
	}
	drop, reject, other := nftdump.VerdictDrop, nftdump.VerdictReject, nftdump.VerdictOther
	for key, w := range map[string]want{
		"input/4":   {drop, false, ""},      // ct state invalid drop: no counter
		"input/5":   {other, false, ""},     // accept
		"input/7":   {drop, true, "no ssh"}, // counter drop, comment in user data
		"input/8":   {reject, true, ""},     // counter reject with tcp reset
		"input/9":   {drop, true, ""},       // set lookup, then counter
		"input/10":  {drop, false, ""},      // counter before the match counts too much
		"input/12":  {reject, true, ""},     // anonymous set, counter reject
		"input/17":  {drop, false, ""},      // quota after the match, no counter
		"input/18":  {drop, false, ""},      // log drop
		"forward/2": {drop, true, ""},       // bridge: ether type arp counter drop
		"other/20":  {other, false, ""},     // counter return: counted, not discarding
		"input/19":  {other, false, ""},     // jump
		"input/16":  {drop, true, ""},       // meta mark
		"input/15":  {drop, true, ""},       // tcp flags
		"input/13":  {reject, true, ""},     // ip6 reject
		"input/14":  {other, false, ""},     // limit accept
	} {
		g, ok := got[key]
		if !ok {
			keys := make([]string, 0, len(got))
			for k := range got {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Errorf("no rule %s; have %v", key, keys)
			continue
		}
		if key == "other/20" {
			w.counted = true
		}
		if g != w {
			t.Errorf("rule %s: %+v, want %+v", key, g, w)
		}
	}

	policies := map[string]string{}
	var ch nftdump.Chain
	for _, p := range readFrames(t, "chains.bin") {
		if err := nftdump.ParseChain(p, &ch); err != nil {
			t.Fatal(err)
		}
		policies[fmt.Sprintf("%s %s %s", debugFamily[ch.Family], ch.Table, ch.Name)] =
			fmt.Sprintf("base=%v drop=%v counters=%v", ch.Base, ch.PolicyDrop(), ch.HasCounters)
	}
	for chain, want := range map[string]string{
		"inet fwtest input":  "base=true drop=true counters=false",
		"inet fwtest other":  "base=false drop=false counters=false",
		"ip filter FORWARD":  "base=true drop=true counters=true",
		"ip6 filter FORWARD": "base=true drop=true counters=true",
		"ip filter USER1":    "base=false drop=false counters=false",
	} {
		if policies[chain] != want {
			t.Errorf("chain %s: %s, want %s", chain, policies[chain], want)
		}
	}
}

// A rule's hash ignores its counter values and position, not its matches.
func TestSpecHash(t *testing.T) {
	hashes := map[uint64]string{}
	var r nftdump.Rule
	for _, p := range readFrames(t, "rules.bin") {
		if err := nftdump.ParseRule(p, &r); err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("%d %s %s %d", r.Family, r.Table, r.Chain, r.Handle)
		h := nftdump.SpecHash(r.Exprs)
		if prev, dup := hashes[h]; dup && nftdump.FormatNative(r.Exprs) != prev {
			t.Errorf("%s hashes like a different rule", key)
		}
		hashes[h] = nftdump.FormatNative(r.Exprs)
	}
	// The same rule with other counter values hashes alike. ForEachExpr
	// hands out slices of the message, so the counter is edited in place.
	for _, p := range readFrames(t, "rules.bin") {
		msg := append([]byte(nil), p...)
		if err := nftdump.ParseRule(msg, &r); err != nil {
			t.Fatal(err)
		}
		before, _ := nftdump.Summarize(r.Exprs)
		if !before.Counted {
			continue
		}
		hash := nftdump.SpecHash(r.Exprs)
		_ = nftdump.ForEachExpr(r.Exprs, func(name, data []byte) error {
			if string(name) == "counter" && len(data) >= 12 {
				data[11] ^= 0x55 // the low byte of the first attribute's be64 value
			}
			return nil
		})
		after, _ := nftdump.Summarize(r.Exprs)
		if after == before {
			t.Fatal("counter edit missed")
		}
		if nftdump.SpecHash(r.Exprs) != hash {
			t.Error("hash changed with the counter's value")
		}
		return
	}
	t.Fatal("no counted rule in the fixture")
}

// smallFrames returns the fixture's messages under limit bytes: the
// fuzzer minimises every interesting input, which takes long on big ones.
func smallFrames(t testing.TB, name string, limit int) [][]byte {
	var out [][]byte
	for _, f := range readFrames(t, name) {
		if len(f) <= limit {
			out = append(out, f)
		}
	}
	return out
}

func FuzzParseRule(f *testing.F) {
	for _, p := range smallFrames(f, "rules.bin", 300) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var r nftdump.Rule
		if err := nftdump.ParseRule(p, &r); err != nil {
			return
		}
		s, err := nftdump.Summarize(r.Exprs)
		if err == nil && s.Verdict > nftdump.VerdictReject {
			t.Errorf("verdict %d", s.Verdict)
		}
		_ = nftdump.SpecHash(r.Exprs)
		_ = nftdump.FormatNative(r.Exprs)
		_ = nftdump.FormatXtables(&r)
		_, _ = nftdump.XtComment(&r)
	})
}

func FuzzParseChain(f *testing.F) {
	for _, p := range smallFrames(f, "chains.bin", 300) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var c nftdump.Chain
		if nftdump.ParseChain(p, &c) == nil && (len(c.Table) == 0 || len(c.Name) == 0) {
			t.Error("chain without table or name accepted")
		}
	})
}
