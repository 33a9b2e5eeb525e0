package nftdump_test

import (
	"errors"
	"flag"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/netcause/netcause/internal/nftdump"
	"github.com/netcause/netcause/internal/nstest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bin, xt.save and native.debug from a live namespace")

// Rules loaded with iptables-nft-restore (the xtables package's rule files)
// and nft -f (testdata/native.nft) into a test namespace, dumped over
// netlink one chain at a time, must print as iptables-nft-save -c and
// nft --debug=netlink print them.
func TestLiveDumpsMatchTools(t *testing.T) {
	ns := nstest.New(t)
	ns.Run("iptables-nft-restore", "../xtables/testdata/rules-ipv4")
	ns.Run("ip6tables-nft-restore", "../xtables/testdata/rules-ipv6")
	ns.Run("nft", "-f", "testdata/native.nft")
	if err := ns.Target().Do(func() error {
		c, err := net.Dial("udp4", "127.0.0.1:9")
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < 40; i++ {
			_, err := c.Write(make([]byte, 10+i))
			if err != nil && !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.ECONNREFUSED) {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var conn *nftdump.Conn
	if err := ns.Target().Do(func() (err error) { conn, err = nftdump.Open(); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gen1, err := conn.Generation()
	if err != nil {
		t.Fatal(err)
	}
	var chains, rules [][]byte
	if err := conn.DumpChains(0, func(p []byte) error {
		chains = append(chains, append([]byte(nil), p...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ch nftdump.Chain
	for _, c := range chains {
		if err := nftdump.ParseChain(c, &ch); err != nil {
			t.Fatal(err)
		}
		if err := conn.DumpRules(ch.Family, ch.Table, ch.Name, func(p []byte) error {
			rules = append(rules, append([]byte(nil), p...))
			return nil
		}); err != nil {
			t.Fatalf("rules of %s %s: %v", ch.Table, ch.Name, err)
		}
	}
	if gen2, err := conn.Generation(); err != nil || gen2 != gen1 {
		t.Fatalf("generation %d then %d (%v): the ruleset changed under the test", gen1, gen2, err)
	}

	var save []string
	for _, bin := range []string{"iptables-nft-save", "ip6tables-nft-save"} {
		for _, l := range strings.Split(ns.Run(bin, "-c"), "\n") {
			if strings.HasPrefix(l, "[") && strings.Contains(l, "] -A ") {
				save = append(save, l)
			}
		}
	}
	var debug strings.Builder
	for _, table := range [][]string{{"inet", "fwtest"}, {"ip", "rawnative"}, {"bridge", "filter"}} {
		debug.WriteString(ns.Run("nft", "--debug=netlink", "list", "table", table[0], table[1]))
	}
	checkRules(t, rules, save, parseDebug(debug.String()))

	// A chain that does not exist (deleted since the chain dump) has no
	// rules; the kernel does not call it an error.
	n := 0
	err = conn.DumpRules(nftdump.FamilyINet, []byte("fwtest"), []byte("nosuchchain"), func([]byte) error { n++; return nil })
	if err != nil || n != 0 {
		t.Errorf("dump of a missing chain: %d rules, %v", n, err)
	}

	// A dump left half-read is drained by the next request, which then
	// answers in full.
	if err := conn.StartChains(0); err != nil || !conn.Next() {
		t.Fatalf("chain dump: %v", conn.Err())
	}
	if gen, err := conn.Generation(); err != nil || gen != gen1 {
		t.Errorf("after an abandoned dump: generation %d, %v", gen, err)
	}
	var again int
	if err := conn.DumpChains(0, func([]byte) error { again++; return nil }); err != nil || again != len(chains) {
		t.Errorf("after an abandoned dump: %d chains (%v), want %d", again, err, len(chains))
	}

	if *update {
		writeFrames(t, "chains.bin", chains)
		writeFrames(t, "rules.bin", rules)
		for name, text := range map[string]string{"xt.save": strings.Join(save, "\n") + "\n", "native.debug": debug.String()} {
			if err := os.WriteFile("testdata/"+name, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
