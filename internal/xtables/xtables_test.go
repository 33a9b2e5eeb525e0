package xtables_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcause/netcause/internal/xtables"
)

type fixture struct {
	fam     xtables.Family
	name    string
	info    xtables.Info
	entries []byte
	save    []string
}

func loadFixture(t testing.TB, fam xtables.Family, table string) fixture {
	t.Helper()
	base := filepath.Join("testdata", fam.String()+"-"+table)
	read := func(ext string) []byte {
		b, err := os.ReadFile(base + ext)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	info, err := xtables.ParseInfo(read(".info"))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{fam, base, info, read(".entries"),
		strings.Split(strings.TrimSuffix(string(read(".save")), "\n"), "\n")}
}

var fixtures = []struct {
	fam   xtables.Family
	table string
}{{xtables.IPv4, "filter"}, {xtables.IPv4, "raw"}, {xtables.IPv6, "filter"}}

// Tables captured from a live kernel (TestLiveTablesMatchSave -update) print
// as iptables-legacy-save -c printed them when they were captured.
func TestFixturesMatchSave(t *testing.T) {
	for _, f := range fixtures {
		fx := loadFixture(t, f.fam, f.table)
		got, err := formatTable(fx.fam, fx.info, fx.entries)
		if err != nil {
			t.Fatalf("%s: %v", fx.name, err)
		}
		compareSave(t, fx.name, got, fx.save)
	}
}

// The collector's view of the ipv4 filter fixture: which rules discard,
// what they are called, and that the policy is seen as one.
func TestFixtureDiscarding(t *testing.T) {
	fx := loadFixture(t, xtables.IPv4, "filter")
	type seen struct{ chain, verdict, comment string }
	var got []seen
	policies := map[string]int32{}
	hashes := map[uint64]string{}
	err := xtables.Walk(fx.fam, fx.info, fx.entries, func(e *xtables.Entry) error {
		if e.Policy {
			policies[string(e.Chain)] = e.Verdict
			return nil
		}
		if v := e.Discarding(); v != "" {
			c, _ := xtables.Comment(e.Matches)
			got = append(got, seen{string(e.Chain), v, string(c)})
		}
		text := xtables.Format(fx.fam, e, nil)
		h := xtables.SpecHash(e)
		if prev, dup := hashes[h]; dup {
			t.Errorf("rules %q and %q hash alike", prev, text)
		}
		hashes[h] = text
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"INPUT", "drop", ""}, {"INPUT", "reject", "hello world"}, {"INPUT", "reject", ""},
		{"INPUT", "drop", "block incoming localnet connections"}, {"INPUT", "reject", ""},
		{"INPUT", "drop", ""}, {"INPUT", "drop", ""}, {"INPUT", "reject", ""},
		{"FORWARD", "drop", ""}, {"OUTPUT", "drop", ""}, {"USER1", "drop", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("discarding rules %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("rule %d: %v, want %v", i, got[i], want[i])
		}
	}
	if policies["FORWARD"] != xtables.VerdictDrop || policies["INPUT"] != xtables.VerdictAccept || len(policies) != 3 {
		t.Errorf("policies %v", policies)
	}
}

// A rule's hash depends on what it matches, not on its counters.
func TestSpecHashIgnoresCounters(t *testing.T) {
	fx := loadFixture(t, xtables.IPv4, "filter")
	first := func(entries []byte) (h uint64, packets uint64) {
		_ = xtables.Walk(fx.fam, fx.info, entries, func(e *xtables.Entry) error {
			if h == 0 && !e.Policy {
				h, packets = xtables.SpecHash(e), e.Packets
			}
			return nil
		})
		return h, packets
	}
	h1, p1 := first(fx.entries)
	changed := append([]byte(nil), fx.entries...)
	// The first entry's packet counter (struct ipt_entry.counters.pcnt).
	binary.NativeEndian.PutUint64(changed[96:], p1+1000)
	h2, p2 := first(changed)
	if p2 != p1+1000 {
		t.Fatalf("counter edit missed: %d -> %d", p1, p2)
	}
	if h1 != h2 {
		t.Error("hash changed with the counters")
	}
}

func TestWalkErrors(t *testing.T) {
	fx := loadFixture(t, xtables.IPv4, "filter")
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), fx.entries...)) }
	cases := map[string]struct {
		info    xtables.Info
		entries []byte
	}{
		"size mismatch": {fx.info, fx.entries[:len(fx.entries)-8]},
		"next offset zero": {fx.info, mut(func(b []byte) []byte {
			binary.NativeEndian.PutUint16(b[90:], 0)
			return b
		})},
		"target offset past entry": {fx.info, mut(func(b []byte) []byte {
			binary.NativeEndian.PutUint16(b[88:], 0xfff0)
			return b
		})},
		"target size zero": {fx.info, mut(func(b []byte) []byte {
			toff := binary.NativeEndian.Uint16(b[88:])
			binary.NativeEndian.PutUint16(b[toff:], 0)
			return b
		})},
		"more entries than info": {func() xtables.Info { i := fx.info; i.NumEntries = 2; return i }(), fx.entries},
		"truncated entry":        {func() xtables.Info { i := fx.info; i.Size = 50; return i }(), fx.entries[:50]},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if err := xtables.Walk(xtables.IPv4, c.info, c.entries, func(*xtables.Entry) error { return nil }); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, err := xtables.ParseInfo(make([]byte, 10)); err == nil {
		t.Error("ParseInfo: no error for 10 bytes")
	}
}

func TestParseTableNames(t *testing.T) {
	names, err := xtables.ParseTableNames(strings.NewReader("filter\nnat\n\nraw\n"))
	if err != nil || strings.Join(names, ",") != "filter,nat,raw" {
		t.Errorf("got %v, %v", names, err)
	}
	if _, err := xtables.ParseTableNames(strings.NewReader(strings.Repeat("x", 40) + "\n")); err == nil {
		t.Error("no error for a 40-byte name")
	}
	// No ip_tables module: no file, no tables, no error.
	names, err = xtables.TableNames(t.TempDir(), xtables.IPv4)
	if err != nil || names != nil {
		t.Errorf("missing file: %v, %v", names, err)
	}
}

// An extension the package does not decode is named, its options in hex.
func TestFormatOpaque(t *testing.T) {
	var b strings.Builder
	xtables.FormatMatch(&b, xtables.IPv4, "set", 7, []byte{1, 2, 0, 0})
	if got, want := b.String(), " -m set <rev 7 opts 0102>"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// FuzzWalk feeds mutated tables to the decoder and the text writer. The
// seeds are the two small fixtures: the fuzzer minimises every interesting
// input, which takes long on the large one.
func FuzzWalk(f *testing.F) {
	for _, c := range fixtures[1:] {
		fx := loadFixture(f, c.fam, c.table)
		info, _ := os.ReadFile(fx.name + ".info")
		f.Add(c.fam == xtables.IPv6, info, fx.entries)
	}
	f.Fuzz(func(t *testing.T, v6 bool, info, entries []byte) {
		in, err := xtables.ParseInfo(info)
		if err != nil {
			return
		}
		family := xtables.IPv4
		if v6 {
			family = xtables.IPv6
		}
		jumps, _ := xtables.JumpTargets(family, in, entries)
		_ = xtables.Walk(family, in, entries, func(e *xtables.Entry) error {
			_ = xtables.Format(family, e, jumps)
			_ = xtables.SpecHash(e)
			_, _ = xtables.Comment(e.Matches)
			_ = e.Discarding()
			return nil
		})
	})
}

func FuzzParseTableNames(f *testing.F) {
	f.Add("filter\nnat\n")
	f.Fuzz(func(t *testing.T, s string) {
		names, err := xtables.ParseTableNames(strings.NewReader(s))
		if err == nil {
			for _, n := range names {
				if n == "" || len(n) >= 32 {
					t.Errorf("bad name %q", n)
				}
			}
		}
	})
}
