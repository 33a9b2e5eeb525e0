package collector_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
)

// The firewall end-to-end tests use 10.213.0.0/16 and fd00:213::/32, one
// /24 (/64) per test.

const (
	fwPackets = "netcause_firewall_discarded_packets_total"
	fwBytes   = "netcause_firewall_discarded_bytes_total"
	fwInfo    = "netcause_firewall_rule_info"
)

// xtBackend is one iptables flavour: the binaries that drive it and the
// backend label its rules get.
type xtBackend struct {
	label, iptables, ip6tables, save string
}

var xtBackends = []xtBackend{
	{"iptables-legacy", "iptables-legacy", "ip6tables-legacy", "iptables-legacy-save"},
	{"iptables-nft", "iptables-nft", "ip6tables-nft", "iptables-nft-save"},
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed; `make test` installs it (test/setup.sh)", tool)
		}
	}
}

// udpSink receives and discards datagrams on addr inside ns, so datagrams
// sent there draw no ICMP port-unreachable that would add packets of its own.
func udpSink(t *testing.T, ns *nstest.NS, network, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Target().Do(func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	}); err != nil {
		t.Fatalf("udp sink %s in %s: %v", addr, ns.Name, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
}

// sendUDP sends n datagrams of size bytes from ns to addr, a little apart.
// A datagram that the sender's own OUTPUT chain drops fails with EPERM;
// that is the firewall at work, not an error.
func sendUDP(t *testing.T, ns *nstest.NS, network, addr string, n, size int) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Target().Do(func() (err error) {
		pc, err = net.ListenPacket(network, ":0")
		return err
	}); err != nil {
		t.Fatalf("udp socket in %s: %v", ns.Name, err)
	}
	defer pc.Close()
	dst, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := pc.WriteTo(buf, dst); err != nil && !errors.Is(err, syscall.EPERM) {
			t.Fatalf("send to %s from %s: %v", addr, ns.Name, err)
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// xtRule is one line of `iptables -nvxL`.
type xtRule struct {
	packets, bytes uint64
	target, line   string
}

type xtChain struct {
	policy                     string
	policyPackets, policyBytes uint64
	rules                      []xtRule
}

var chainHeader = regexp.MustCompile(`^Chain (\S+) \((?:policy (\S+) (\d+) packets, (\d+) bytes|\d+ references)\)`)

// parseListing parses `iptables -nvxL` output into chains.
func parseListing(t *testing.T, out string) map[string]*xtChain {
	t.Helper()
	chains := map[string]*xtChain{}
	var cur *xtChain
	for _, line := range strings.Split(out, "\n") {
		if m := chainHeader.FindStringSubmatch(line); m != nil {
			cur = &xtChain{policy: m[2]}
			if m[2] != "" {
				cur.policyPackets, _ = strconv.ParseUint(m[3], 10, 64)
				cur.policyBytes, _ = strconv.ParseUint(m[4], 10, 64)
			}
			chains[m[1]] = cur
			continue
		}
		f := strings.Fields(line)
		if cur == nil || len(f) < 3 || f[0] == "pkts" {
			continue
		}
		p, err1 := strconv.ParseUint(f[0], 10, 64)
		b, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unexpected listing line %q", line)
		}
		cur.rules = append(cur.rules, xtRule{p, b, f[2], line})
	}
	return chains
}

// listing returns `BIN -t TABLE -nvxL` of ns, parsed, and its raw text.
func listing(t *testing.T, ns *nstest.NS, bin, table string) (map[string]*xtChain, string) {
	t.Helper()
	out := ns.Run(bin, "-t", table, "-nvxL")
	return parseListing(t, out), out
}

// nftRule is one rule of `nft -j list ruleset`.
type nftRule struct {
	family, table, chain, comment string
	counted                       bool
	packets, bytes                uint64
	verdict                       string
}

func nftRules(t *testing.T, ns *nstest.NS) ([]nftRule, string) {
	t.Helper()
	out := ns.Run("nft", "-j", "list", "ruleset")
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("nft -j: %v", err)
	}
	var rules []nftRule
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var r struct {
			Family, Table, Chain, Comment string
			Expr                          []map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		nr := nftRule{family: r.Family, table: r.Table, chain: r.Chain, comment: r.Comment}
		for _, e := range r.Expr {
			if c, ok := e["counter"]; ok {
				var cv struct{ Packets, Bytes uint64 }
				if err := json.Unmarshal(c, &cv); err != nil {
					t.Fatal(err)
				}
				nr.counted, nr.packets, nr.bytes = true, cv.Packets, cv.Bytes
			}
			for _, v := range []string{"drop", "reject", "accept"} {
				if _, ok := e[v]; ok {
					nr.verdict = v
				}
			}
		}
		rules = append(rules, nr)
	}
	return rules, out
}

// stableScrape waits until read stops changing, scrapes, and checks read
// did not change during the scrape, so exported and listed counters can be
// compared exactly.
func stableScrape(t *testing.T, read func() string) nstest.Samples {
	t.Helper()
	before := nstest.Quiesce(t, 20*time.Second, 500*time.Millisecond, read)
	s := nstest.Scrape(t, "firewall")
	if after := read(); after != before {
		t.Fatal("counters moved during the scrape; cannot compare exactly")
	}
	return s
}

func requireSuccess(t *testing.T, s nstest.Samples, ns string) {
	t.Helper()
	if v := s.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "firewall"}); v != 1 {
		t.Errorf("firewall collector success = %v; unavailable: %v", v, s.Find("netcause_collector_unavailable", map[string]string{"collector": "firewall"}))
	}
	if u := s.Find("netcause_collector_unavailable", map[string]string{"collector": "firewall", "netns": ns}); len(u) > 0 {
		t.Errorf("firewall reported unavailable in %s: %v", ns, u)
	}
}

// mustEqual checks a series' packets and bytes against the kernel's.
func mustEqual(t *testing.T, s nstest.Samples, match map[string]string, packets, bytes uint64) {
	t.Helper()
	gp := s.Must(t, fwPackets, match)
	gb := s.Must(t, fwBytes, match)
	if uint64(gp) != packets || uint64(gb) != bytes {
		t.Errorf("%v: exported %v packets %v bytes, the kernel lists %d packets %d bytes", match, gp, gb, packets, bytes)
	}
}

// onlyRule returns the labels of the one rule series (not the policy) of a
// chain, failing if there is not exactly one.
func onlyRule(t *testing.T, s nstest.Samples, match map[string]string) map[string]string {
	t.Helper()
	var found []nstest.Sample
	for _, smp := range s.Find(fwPackets, match) {
		if smp.Labels["rule"] != "(policy)" {
			found = append(found, smp)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one rule series %v, found %v", match, found)
	}
	return found[0].Labels
}

func merge(a map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// saveLine returns the line of BIN-save output that adds a rule to chain
// with target, without its counters.
func saveLine(t *testing.T, ns *nstest.NS, save, chain, target string) string {
	t.Helper()
	for _, l := range strings.Split(ns.Run(save), "\n") {
		if strings.HasPrefix(l, "-A "+chain+" ") && strings.Contains(l, "-j "+target) {
			return l
		}
	}
	t.Fatalf("%s has no -A %s ... -j %s", save, chain, target)
	return ""
}

// The seed case, for each iptables flavour: a random 30% DROP rule in the
// INPUT and OUTPUT chains of a container. Its exported packet and byte
// counters must equal what `iptables -t filter -nvxL` lists in that
// namespace, and its info text must be the iptables-save line.
func TestFirewallSeedRules(t *testing.T) {
	requireTools(t, "iptables-legacy", "iptables-nft", "iptables-legacy-save", "iptables-nft-save")
	for i, b := range xtBackends {
		t.Run(b.label, func(t *testing.T) {
			client, server := nstest.New(t), nstest.New(t)
			cAddr, sAddr := fmt.Sprintf("10.213.%d.1", 10+i), fmt.Sprintf("10.213.%d.2", 10+i)
			nstest.Veth(t, client, "fwc0", cAddr+"/24", server, "fws0", sAddr+"/24")
			for _, chain := range []string{"INPUT", "OUTPUT"} {
				server.Run(b.iptables, "-A", chain, "-m", "statistic", "--mode", "random", "--probability", "0.30", "-j", "DROP")
			}
			udpSink(t, server, "udp4", sAddr+":9000")
			udpSink(t, client, "udp4", cAddr+":9000")
			sendUDP(t, client, "udp4", sAddr+":9000", 300, 100)
			sendUDP(t, server, "udp4", cAddr+":9000", 300, 200)

			var text string
			s := stableScrape(t, func() string { _, text = listing(t, server, b.iptables, "filter"); return text })
			requireSuccess(t, s, server.Name)
			chains := parseListing(t, text)
			for _, chain := range []string{"INPUT", "OUTPUT"} {
				rules := chains[chain].rules
				if len(rules) != 1 || rules[0].target != "DROP" {
					t.Fatalf("%s %s lists %v", b.iptables, chain, rules)
				}
				want := rules[0]
				if want.packets == 0 {
					t.Errorf("%s: no packets dropped by a 30%% rule after 300 datagrams: the test did not exercise the rule", chain)
				}
				base := map[string]string{"netns": server.Name, "family": "ipv4", "table": "filter",
					"chain": chain, "verdict": "drop", "backend": b.label}
				labels := onlyRule(t, s, base)
				mustEqual(t, s, labels, want.packets, want.bytes)
				line := saveLine(t, server, b.save, chain, "DROP")
				if got := s.Find(fwInfo, merge(labels, "text", line)); len(got) != 1 {
					t.Errorf("%s: want rule_info text %q, have %v", chain, line, s.Find(fwInfo, labels))
				}
			}
		})
	}
}
