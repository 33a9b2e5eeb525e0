package collector_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/nstest"
)

// BenchmarkFirewall measures one firewall collection of a throwaway
// namespace holding a generated ruleset, next to the tool an engineer would
// run on the same rules: iptables-save -c for the iptables backends,
// nft list ruleset for native nftables. It reports the median times
// (netcause-ms, tool-ms), their median ratio, and the memory allocated per
// collection; ns/op counts both and means nothing on its own.
// test/bench/firewall/run.sh runs it; docs/benchmarks.md records a run.
//
// Rulesets: "firewall" is a filter table of per-source rules in chains of
// 500 (60% ACCEPT, 30% DROP, 10% REJECT, every tenth with a comment);
// "kube" is what kube-proxy's iptables mode writes for services with two
// endpoints each (nearly every rule in nat) plus a few REJECT and DROP
// rules in filter.
func BenchmarkFirewall(b *testing.B) {
	// The scrape must wait for every collection, however slow, or the
	// loop would time scrapes that serve an older result.
	if _, err := kingpin.CommandLine.Parse([]string{"--collector.firewall.wait=5m"}); err != nil {
		b.Fatal(err)
	}
	for _, set := range []string{"firewall", "kube"} {
		for _, size := range []int{10000, 50000} {
			for _, backend := range []string{"iptables-legacy", "iptables-nft", "nftables"} {
				b.Run(fmt.Sprintf("set=%s/rules=%d/backend=%s", set, size, backend), func(b *testing.B) {
					benchFirewall(b, set, size, backend)
				})
			}
		}
	}
}

func benchFirewall(b *testing.B, set string, size int, backend string) {
	ns := nstest.New(b)
	path := filepath.Join(b.TempDir(), "rules")
	var text string
	var load, save []string
	switch backend {
	case "iptables-legacy":
		text = xtRuleset(set, size)
		load, save = []string{"iptables-legacy-restore", path}, []string{"iptables-legacy-save", "-c"}
	case "iptables-nft":
		text = xtRuleset(set, size)
		load, save = []string{"iptables-nft-restore", path}, []string{"iptables-nft-save", "-c"}
	default:
		text = nftRuleset(set, size)
		load, save = []string{"nft", "-f", path}, []string{"nft", "list", "ruleset"}
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	ns.Run(load...)

	cs, err := collector.Build(slog.New(slog.DiscardHandler), "firewall")
	if err != nil {
		b.Fatal(err)
	}
	c, target := cs[0].Collector, ns.Target()
	scrape := func() int {
		ch := make(chan prometheus.Metric, 1024)
		done := make(chan int)
		go func() {
			n := 0
			for range ch {
				n++
			}
			done <- n
		}()
		err := target.Do(func() error { return c.Update(target, ch) })
		close(ch)
		n := <-done
		if err != nil {
			b.Fatalf("collection: %v", err)
		}
		return n
	}
	runSave := func() {
		// Started from a thread inside the namespace, the child process
		// is in it too, without ip-netns-exec's overhead.
		err := target.Do(func() error { return exec.Command(save[0], save[1:]...).Run() })
		if err != nil {
			b.Fatalf("%v: %v", save, err)
		}
	}

	// The first collection renders the text of the rules it shows and
	// sizes the legacy buffer; later ones reuse both.
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	series := scrape()
	first := time.Since(start)
	runtime.ReadMemStats(&m1)

	// Each iteration times one collection and one run of the tool, back
	// to back, so a busy machine slows both alike; the medians and the
	// median ratio are reported.
	var ours, theirs, ratios []float64
	var allocated uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var a0, a1 runtime.MemStats
		runtime.ReadMemStats(&a0)
		t0 := time.Now()
		scrape()
		t1 := time.Now()
		runtime.ReadMemStats(&a1)
		allocated += a1.TotalAlloc - a0.TotalAlloc
		t2 := time.Now()
		runSave()
		t3 := time.Now()
		ours = append(ours, t1.Sub(t0).Seconds()*1e3)
		theirs = append(theirs, t3.Sub(t2).Seconds()*1e3)
		ratios = append(ratios, t1.Sub(t0).Seconds()/t3.Sub(t2).Seconds())
	}
	b.StopTimer()
	b.ReportMetric(median(ours), "netcause-ms")
	b.ReportMetric(median(theirs), "tool-ms")
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(allocated)/float64(b.N)/(1<<20), "MiB/collection")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), "first-MiB")
	b.ReportMetric(first.Seconds()*1e3, "first-ms")
	b.ReportMetric(float64(series), "series")
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// xtRuleset returns an iptables-restore input of about n rules.
func xtRuleset(set string, n int) string {
	var s strings.Builder
	if set == "firewall" {
		chains := n / 500
		s.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
		for c := 0; c < chains; c++ {
			fmt.Fprintf(&s, ":FW-%d - [0:0]\n", c)
		}
		for c := 0; c < chains; c++ {
			fmt.Fprintf(&s, "-A INPUT -s 10.%d.0.0/16 -j FW-%d\n", c, c)
		}
		for i := 0; i < n-chains; i++ {
			c, src, port := i%chains, fmt.Sprintf("10.%d.%d.%d", i%chains, i/250%250, i%250+1), 1000+i%5000
			comment := ""
			if i%10 == 0 {
				comment = fmt.Sprintf(` -m comment --comment "rule %d"`, i)
			}
			switch i % 10 {
			case 1, 2, 3:
				fmt.Fprintf(&s, "-A FW-%d -s %s/32 -p tcp -m tcp --dport %d%s -j DROP\n", c, src, port, comment)
			case 4:
				fmt.Fprintf(&s, "-A FW-%d -s %s/32 -p udp -m udp --dport %d%s -j REJECT --reject-with icmp-port-unreachable\n", c, src, port, comment)
			default:
				fmt.Fprintf(&s, "-A FW-%d -s %s/32 -p tcp -m tcp --dport %d%s -j ACCEPT\n", c, src, port, comment)
			}
		}
		s.WriteString("COMMIT\n")
		return s.String()
	}

	// kube: seven nat rules per service with two endpoints.
	services := (n - 60) / 7
	s.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n")
	s.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]\n")
	for i := 0; i < services; i++ {
		fmt.Fprintf(&s, ":KUBE-SVC-%012X - [0:0]\n:KUBE-SEP-%010X00 - [0:0]\n:KUBE-SEP-%010X01 - [0:0]\n", i, i, i)
	}
	s.WriteString(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
`)
	for i := 0; i < services; i++ {
		svc := fmt.Sprintf("ns%d/svc%d:http", i/50, i)
		fmt.Fprintf(&s, "-A KUBE-SERVICES -d 10.96.%d.%d/32 -p tcp -m comment --comment \"%s cluster IP\" -m tcp --dport 80 -j KUBE-SVC-%012X\n",
			i/250, i%250+1, svc, i)
		for e := 0; e < 2; e++ {
			ep := fmt.Sprintf("10.244.%d.%d", i/120, i%120*2+e+1)
			prob := ""
			if e == 0 {
				prob = " -m statistic --mode random --probability 0.50000000000"
			}
			fmt.Fprintf(&s, "-A KUBE-SVC-%012X -m comment --comment \"%s -> %s:8080\"%s -j KUBE-SEP-%010X%02d\n", i, svc, ep, prob, i, e)
			fmt.Fprintf(&s, "-A KUBE-SEP-%010X%02d -s %s/32 -m comment --comment \"%s\" -j KUBE-MARK-MASQ\n", i, e, ep, svc)
			fmt.Fprintf(&s, "-A KUBE-SEP-%010X%02d -p tcp -m comment --comment \"%s\" -m tcp -j DNAT --to-destination %s:8080\n", i, e, svc, ep)
		}
	}
	s.WriteString("COMMIT\n")
	s.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	s.WriteString(":KUBE-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\n:KUBE-FORWARD - [0:0]\n")
	s.WriteString(`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A INPUT -j KUBE-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j KUBE-FIREWALL
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
`)
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&s, "-A KUBE-SERVICES -d 10.97.0.%d/32 -p tcp -m comment --comment \"ns/nosvc%d:http has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable\n", i+1, i)
	}
	s.WriteString("COMMIT\n")
	return s.String()
}

// nftRuleset returns the same rules as xtRuleset in nft syntax, every rule
// with a counter.
func nftRuleset(set string, n int) string {
	var s strings.Builder
	if set == "firewall" {
		chains := n / 500
		s.WriteString("table inet fw {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
		for c := 0; c < chains; c++ {
			fmt.Fprintf(&s, "\t\tip saddr 10.%d.0.0/16 counter jump fw%d\n", c, c)
		}
		s.WriteString("\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy drop;\n\t}\n")
		rules := make([][]string, chains)
		for i := 0; i < n-chains; i++ {
			c, src, port := i%chains, fmt.Sprintf("10.%d.%d.%d", i%chains, i/250%250, i%250+1), 1000+i%5000
			comment := ""
			if i%10 == 0 {
				comment = fmt.Sprintf(` comment "rule %d"`, i)
			}
			var r string
			switch i % 10 {
			case 1, 2, 3:
				r = fmt.Sprintf("ip saddr %s tcp dport %d counter drop%s", src, port, comment)
			case 4:
				r = fmt.Sprintf("ip saddr %s udp dport %d counter reject%s", src, port, comment)
			default:
				r = fmt.Sprintf("ip saddr %s tcp dport %d counter accept%s", src, port, comment)
			}
			rules[c] = append(rules[c], r)
		}
		for c, rs := range rules {
			fmt.Fprintf(&s, "\tchain fw%d {\n\t\t%s\n\t}\n", c, strings.Join(rs, "\n\t\t"))
		}
		s.WriteString("}\n")
		return s.String()
	}

	services := (n - 60) / 7
	s.WriteString("table ip kube {\n")
	s.WriteString("\tchain prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tcounter jump services\n\t}\n")
	s.WriteString("\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\t\tcounter jump services\n\t}\n")
	s.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n\t\tmeta mark & 0x4000 == 0x4000 counter masquerade\n\t}\n")
	s.WriteString("\tchain mark-masq {\n\t\tcounter meta mark set mark or 0x4000\n\t}\n")
	var svc strings.Builder
	for i := 0; i < services; i++ {
		name := fmt.Sprintf("ns%d/svc%d:http", i/50, i)
		fmt.Fprintf(&svc, "\t\tip daddr 10.96.%d.%d tcp dport 80 counter jump svc-%d comment \"%s cluster IP\"\n", i/250, i%250+1, i, name)
		fmt.Fprintf(&s, "\tchain svc-%d {\n", i)
		for e := 0; e < 2; e++ {
			if e == 0 {
				fmt.Fprintf(&s, "\t\tnumgen random mod 2 == 0 counter jump sep-%d-%d\n", i, e)
			} else {
				fmt.Fprintf(&s, "\t\tcounter jump sep-%d-%d\n", i, e)
			}
		}
		s.WriteString("\t}\n")
		for e := 0; e < 2; e++ {
			ep := fmt.Sprintf("10.244.%d.%d", i/120, i%120*2+e+1)
			fmt.Fprintf(&s, "\tchain sep-%d-%d {\n\t\tip saddr %s counter jump mark-masq\n\t\tmeta l4proto tcp counter dnat to %s:8080\n\t}\n", i, e, ep, ep)
		}
	}
	s.WriteString("\tchain services {\n" + svc.String() + "\t}\n}\n")
	s.WriteString("table inet kubefilter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n")
	s.WriteString("\t\tip saddr != 127.0.0.0/8 ip daddr 127.0.0.0/8 ct state != related,established counter drop comment \"block incoming localnet connections\"\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&s, "\t\tip daddr 10.97.0.%d tcp dport 80 counter reject comment \"ns/nosvc%d:http has no endpoints\"\n", i+1, i)
	}
	s.WriteString("\t}\n\tchain forward {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\tct state invalid counter drop\n\t}\n}\n")
	return s.String()
}

// The generated rulesets load and hold about the rules asked for; the
// benchmark compares nothing otherwise.
func TestFirewallBenchRulesets(t *testing.T) {
	requireTools(t, "iptables-nft-restore", "nft")
	for _, set := range []string{"firewall", "kube"} {
		ns := nstest.New(t)
		dir := t.TempDir()
		xt, nft := filepath.Join(dir, "xt"), filepath.Join(dir, "nft")
		if err := os.WriteFile(xt, []byte(xtRuleset(set, 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nft, []byte(nftRuleset(set, 1000)), 0o600); err != nil {
			t.Fatal(err)
		}
		ns.Run("iptables-nft-restore", xt)
		ns.Run("nft", "-f", nft)
		s := nstest.Scrape(t, "firewall")
		requireSuccess(t, s, ns.Name)
		for _, backend := range []string{"iptables-nft", "nftables"} {
			total := 0.0
			for _, smp := range s.Find("netcause_firewall_rules", map[string]string{"netns": ns.Name, "backend": backend}) {
				total += smp.Value
			}
			if total < 950 || total > 1050 {
				t.Errorf("%s %s: %v rules, want about 1000", set, backend, total)
			}
		}
	}
}
