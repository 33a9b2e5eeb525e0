package deploy_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// An exporter run sees, for the namespaces this test made (and the host's):
// which metric families it exported per netns, and its blind spots.
// Families are compared only in the test's own namespaces, where no traffic
// flows; in the host namespace other work on the machine makes per-peer
// series come and go between two runs.
type view struct {
	families    map[string]bool   // "family netns", not for host
	unavailable map[string]string // "collector netns" -> reason
	log         string
}

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} `)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

func parseView(body string, mine []string) view {
	v := view{families: map[string]bool{}, unavailable: map[string]string{}}
	for _, line := range strings.Split(body, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[p[1]] = p[2]
		}
		ns, ok := labels["netns"]
		if !ok || !slices.Contains(mine, ns) {
			continue
		}
		if m[1] == "netcause_collector_unavailable" && strings.HasSuffix(line, " 1") {
			v.unavailable[labels["collector"]+" "+ns] = labels["reason"]
			continue
		}
		if ns != "host" {
			v.families[m[1]+" "+ns] = true
		}
	}
	return v
}

// collectorFlags enables every collector the binary has, and the
// sampler, from its --help.
func collectorFlags(t *testing.T, bin string) []string {
	out, _ := run(t, time.Minute, bin, "--help")
	var flags []string
	for _, m := range regexp.MustCompile(`--\[no-\](collector\.[a-z0-9_]+|sampler\.enabled)\s`).FindAllStringSubmatch(out, -1) {
		flags = append(flags, "--"+m[1])
	}
	if len(flags) == 0 {
		t.Fatalf("no --[no-]collector.NAME flags in --help:\n%s", out)
	}
	return flags
}

// exporterAs runs the exporter over every namespace kind and scrapes it;
// caps nil means as root with every capability, else as nobody with
// exactly caps (ambient, inheritable and bounding, no_new_privs), as the
// systemd unit runs it.
func exporterAs(t *testing.T, caps []string, mine []string) view {
	t.Helper()
	bin := exporter(t)
	addr := freeAddr(t)
	args := append([]string{"--web.listen-address=" + addr, "--netns.named", "--netns.processes", "--netns.max=100000"},
		collectorFlags(t, bin)...)
	var cmd *exec.Cmd
	if caps == nil {
		cmd = exec.Command(bin, args...)
	} else {
		set := "-all"
		for _, c := range caps {
			set += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
		}
		sp := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs",
			"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--", bin}
		cmd = exec.Command(hostTool(t, "setpriv", "util-linux"), append(sp, args...)...)
	}
	p := start(t, cmd)
	// Collectors that work in the background (firewall) serve their
	// result from the second scrape on.
	scrape(t, p, addr)
	time.Sleep(time.Second)
	body := scrape(t, p, addr)
	p.stop()
	v := parseView(body, mine)
	v.log = p.out.String()
	return v
}

// diff lists what b lacks compared with a: blind spots b has that a has
// not, then metric families a exported and b did not, counted per netns.
func diff(a, b view) []string {
	var out []string
	for k, r := range b.unavailable {
		if _, ok := a.unavailable[k]; !ok {
			out = append(out, "blind spot (collector netns): "+k+" reason="+r)
		}
	}
	sort.Strings(out)
	missing := map[string][]string{}
	for k := range a.families {
		if !b.families[k] {
			family, ns, _ := strings.Cut(k, " ")
			missing[ns] = append(missing[ns], family)
		}
	}
	for _, ns := range slices.Sorted(maps.Keys(missing)) {
		f := missing[ns]
		slices.Sort(f)
		more := ""
		if len(f) > 4 {
			f, more = f[:4], ", …"
		}
		out = append(out, fmt.Sprintf("netns %s: %d metric families missing (%s%s)", ns, len(missing[ns]), strings.Join(f, ", "), more))
	}
	return out
}

// The exporter as a non-root user with exactly README's capabilities sees
// what it sees as root, in the host namespace, a named namespace and the
// namespace of another user's process; and each listed capability is
// needed: without it something goes missing.
func TestLeastPrivilege(t *testing.T) {
	caps := readmeCaps(t)
	ip := hostTool(t, "ip", "iproute2")

	// A named namespace with the firewall rules every backend keeps, so
	// each collector has something to read there.
	named := fmt.Sprintf("ncdeploy-%d", rand.IntN(1_000_000))
	mustRun(t, time.Minute, ip, "netns", "add", named)
	t.Cleanup(func() { exec.Command(ip, "netns", "del", named).Run() })
	mustRun(t, time.Minute, ip, "-n", named, "link", "set", "lo", "up")
	mustRun(t, time.Minute, ip, "netns", "exec", named, hostTool(t, "iptables-legacy", "iptables"),
		"-A", "INPUT", "-s", "10.217.1.0/24", "-j", "DROP")
	mustRun(t, time.Minute, ip, "netns", "exec", named, hostTool(t, "iptables-nft", "iptables"),
		"-A", "INPUT", "-s", "10.217.2.0/24", "-j", "DROP")
	mustRun(t, time.Minute, ip, "netns", "exec", named, hostTool(t, "nft", "nftables"),
		"add table inet ncdeploy; add chain inet ncdeploy in { type filter hook input priority 0; }; add rule inet ncdeploy in ip saddr 10.217.3.0/24 counter drop")

	// An unnamed namespace held by a process of another user: found only
	// through /proc/PID/ns/net.
	holder := start(t, exec.Command(hostTool(t, "unshare", "util-linux"), "--net", "--",
		hostTool(t, "setpriv", "util-linux"), "--reuid=12345", "--regid=12345", "--clear-groups", "--", "sleep", "600"))
	var ino uint64
	hostIno := nsInode(t, "/proc/self/ns/net")
	for deadline := time.Now().Add(10 * time.Second); ; {
		ino = nsInode(t, fmt.Sprintf("/proc/%d/ns/net", holder.cmd.Process.Pid))
		if ino != hostIno && procUID(t, holder.cmd.Process.Pid) == 12345 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("namespace holder did not reach its own namespace as uid 12345")
		}
		time.Sleep(50 * time.Millisecond)
	}
	unnamed := processNetnsName(t, holder.cmd.Process.Pid, ino)
	mine := []string{"host", named, unnamed}

	root := exporterAs(t, nil, mine)
	for _, ns := range mine[1:] {
		if !slices.ContainsFunc(mapKeys(root.families), func(k string) bool { return strings.HasSuffix(k, " "+ns) }) {
			t.Fatalf("as root the exporter exported nothing for netns %q; the test setup is broken:\n%s", ns, root.log)
		}
	}
	t.Logf("as root: %d families over %v, blind spots %v", len(root.families), mine, root.unavailable)

	listed := exporterAs(t, caps, mine)
	if d := diff(root, listed); len(d) > 0 {
		t.Errorf("as nobody with exactly %v (README), the exporter sees less than as root; the list lacks a capability or a collector needs more than it should:\n  %s\nexporter log:\n%s",
			caps, strings.Join(d, "\n  "), warnings(listed.log, mine))
	}

	for _, c := range caps {
		without := slices.DeleteFunc(slices.Clone(caps), func(x string) bool { return x == c })
		if d := diff(listed, exporterAs(t, without, mine)); len(d) == 0 {
			t.Errorf("without %s nothing goes missing: README lists it needlessly, or this test lacks the situation that needs it", c)
		} else {
			t.Logf("without %s: %s", c, strings.Join(d, "; "))
		}
	}
}

func mapKeys[V any](m map[string]V) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}

// warnings are the exporter's log lines about the test's namespaces.
func warnings(log string, mine []string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "level=WARN") && !strings.Contains(l, "level=ERROR") {
			continue
		}
		if slices.ContainsFunc(mine, func(ns string) bool { return strings.Contains(l, "netns="+ns+" ") }) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

func procUID(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	uid, _ := strconv.Atoi(string(m[1]))
	return uid
}

var containerID = regexp.MustCompile(`[0-9a-f]{64}`)

// processNetnsName is the netns label README.md documents for a process's
// namespace: the short container id from its cgroup path, else
// ino-<inode>.
func processNetnsName(t *testing.T, pid int, ino uint64) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	id := ""
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.LastIndexByte(line, ':'); i >= 0 {
			if m := containerID.FindAllString(line[i+1:], -1); len(m) > 0 {
				id = m[len(m)-1]
			}
		}
	}
	if id != "" {
		return id[:12]
	}
	return "ino-" + strconv.FormatUint(ino, 10)
}
