package collector_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
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

var hashName = regexp.MustCompile(`^[0-9a-f]{8}$`)

var chainHeader = regexp.MustCompile(`^Chain (\S+) \((?:policy (\S+)(?: (\d+) packets, (\d+) bytes)?|\d+ references)\)`)

// parseListing parses `iptables -nvxL` output into chains.
func parseListing(t *testing.T, out string) map[string]*xtChain {
	t.Helper()
	chains := map[string]*xtChain{}
	var cur *xtChain
	for _, line := range strings.Split(out, "\n") {
		if m := chainHeader.FindStringSubmatch(line); m != nil {
			cur = &xtChain{policy: m[2]}
			if m[3] != "" {
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

var acceptPolicy = regexp.MustCompile(`policy ACCEPT \d+ packets, \d+ bytes`)

// listing returns `BIN -t TABLE -nvxL` of ns, parsed, and its text without
// the counters of ACCEPT policies: those move with the namespace's own
// background traffic (IPv6 neighbour discovery, MLD), which no test rule
// matches, and would make the text never settle.
func listing(t *testing.T, ns *nstest.NS, bin, table string) (map[string]*xtChain, string) {
	t.Helper()
	out := ns.Run(bin, "-t", table, "-nvxL")
	return parseListing(t, out), acceptPolicy.ReplaceAllString(out, "policy ACCEPT")
}

// nftRule is one rule of `nft -j list ruleset`.
type nftRule struct {
	family, table, chain, comment string
	counted                       bool
	packets, bytes                uint64
	verdict                       string
	raw                           string // the rule's JSON
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
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			t.Fatal(err)
		}
		nr := nftRule{family: r.Family, table: r.Table, chain: r.Chain, comment: r.Comment, raw: compact.String()}
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
			fwVeth(t, client, cAddr, server, sAddr, 24)
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

// seriesByText returns the labels of the rule whose info text is text.
func seriesByText(t *testing.T, s nstest.Samples, match map[string]string, text string) map[string]string {
	t.Helper()
	found := s.Find(fwInfo, merge(match, "text", text))
	if len(found) != 1 {
		t.Fatalf("want one rule_info %v with text %q, have %v", match, text, s.Find(fwInfo, match))
	}
	l := merge(found[0].Labels)
	delete(l, "text")
	return l
}

// ruleLine returns the one listing rule of chain whose line contains part.
func ruleLine(t *testing.T, chains map[string]*xtChain, chain, part string) xtRule {
	t.Helper()
	var found []xtRule
	if c := chains[chain]; c != nil {
		for _, r := range c.rules {
			if strings.Contains(r.line, part) {
				found = append(found, r)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s rule containing %q, have %v", chain, part, found)
	}
	return found[0]
}

// fwVeth connects client and server like nstest.Veth, then waits until a
// TCP connection from client to server works, so neighbour resolution and
// link state cannot eat the datagrams a test then counts.
func fwVeth(t *testing.T, client *nstest.NS, cAddr string, server *nstest.NS, sAddr string, prefix int) {
	t.Helper()
	nstest.Veth(t, client, "fwc0", fmt.Sprintf("%s/%d", cAddr, prefix), server, "fws0", fmt.Sprintf("%s/%d", sAddr, prefix))
	waitReachable(t, client, server, "tcp4", sAddr+":7")
}

// waitReachable serves TCP echo on addr in server and waits (at most 10 s)
// until client connects to it.
func waitReachable(t *testing.T, client, server *nstest.NS, network, addr string) {
	t.Helper()
	server.Listen(network, addr) // accepted by the kernel's backlog, never served
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := client.Dial(network, addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s cannot reach %s: %v", client.Name, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// forwardPath makes server a router from client (10.213.n.0/25) to a third
// namespace on 10.213.n.128/25, so datagrams to 10.213.n.130 cross the
// server's FORWARD chain.
func forwardPath(t *testing.T, client, server *nstest.NS, n int) {
	t.Helper()
	far := nstest.New(t)
	nstest.Veth(t, server, "fws1", fmt.Sprintf("10.213.%d.129/25", n), far, "fwf0", fmt.Sprintf("10.213.%d.130/25", n))
	server.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
	client.Run("ip", "route", "add", fmt.Sprintf("10.213.%d.128/25", n), "via", fmt.Sprintf("10.213.%d.2", n))
}

// dialN opens n TCP connections that the firewall refuses; each must fail
// fast (RST or ICMP unreachable), not time out.
func dialN(t *testing.T, ns *nstest.NS, network, addr string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		c, err := ns.Dial(network, addr, 3*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("connection to %s succeeded through a REJECT rule", addr)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("connection to %s: %v; a REJECT answers at once", addr, err)
		}
	}
}

// REJECT with tcp-reset and with the default icmp-port-unreachable, an
// ip6tables DROP, and a FORWARD policy DROP, for each iptables flavour:
// exported counters equal the listings exactly.
func TestFirewallRejectIPv6AndPolicy(t *testing.T) {
	requireTools(t, "iptables-legacy", "iptables-nft", "ip6tables-legacy", "ip6tables-nft", "sysctl")
	for i, b := range xtBackends {
		t.Run(b.label, func(t *testing.T) {
			client, server := nstest.New(t), nstest.New(t)
			n := 20 + i
			c4, s4 := fmt.Sprintf("10.213.%d.1", n), fmt.Sprintf("10.213.%d.2", n)
			c6, s6 := fmt.Sprintf("fd00:213:%d::1", n), fmt.Sprintf("fd00:213:%d::2", n)
			fwVeth(t, client, c4, server, s4, 25)
			client.Run("ip", "-6", "addr", "add", c6+"/64", "dev", "fwc0", "nodad")
			server.Run("ip", "-6", "addr", "add", s6+"/64", "dev", "fws0", "nodad")
			waitReachable(t, client, server, "tcp6", "["+s6+"]:7")
			forwardPath(t, client, server, n)

			server.Run(b.iptables, "-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "REJECT", "--reject-with", "tcp-reset")
			server.Run(b.iptables, "-A", "INPUT", "-p", "tcp", "--dport", "82", "-j", "REJECT")
			server.Run(b.iptables, "-P", "FORWARD", "DROP")
			server.Run(b.ip6tables, "-A", "INPUT", "-p", "udp", "--dport", "9003", "-j", "DROP")

			dialN(t, client, "tcp4", s4+":81", 4)
			dialN(t, client, "tcp4", s4+":82", 6)
			sendUDP(t, client, "udp4", fmt.Sprintf("10.213.%d.130:9000", n), 25, 300)
			sendUDP(t, client, "udp6", "["+s6+"]:9003", 15, 400)

			read := func() string {
				_, v4 := listing(t, server, b.iptables, "filter")
				_, v6 := listing(t, server, b.ip6tables, "filter")
				return v4 + v6
			}
			s := stableScrape(t, read)
			requireSuccess(t, s, server.Name)
			v4, _ := listing(t, server, b.iptables, "filter")
			v6, _ := listing(t, server, b.ip6tables, "filter")
			base := map[string]string{"netns": server.Name, "table": "filter", "backend": b.label}

			for _, c := range []struct {
				port, with string
				conns      uint64
			}{{"81", "tcp-reset", 4}, {"82", "icmp-port-unreachable", 6}} {
				want := ruleLine(t, v4, "INPUT", "dpt:"+c.port)
				if want.target != "REJECT" || want.packets != c.conns {
					t.Errorf("listing says %d packets for %d refused connections: %q", want.packets, c.conns, want.line)
				}
				text := fmt.Sprintf("-A INPUT -p tcp -m tcp --dport %s -j REJECT --reject-with %s", c.port, c.with)
				labels := seriesByText(t, s, merge(base, "family", "ipv4", "chain", "INPUT", "verdict", "reject"), text)
				mustEqual(t, s, labels, want.packets, want.bytes)
			}

			want6 := ruleLine(t, v6, "INPUT", "dpt:9003")
			if want6.packets != 15 {
				t.Errorf("ip6tables lists %d packets for 15 datagrams", want6.packets)
			}
			labels6 := onlyRule(t, s, merge(base, "family", "ipv6", "chain", "INPUT", "verdict", "drop"))
			mustEqual(t, s, labels6, want6.packets, want6.bytes)

			fwd := v4["FORWARD"]
			if fwd == nil || fwd.policy != "DROP" || fwd.policyPackets != 25 {
				t.Fatalf("FORWARD policy: %+v, want DROP with 25 packets", fwd)
			}
			mustEqual(t, s, merge(base, "family", "ipv4", "chain", "FORWARD", "verdict", "drop", "rule", "(policy)"),
				fwd.policyPackets, fwd.policyBytes)
			// A policy that accepts is not exported.
			if got := s.Find(fwPackets, merge(base, "chain", "INPUT", "rule", "(policy)")); len(got) != 0 {
				t.Errorf("ACCEPT policy exported: %v", got)
			}
		})
	}
}

// nftLoad loads an nft ruleset file into ns.
func nftLoad(t *testing.T, ns *nstest.NS, ruleset string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ruleset.nft")
	if err := os.WriteFile(path, []byte(ruleset), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.Run("nft", "-f", path)
}

// findNft returns the one rule of rules in chain with comment.
func findNft(t *testing.T, rules []nftRule, chain, comment string) nftRule {
	t.Helper()
	var found []nftRule
	for _, r := range rules {
		if r.chain == chain && r.comment == comment {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one nft rule in %s with comment %q, have %v", chain, comment, found)
	}
	return found[0]
}

// A native nftables table (as firewalld or a hand-written ruleset makes):
// the seed pair as random drops in input and output, reject with tcp reset
// and with icmpx port-unreachable, an IPv6 drop, all with counters, equal
// `nft list ruleset`; a drop rule without a counter and a drop policy
// without counters are reported as uncounted, never as zero.
func TestFirewallNativeNftables(t *testing.T) {
	requireTools(t, "nft")
	client, server := nstest.New(t), nstest.New(t)
	fwVeth(t, client, "10.213.30.1", server, "10.213.30.2", 25)
	client.Run("ip", "-6", "addr", "add", "fd00:213:30::1/64", "dev", "fwc0", "nodad")
	server.Run("ip", "-6", "addr", "add", "fd00:213:30::2/64", "dev", "fws0", "nodad")
	waitReachable(t, client, server, "tcp6", "[fd00:213:30::2]:7")
	forwardPath(t, client, server, 30)
	nftLoad(t, server, `table inet fwtest {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 9000 numgen random mod 100 < 30 counter drop
		tcp dport 81 counter reject with tcp reset comment "rst81"
		tcp dport 82 counter reject comment "icmpx82"
		udp dport 9001 drop comment "nocounter"
		ip6 saddr fd00:213:30::1 udp dport 9003 counter drop comment "v6drop"
	}
	chain output {
		type filter hook output priority 0; policy accept;
		udp dport 9000 numgen random mod 100 < 30 counter drop
	}
	chain forward {
		type filter hook forward priority 0; policy drop;
	}
}
`)
	udpSink(t, server, "udp4", "10.213.30.2:9000")
	udpSink(t, client, "udp4", "10.213.30.1:9000")
	sendUDP(t, client, "udp4", "10.213.30.2:9000", 300, 100)
	sendUDP(t, server, "udp4", "10.213.30.1:9000", 300, 200)
	dialN(t, client, "tcp4", "10.213.30.2:81", 3)
	dialN(t, client, "tcp4", "10.213.30.2:82", 5)
	sendUDP(t, client, "udp4", "10.213.30.2:9001", 7, 100)
	sendUDP(t, client, "udp6", "[fd00:213:30::2]:9003", 9, 100)
	sendUDP(t, client, "udp4", "10.213.30.130:9000", 11, 100)

	var text string
	s := stableScrape(t, func() string { _, text = nftRules(t, server); return text })
	requireSuccess(t, s, server.Name)
	rules, _ := nftRules(t, server)
	base := map[string]string{"netns": server.Name, "family": "inet", "table": "fwtest", "backend": "nftables"}

	for _, chain := range []string{"input", "output"} {
		want := findNft(t, rules, chain, "")
		if want.packets == 0 {
			t.Errorf("%s: no packets dropped by a 30%% rule after 300 datagrams", chain)
		}
		var hashed []nstest.Sample
		for _, smp := range s.Find(fwPackets, merge(base, "chain", chain, "verdict", "drop")) {
			if hashName.MatchString(smp.Labels["rule"]) {
				hashed = append(hashed, smp)
			}
		}
		if len(hashed) != 1 {
			t.Fatalf("%s: want one series named by a hash (the rule has no comment), have %v", chain, hashed)
		}
		labels := hashed[0].Labels
		mustEqual(t, s, labels, want.packets, want.bytes)
	}
	for _, c := range []struct {
		comment, verdict string
		packets          uint64
	}{{"rst81", "reject", 3}, {"icmpx82", "reject", 5}, {"v6drop", "drop", 9}} {
		want := findNft(t, rules, "input", c.comment)
		if want.packets != c.packets {
			t.Errorf("nft lists %d packets for rule %s, want %d", want.packets, c.comment, c.packets)
		}
		mustEqual(t, s, merge(base, "chain", "input", "verdict", c.verdict, "rule", c.comment), want.packets, want.bytes)
	}

	// The rule without counter: no counter series, an info series, and one
	// uncounted rule in its chain. The drop policy without counters too.
	nocounter := merge(base, "chain", "input", "verdict", "drop", "rule", "nocounter")
	if got := s.Find(fwPackets, nocounter); len(got) != 0 {
		t.Errorf("rule without counter exported as %v", got)
	}
	if got := s.Find(fwInfo, nocounter); len(got) != 1 {
		t.Errorf("rule without counter has no info series: %v", s.Find(fwInfo, base))
	}
	if v := s.Must(t, "netcause_firewall_uncounted_rules", merge(base, "chain", "input", "verdict", "drop")); v != 1 {
		t.Errorf("uncounted rules in input = %v, want 1", v)
	}
	if v := s.Must(t, "netcause_firewall_uncounted_rules", merge(base, "chain", "forward", "verdict", "drop")); v != 1 {
		t.Errorf("uncounted drop policy in forward = %v, want 1", v)
	}
	if got := s.Find(fwPackets, merge(base, "chain", "forward")); len(got) != 0 {
		t.Errorf("policy without counters exported as %v", got)
	}
	if v := s.Must(t, "netcause_firewall_rules", map[string]string{"netns": server.Name, "family": "inet", "backend": "nftables"}); v != 6 {
		t.Errorf("rules = %v, want 6", v)
	}
}

// A rule inserted above an existing one between two scrapes, then deleted:
// the existing rule's series keeps its labels and grows by exactly the
// packets it dropped in between, for each of the three backends. Position
// is not identity.
func TestFirewallInsertKeepsSeries(t *testing.T) {
	requireTools(t, "iptables-legacy", "iptables-nft", "nft")
	type backend struct {
		label, family, table, chain string
		add, insert, del            func(ns *nstest.NS)
		counters                    func(ns *nstest.NS) (a, b uint64)
	}
	xt := func(bin, label string) backend {
		return backend{
			label: label, family: "ipv4", table: "filter", chain: "INPUT",
			add: func(ns *nstest.NS) { ns.Run(bin, "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP") },
			insert: func(ns *nstest.NS) {
				ns.Run(bin, "-I", "INPUT", "1", "-p", "udp", "--dport", "9001", "-j", "DROP")
			},
			del: func(ns *nstest.NS) { ns.Run(bin, "-D", "INPUT", "-p", "udp", "--dport", "9001", "-j", "DROP") },
			counters: func(ns *nstest.NS) (a, b uint64) {
				chains, _ := listing(t, ns, bin, "filter")
				for _, r := range chains["INPUT"].rules {
					switch {
					case strings.Contains(r.line, "dpt:9000"):
						a = r.packets
					case strings.Contains(r.line, "dpt:9001"):
						b = r.packets
					}
				}
				return a, b
			},
		}
	}
	nft := backend{
		label: "nftables", family: "inet", table: "ins", chain: "input",
		add: func(ns *nstest.NS) {
			nftLoad(t, ns, "table inet ins {\n chain input {\n  type filter hook input priority 0;\n  udp dport 9000 counter drop\n }\n}\n")
		},
		insert: func(ns *nstest.NS) {
			ns.Run("nft", "insert", "rule", "inet", "ins", "input", "udp", "dport", "9001", "counter", "drop")
		},
		del: func(ns *nstest.NS) {
			out := ns.Run("nft", "-a", "list", "chain", "inet", "ins", "input")
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "9001") {
					f := strings.Fields(l)
					ns.Run("nft", "delete", "rule", "inet", "ins", "input", "handle", f[len(f)-1])
					return
				}
			}
			t.Fatalf("no rule for 9001 in %s", out)
		},
		counters: func(ns *nstest.NS) (a, b uint64) {
			rules, _ := nftRules(t, ns)
			for _, r := range rules {
				switch {
				case strings.Contains(r.raw, `"right":9000`):
					a = r.packets
				case strings.Contains(r.raw, `"right":9001`):
					b = r.packets
				}
			}
			return a, b
		},
	}
	for i, b := range []backend{xt("iptables-legacy", "iptables-legacy"), xt("iptables-nft", "iptables-nft"), nft} {
		t.Run(b.label, func(t *testing.T) {
			client, server := nstest.New(t), nstest.New(t)
			c4, s4 := fmt.Sprintf("10.213.%d.1", 40+i), fmt.Sprintf("10.213.%d.2", 40+i)
			fwVeth(t, client, c4, server, s4, 24)
			b.add(server)
			match := map[string]string{"netns": server.Name, "family": b.family, "table": b.table,
				"chain": b.chain, "verdict": "drop", "backend": b.label}
			read := func() string { a, x := b.counters(server); return fmt.Sprint(a, x) }

			sendUDP(t, client, "udp4", s4+":9000", 17, 100)
			s1 := stableScrape(t, read)
			if k, _ := b.counters(server); k != 17 {
				t.Fatalf("the kernel counted %d of 17 datagrams: traffic was lost before the rule", k)
			}
			a1 := onlyRule(t, s1, match)
			if v := s1.Must(t, fwPackets, a1); v != 17 {
				t.Fatalf("first scrape: %v packets, want 17", v)
			}

			b.insert(server)
			sendUDP(t, client, "udp4", s4+":9000", 5, 100)
			sendUDP(t, client, "udp4", s4+":9001", 8, 100)
			s2 := stableScrape(t, read)
			wantA, wantB := b.counters(server)
			if wantA != 22 || wantB != 8 {
				t.Fatalf("kernel lists %d and %d packets, want 22 and 8", wantA, wantB)
			}
			if v := s2.Must(t, fwPackets, a1); v != 22 {
				t.Errorf("existing rule's series after the insert: %v packets, want 22 (17 + 5)", v)
			}
			var newRule []nstest.Sample
			for _, smp := range s2.Find(fwPackets, match) {
				if smp.Labels["rule"] != a1["rule"] {
					newRule = append(newRule, smp)
				}
			}
			if len(newRule) != 1 || newRule[0].Value != 8 {
				t.Errorf("inserted rule: want a series of its own with 8 packets, have %v", newRule)
			}

			b.del(server)
			sendUDP(t, client, "udp4", s4+":9000", 3, 100)
			s3 := stableScrape(t, read)
			if v := s3.Must(t, fwPackets, a1); v != 25 {
				t.Errorf("existing rule's series after the delete: %v packets, want 25", v)
			}
			if got := s3.Find(fwPackets, match); len(got) != 1 {
				t.Errorf("deleted rule still exported: %v", got)
			}
		})
	}
}

// More discarding rules than the cap: 1,000 get series of their own, the
// rest are summed into one overflow series for their chain, and a rule
// inserted later at the top does not push a shown rule into the overflow.
func TestFirewallRuleCap(t *testing.T) {
	requireTools(t, "iptables-nft-restore")
	client, server := nstest.New(t), nstest.New(t)
	fwVeth(t, client, "10.213.60.1", server, "10.213.60.2", 24)
	var rs strings.Builder
	rs.WriteString("*filter\n")
	for i := 0; i < 1049; i++ {
		fmt.Fprintf(&rs, "-A INPUT -s 10.214.%d.%d/32 -j DROP\n", i/250, i%250+1)
	}
	// The last rule, beyond the cap, drops the test's traffic.
	rs.WriteString("-A INPUT -s 10.213.60.1/32 -p udp --dport 9000 -j DROP\nCOMMIT\n")
	path := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(path, []byte(rs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	server.Run("iptables-nft-restore", path)
	sendUDP(t, client, "udp4", "10.213.60.2:9000", 12, 100)

	read := func() string { _, out := listing(t, server, "iptables-nft", "filter"); return out }
	s := stableScrape(t, read)
	requireSuccess(t, s, server.Name)
	match := map[string]string{"netns": server.Name, "chain": "INPUT", "backend": "iptables-nft"}
	own := 0
	for _, smp := range s.Find(fwPackets, match) {
		if smp.Labels["rule"] != "(overflow)" {
			own++
		}
	}
	if own != 1000 {
		t.Errorf("%d rules with series of their own, want 1000", own)
	}
	if v := s.Must(t, fwPackets, merge(match, "rule", "(overflow)")); v != 12 {
		t.Errorf("overflow series: %v packets, want the 12 of the last rule", v)
	}
	if v := s.Must(t, "netcause_firewall_rules_overflowed", map[string]string{"netns": server.Name}); v != 50 {
		t.Errorf("rules_overflowed = %v, want 50", v)
	}

	// A new rule at the top is past the cap too: the shown rules keep
	// their series. Both scrapes come from one exporter, as in production.
	e := newScraper(t)
	first := e.scrape(t)
	server.Run("iptables-nft", "-I", "INPUT", "1", "-s", "10.215.0.1/32", "-j", "DROP")
	second := e.scrape(t)
	if v := second.Must(t, "netcause_firewall_rules_overflowed", map[string]string{"netns": server.Name}); v != 51 {
		t.Errorf("after inserting at the top rules_overflowed = %v, want 51", v)
	}
	shown := map[string]bool{}
	for _, smp := range first.Find(fwPackets, match) {
		shown[smp.Labels["rule"]] = true
	}
	for _, smp := range second.Find(fwPackets, match) {
		if !shown[smp.Labels["rule"]] {
			t.Errorf("series %s appeared after an insert beyond the cap", smp.Labels["rule"])
		}
	}
}

// scraper is one exporter scraped several times, as Prometheus does; the
// firewall collector keeps state between scrapes.
type scraper struct{ reg *prometheus.Registry }

func newScraper(t *testing.T) *scraper {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	cs, err := collector.Build(logger, "firewall")
	if err != nil {
		t.Fatal(err)
	}
	e := exporter.New(cs, netns.Options{SelfName: "host", Named: true, Max: 1000}, logger)
	return &scraper{exporter.NewRegistry(e)}
}

func (s *scraper) scrape(t *testing.T) nstest.Samples {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return nstest.FromFamilies(mfs)
}
