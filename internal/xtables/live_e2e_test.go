package xtables_test

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
	"github.com/netcause/netcause/internal/xtables"
)

var update = flag.Bool("update", false, "rewrite testdata/*.info, *.entries and *.save from a live namespace")

// The tables of testdata/rules-ipv4 and rules-ipv6, loaded with
// iptables-legacy-restore into a test namespace and read back with
// getsockopt, must print exactly as iptables-legacy-save -c prints them,
// counters included.
func TestLiveTablesMatchSave(t *testing.T) {
	ns := nstest.New(t)
	ns.Run("iptables-legacy-restore", "testdata/rules-ipv4")
	ns.Run("ip6tables-legacy-restore", "testdata/rules-ipv6")
	// Counters worth comparing: datagrams over loopback cross OUTPUT and
	// INPUT (and their statistic drops).
	if err := ns.Target().Do(func() error {
		c, err := net.Dial("udp4", "127.0.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 40; i++ {
			if _, err := c.Write(make([]byte, 10+i)); err != nil && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		fam    xtables.Family
		save   string
		tables []string
	}{
		{xtables.IPv4, "iptables-legacy-save", []string{"filter", "raw"}},
		{xtables.IPv6, "ip6tables-legacy-save", []string{"filter"}},
	} {
		var names []string
		var sock *xtables.Socket
		if err := ns.Target().Do(func() (err error) {
			if names, err = xtables.TableNames(netns.ProcNet, c.fam); err != nil {
				return err
			}
			sock, err = xtables.Open(c.fam)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer sock.Close()
		if strings.Join(names, ",") != strings.Join(c.tables, ",") {
			t.Errorf("%s tables %v, want %v", c.fam, names, c.tables)
		}
		for _, table := range c.tables {
			info, entries, _, err := sock.Read(table, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := saveRules(ns.Run(c.save, "-c", "-t", table))
			got, err := formatTable(c.fam, info, entries)
			if err != nil {
				t.Fatal(err)
			}
			compareSave(t, fmt.Sprintf("%s %s", c.fam, table), got, want)
			if *update {
				base := filepath.Join("testdata", c.fam.String()+"-"+table)
				ib := infoBytes(t, sock, table)
				for ext, b := range map[string][]byte{".info": ib, ".entries": entries, ".save": []byte(strings.Join(want, "\n") + "\n")} {
					if err := os.WriteFile(base+ext, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// infoBytes reads the raw getinfo answer again for the fixture.
func infoBytes(t *testing.T, sock *xtables.Socket, table string) []byte {
	t.Helper()
	b, err := sock.RawInfo(table)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// saveRules returns the rule lines of iptables-save -c output.
func saveRules(out string) []string {
	var rules []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[") && strings.Contains(l, "] -A ") || strings.HasPrefix(l, ":") {
			rules = append(rules, l)
		}
	}
	return rules
}

// formatTable prints a table as iptables-save -c does: chain lines with
// policy counters, then rules.
func formatTable(fam xtables.Family, info xtables.Info, entries []byte) ([]string, error) {
	jumps, err := xtables.JumpTargets(fam, info, entries)
	if err != nil {
		return nil, err
	}
	var chains, rules []string
	seen := map[string]bool{}
	err = xtables.Walk(fam, info, entries, func(e *xtables.Entry) error {
		name := string(e.Chain)
		if e.Policy {
			policy := "ACCEPT"
			if e.Verdict == xtables.VerdictDrop {
				policy = "DROP"
			}
			chains = append(chains, fmt.Sprintf(":%s %s [%d:%d]", name, policy, e.Packets, e.Bytes))
			seen[name] = true
			return nil
		}
		rules = append(rules, fmt.Sprintf("[%d:%d] %s", e.Packets, e.Bytes, xtables.Format(fam, e, jumps)))
		return nil
	})
	// User-defined chains print as ":NAME - [0:0]" after the built-in ones.
	for _, name := range jumps {
		if !seen[string(name)] {
			chains = append(chains, fmt.Sprintf(":%s - [0:0]", name))
		}
	}
	return append(chains, rules...), err
}

func compareSave(t *testing.T, what string, got, want []string) {
	t.Helper()
	gs := map[string]bool{}
	for _, g := range got {
		gs[g] = true
	}
	for _, w := range want {
		if !gs[w] {
			t.Errorf("%s: save prints %q; decoded lines:\n%s", what, w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d lines decoded, save prints %d", what, len(got), len(want))
	}
}
