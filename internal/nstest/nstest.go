// Package nstest builds throwaway network namespaces for end-to-end tests
// against the real kernel, and scrapes the exporter inside a test.
//
// Every namespace is named nctest-<pid>-<n> and removed by t.Cleanup, also
// when the test fails. Namespaces left by a test binary that was killed are
// removed by the next one (Sweep), recognised by their dead pid.
package nstest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/netns"
)

var seq atomic.Int64

// RequireRoot fails the test (it does not skip it) when it cannot create
// namespaces: a skipped end-to-end test would pass for the wrong reason.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("end-to-end test needs root (network namespaces, iptables, sysctl); run it through `make test` as root")
	}
	for _, bin := range []string{"ip"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not installed; `make test` installs it (apt-get install iproute2)", bin)
		}
	}
}

// NS is a network namespace created for one test.
type NS struct {
	Name string
	t    testing.TB

	pidOnce sync.Once
	pid     int // a process inside, for /proc/PID/net
}

// New creates a namespace with its loopback up, removed when the test ends.
func New(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	Sweep()
	name := fmt.Sprintf("nctest-%d-%d", os.Getpid(), seq.Add(1))
	out, err := exec.Command("ip", "netns", "add", name).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	ns := &NS{Name: name, t: t}
	t.Cleanup(func() { remove(name) })
	ns.Run("ip", "link", "set", "lo", "up")
	return ns
}

// remove kills what runs in the namespace, then deletes it.
func remove(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscallKill(pid)
			}
		}
	}
	_ = exec.Command("ip", "netns", "del", name).Run()
}

// Sweep removes nctest namespaces whose creating test binary is gone.
func Sweep() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "nctest-") {
			continue
		}
		parts := strings.Split(f[0], "-")
		if len(parts) < 3 {
			continue
		}
		pid, err := strconv.Atoi(parts[1])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + parts[1]); os.IsNotExist(err) {
			remove(f[0])
		}
	}
}

// Target is the namespace as the exporter sees it with --netns.named.
func (n *NS) Target() netns.Target {
	return netns.Target{Name: n.Name, Path: "/run/netns/" + n.Name, Kind: "named"}
}

// Run runs a command inside the namespace and fails the test if it fails.
func (n *NS) Run(args ...string) string {
	n.t.Helper()
	out, err := n.RunErr(args...)
	if err != nil {
		n.t.Fatalf("in %s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// RunErr runs a command inside the namespace (bounded to 60 s) and returns
// its combined output.
func (n *NS) RunErr(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return buf.String(), err
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return buf.String(), fmt.Errorf("timed out after 60s")
	}
}

// Start starts a long-running command inside the namespace; it is killed
// when the test ends.
func (n *NS) Start(args ...string) *exec.Cmd {
	n.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("in %s: start %s: %v", n.Name, strings.Join(args, " "), err)
	}
	n.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// Veth connects a and b with a veth pair named aIf (in a) and bIf (in b),
// addresses aAddr and bAddr (CIDR, may be empty), both ends up.
func Veth(t testing.TB, a *NS, aIf, aAddr string, b *NS, bIf, bAddr string) {
	t.Helper()
	a.Run("ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name)
	for _, e := range []struct {
		ns       *NS
		dev, adr string
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		if e.adr != "" {
			e.ns.Run("ip", "addr", "add", e.adr, "dev", e.dev)
		}
		e.ns.Run("ip", "link", "set", e.dev, "up")
	}
}

// Listen opens a listener inside the namespace. The socket stays in the
// namespace, so the test serves it from any goroutine.
func (n *NS) Listen(network, addr string) net.Listener {
	n.t.Helper()
	var l net.Listener
	err := n.Target().Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		n.t.Fatalf("listen in %s on %s: %v", n.Name, addr, err)
	}
	n.t.Cleanup(func() { l.Close() })
	return l
}

// Dial connects from inside the namespace, bounded by timeout.
func (n *NS) Dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := n.Target().Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, timeout)
		return err
	})
	return c, err
}

// ProcNet reads a file of the namespace's /proc/PID/net through a process
// started in it, the way an engineer would inspect a container.
func (n *NS) ProcNet(file string) string {
	n.t.Helper()
	n.pidOnce.Do(func() {
		cmd := n.Start("sleep", "3600")
		n.pid = cmd.Process.Pid
		// `ip netns exec` enters the namespace after it starts: until then
		// /proc/PID/net shows the host's counters.
		want, err := os.Stat("/run/netns/" + n.Name)
		if err != nil {
			n.t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			fi, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", n.pid))
			if err == nil && os.SameFile(fi, want) {
				break
			}
			if time.Now().After(deadline) {
				n.t.Fatalf("process %d did not enter namespace %s within 5s", n.pid, n.Name)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", n.pid, file))
	if err != nil {
		n.t.Fatal(err)
	}
	return string(b)
}
