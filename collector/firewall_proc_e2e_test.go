package collector_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

// These tests run the firewall collector in a child process, so it can run
// with fewer capabilities, or in a mount namespace of its own where
// another process holds the xtables lock, without touching the host's.

const helperEnv = "NETCAUSE_FIREWALL_HELPER"

// helperResult is what the child prints: one scrape of its own namespace.
type helperResult struct {
	Took    float64
	Samples nstest.Samples
}

// TestFirewallHelperProcess is the child: it does nothing unless started by
// runHelper.
func TestFirewallHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	logger := slog.New(slog.DiscardHandler)
	cs, err := collector.Build(logger, "firewall")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	reg := exporter.NewRegistry(exporter.New(cs, netns.Options{SelfName: "self"}, logger))
	start := time.Now()
	mfs, err := reg.Gather()
	took := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gather:", err)
		os.Exit(2)
	}
	if err := json.NewEncoder(os.Stdout).Encode(helperResult{took.Seconds(), nstest.FromFamilies(mfs)}); err != nil {
		os.Exit(2)
	}
	os.Exit(0)
}

// runHelper runs the child inside ns, prefixed by wrapper (a command line
// that ends by running its arguments, e.g. setpriv), and returns its scrape.
func runHelper(t *testing.T, ns *nstest.NS, wrapper ...string) helperResult {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"netns", "exec", ns.Name}, wrapper...)
	args = append(args, self, "-test.run=^TestFirewallHelperProcess$", "-test.count=1")
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan struct{})
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill(); close(done) })
	out, err := cmd.Output()
	if !timer.Stop() {
		<-done
		t.Fatalf("helper in %s did not finish in 60s", ns.Name)
	}
	if err != nil {
		t.Fatalf("helper in %s (%v): %v\n%s", ns.Name, wrapper, err, stderr.String())
	}
	var r helperResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper output: %v\n%s\n%s", err, out, stderr.String())
	}
	return r
}

// fwNamespace has one DROP rule per source, counted: iptables-legacy on
// port 9000, iptables-nft on 9001 (in the ip6 family, so the two iptables
// flavours do not share a table), native nftables on 9002. Each rule has
// dropped n datagrams.
func fwNamespace(t *testing.T, subnet int, n int) (client, server *nstest.NS) {
	t.Helper()
	requireTools(t, "iptables-legacy", "ip6tables-nft", "nft", "setpriv", "unshare", "flock")
	client, server = nstest.New(t), nstest.New(t)
	c4, s4 := fmt.Sprintf("10.213.%d.1", subnet), fmt.Sprintf("10.213.%d.2", subnet)
	fwVeth(t, client, c4, server, s4, 24)
	c6, s6 := fmt.Sprintf("fd00:213:%d::1", subnet), fmt.Sprintf("fd00:213:%d::2", subnet)
	client.Run("ip", "-6", "addr", "add", c6+"/64", "dev", "fwc0", "nodad")
	server.Run("ip", "-6", "addr", "add", s6+"/64", "dev", "fws0", "nodad")
	waitReachable(t, client, server, "tcp6", "["+s6+"]:7")
	server.Run("iptables-legacy", "-A", "INPUT", "-p", "udp", "--dport", "9000", "-j", "DROP")
	server.Run("ip6tables-nft", "-A", "INPUT", "-p", "udp", "--dport", "9001", "-j", "DROP")
	nftLoad(t, server, `table inet native {
	chain input {
		type filter hook input priority 10; policy accept;
		udp dport 9002 counter drop comment "native9002"
	}
}
`)
	sendUDP(t, client, "udp4", s4+":9000", n, 100)
	sendUDP(t, client, "udp6", "["+s6+"]:9001", n, 100)
	sendUDP(t, client, "udp4", s4+":9002", n, 100)
	return client, server
}

// checkAllBackends checks the three rules of fwNamespace in a scrape.
func checkAllBackends(t *testing.T, s nstest.Samples, n int) {
	t.Helper()
	for _, c := range []map[string]string{
		{"backend": "iptables-legacy", "family": "ipv4", "table": "filter", "chain": "INPUT", "verdict": "drop"},
		{"backend": "iptables-nft", "family": "ipv6", "table": "filter", "chain": "INPUT", "verdict": "drop"},
		{"backend": "nftables", "family": "inet", "table": "native", "chain": "input", "verdict": "drop", "rule": "native9002"},
	} {
		if v := s.Must(t, fwPackets, merge(c, "netns", "self")); v != float64(n) {
			t.Errorf("%v: %v packets, want %d", c, v, n)
		}
	}
}

// The xtables lock held by another process (as kube-proxy's
// iptables-restore holds it) does not delay a scrape. The child runs in a
// mount namespace with its own /run, so the lock it sees at the default
// path /run/xtables.lock is held only there, never on the host, where other
// programs' iptables calls would fail or wait behind it.
func TestFirewallIgnoresXtablesLock(t *testing.T) {
	_, server := fwNamespace(t, 50, 13)

	unlocked := runHelper(t, server, "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs fwtest /run && exec "$@"`, "sh")
	checkAllBackends(t, unlocked.Samples, 13)

	// The shell holds the lock, proves it is held (an iptables that takes
	// it gives up after 2 s), then runs the child while it is still held.
	// The holder must not keep the child's stdout open.
	script := `set -e
mount -t tmpfs fwtest /run
flock /run/xtables.lock sleep 60 </dev/null >/dev/null 2>&1 &
holder=$!
trap 'kill $holder' EXIT
i=0
while flock -n /run/xtables.lock true; do i=$((i+1)); [ $i -lt 100 ] || exit 3; sleep 0.05; done
if iptables-legacy -w 2 -t filter -S >/dev/null 2>&1; then echo "lock not effective" >&2; exit 4; fi
"$@"`
	locked := runHelper(t, server, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh")
	checkAllBackends(t, locked.Samples, 13)
	if v := locked.Samples.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "firewall"}); v != 1 {
		t.Errorf("success %v with the lock held", v)
	}
	t.Logf("scrape took %.3fs unlocked, %.3fs with the lock held", unlocked.Took, locked.Took)
	// An iptables call queued behind the holder would take 60 s; the
	// margin is for a busy machine, not for a lock wait.
	if locked.Took > unlocked.Took+2 {
		t.Errorf("scrape took %.3fs with the lock held, %.3fs without", locked.Took, unlocked.Took)
	}
}

// Capabilities, measured: with none the collector fails cleanly (success 0
// and a blind spot, no crash); CAP_NET_ADMIN reads nf_tables (iptables-nft
// and native nftables) but not the legacy tables; CAP_NET_ADMIN and
// CAP_NET_RAW read everything. The child keeps uid 0 but loses every other
// capability through its bounding set.
func TestFirewallCapabilities(t *testing.T) {
	_, server := fwNamespace(t, 51, 5)
	caps := func(c string) []string {
		return []string{"setpriv", "--bounding-set=-all" + c, "--inh-caps=-all", "--"}
	}
	blind := func(s nstest.Samples, reason string) {
		t.Helper()
		if v := s.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "firewall"}); v != 0 {
			t.Errorf("success %v, want 0", v)
		}
		if v := s.Must(t, "netcause_collector_unavailable", map[string]string{"collector": "firewall", "netns": "self"}); v != 1 {
			t.Errorf("unavailable = %v", v)
		}
		if got := s.Find("netcause_collector_unavailable", map[string]string{"collector": "firewall", "reason": reason}); len(got) != 1 {
			t.Errorf("want reason %s, have %v", reason, s.Find("netcause_collector_unavailable", nil))
		}
	}

	none := runHelper(t, server, caps("")...).Samples
	blind(none, "permission_denied")
	if got := none.Find(fwPackets, nil); len(got) != 0 {
		t.Errorf("without capabilities the collector exported %v", got)
	}

	admin := runHelper(t, server, caps(",+net_admin")...).Samples
	blind(admin, "permission_denied")
	for _, b := range []string{"iptables-nft", "nftables"} {
		if got := admin.Find(fwPackets, map[string]string{"backend": b}); len(got) != 1 || got[0].Value != 5 {
			t.Errorf("CAP_NET_ADMIN: %s series %v, want one with 5 packets", b, got)
		}
	}
	if got := admin.Find(fwPackets, map[string]string{"backend": "iptables-legacy"}); len(got) != 0 {
		t.Errorf("CAP_NET_ADMIN alone read legacy tables: %v", got)
	}

	both := runHelper(t, server, caps(",+net_admin,+net_raw")...).Samples
	checkAllBackends(t, both, 5)
	if v := both.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "firewall"}); v != 1 {
		t.Errorf("CAP_NET_ADMIN+CAP_NET_RAW: success %v; unavailable %v", v, both.Find("netcause_collector_unavailable", nil))
	}
}

// No iptables binary anywhere on PATH: nothing changes, the collector never
// runs one.
func TestFirewallWithoutIptablesBinaries(t *testing.T) {
	_, server := fwNamespace(t, 52, 4)
	t.Setenv("PATH", t.TempDir())
	if _, err := exec.LookPath("iptables"); err == nil {
		t.Fatal("iptables still on PATH")
	}
	s := nstest.Scrape(t, "firewall")
	requireSuccess(t, s, server.Name)
	for _, c := range []map[string]string{
		{"backend": "iptables-legacy", "family": "ipv4"},
		{"backend": "iptables-nft", "family": "ipv6"},
		{"backend": "nftables", "family": "inet", "rule": "native9002"},
	} {
		if v := s.Must(t, fwPackets, merge(c, "netns", server.Name, "verdict", "drop")); v != 4 {
			t.Errorf("%v: %v packets, want 4", c, v)
		}
	}
}
