package collector_test

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/netcause/netcause/internal/nstest"
)

// BenchmarkConntrackUnreplied is one conntrack scrape (statistics and the
// unreplied-entry dump) of a router namespace whose table holds n
// unreplied SNAT entries: SYNs from distinct source ports that hping3
// sends through an SNAT the server cannot answer. At 20000 the dump stops
// at the default limit of 10000. other-namespace scrapes the client, which
// holds no entry, while the router holds them: the kernel walks the
// machine-wide table for every namespace's dump.
func BenchmarkConntrackUnreplied(b *testing.B) {
	if _, err := exec.LookPath("hping3"); err != nil {
		b.Fatal("hping3 not installed; `make test` installs it (apt-get install hping3)")
	}
	for _, n := range []int{1000, 5000, 20000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			client, router, server := nstest.New(b), nstest.New(b), nstest.New(b)
			nstest.Veth(b, client, "ncbc0", "10.238.1.2/24", router, "ncbr0", "10.238.1.1/24")
			nstest.Veth(b, router, "ncbr1", "10.238.2.1/24", server, "ncbs0", "10.238.2.2/24")
			client.Run("ip", "route", "add", "default", "via", "10.238.1.1")
			router.Run("sysctl", "-qw", "net.ipv4.ip_forward=1")
			router.Run("iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ncbr1", "-j", "SNAT", "--to-source", "10.238.9.9")
			// hping3 gives each SYN the next source port; keep clear of the
			// top of the port range.
			client.RunErr("hping3", "-q", "-S", "-p", "9", "-s", "1024", "-c", strconv.Itoa(n), "-i", "u20", "10.238.2.2")
			count := strings.TrimSpace(router.Run("sysctl", "-n", "net.netfilter.nf_conntrack_count"))
			if c, _ := strconv.Atoi(count); c < n*9/10 {
				b.Fatalf("router holds %s conntrack entries after %d SYNs", count, n)
			}
			b.Run("router", func(b *testing.B) { benchCollectorUpdate(b, "conntrack_unreplied", router.Target()) })
			// conntrack's hash table is one for the machine: every
			// namespace's dump walks all of it, its own entries or not.
			b.Run("other-namespace", func(b *testing.B) { benchCollectorUpdate(b, "conntrack_unreplied", client.Target()) })
		})
	}
}
