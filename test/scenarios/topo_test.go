//go:build scenarios

package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/netcause/netcause/internal/netns"
)

// The topology of every scenario, each in namespaces of its own:
//
//	client 10.0.1.5 --eth0/c0-- router 10.0.1.1|10.0.2.1 --s0/eth0-- server 10.0.2.10
//	                                                                   |ctr0 10.0.3.1
//	                                                        container 10.0.3.10 (second seed)
//	client eth1 10.0.5.5 ----------- direct link ----------- server eth1 10.0.5.10 (NAT bypass)
//
// Nodes are what a deployment calls nodes: each runs its own exporter and
// is its own Prometheus instance. The container belongs to the server node.
const (
	clientAddr    = "10.0.1.5"
	routerClient  = "10.0.1.1"
	routerServer  = "10.0.2.1"
	serverAddr    = "10.0.2.10"
	serverCtrGW   = "10.0.3.1"
	containerAddr = "10.0.3.10"
	directClient  = "10.0.5.5"
	directServer  = "10.0.5.10"
	servicePort   = "8080"
)

// cmdTimeout bounds every command the suite runs.
const cmdTimeout = 30 * time.Second

// node is one network namespace of a topology.
type node struct {
	role string // client, router, server, container
	ns   string // its name under /run/netns
}

func (n *node) target() netns.Target {
	return netns.Target{Name: n.role, Path: "/run/netns/" + n.ns, Kind: "named"}
}

// run runs a command inside the namespace.
func (n *node) run(args ...string) (string, error) {
	return runCmd(nil, append([]string{"ip", "netns", "exec", n.ns}, args...)...)
}

// ip runs ip commands in the namespace, one per line, in one process.
func (n *node) ip(lines ...string) error {
	_, err := runCmd([]byte(strings.Join(lines, "\n")+"\n"), "ip", "-n", n.ns, "-batch", "-")
	return err
}

func (n *node) sysctl(kv ...string) error {
	_, err := n.run(append([]string{"sysctl", "-q", "-w"}, kv...)...)
	return err
}

func runCmd(stdin []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// topo is one scenario's namespaces.
type topo struct {
	id    string
	nodes map[string]*node
	undo  []func()
}

type topoOptions struct {
	container bool // the second seed's container behind the server
	direct    bool // a client-server link that bypasses the router
}

func (t *topo) node(role string) *node { return t.nodes[role] }

// newTopo builds the namespaces, links, addresses and routes. On error
// what was built is removed.
func newTopo(id string, o topoOptions) (_ *topo, err error) {
	t := &topo{id: id, nodes: map[string]*node{}}
	defer func() {
		if err != nil {
			t.remove()
		}
	}()
	roles := []string{"client", "router", "server"}
	if o.container {
		roles = append(roles, "container")
	}
	for _, r := range roles {
		n := &node{role: r, ns: fmt.Sprintf("%s%d-%s-%s", nsPrefix, os.Getpid(), id, r)}
		if _, err := runCmd(nil, "ip", "netns", "add", n.ns); err != nil {
			return nil, err
		}
		t.undo = append(t.undo, undos.push("namespace "+n.ns, func() { removeNamespace(n.ns) }))
		t.nodes[r] = n
		if err := n.ip("link set lo up"); err != nil {
			return nil, err
		}
	}
	c, r, s := t.node("client"), t.node("router"), t.node("server")
	links := []struct {
		a      *node
		aIf    string
		aAddr  string
		b      *node
		bIf    string
		bAddr  string
		enable bool
	}{
		{c, "eth0", clientAddr + "/24", r, "c0", routerClient + "/24", true},
		{r, "s0", routerServer + "/24", s, "eth0", serverAddr + "/24", true},
		{s, "ctr0", serverCtrGW + "/24", t.node("container"), "eth0", containerAddr + "/24", o.container},
		{c, "eth1", directClient + "/24", s, "eth1", directServer + "/24", o.direct},
	}
	for _, l := range links {
		if !l.enable {
			continue
		}
		if err := l.a.ip(fmt.Sprintf("link add %s type veth peer name %s netns %s", l.aIf, l.bIf, l.b.ns)); err != nil {
			return nil, err
		}
		for _, e := range []struct {
			n         *node
			dev, addr string
		}{{l.a, l.aIf, l.aAddr}, {l.b, l.bIf, l.bAddr}} {
			if err := e.n.ip("addr add "+e.addr+" dev "+e.dev, "link set "+e.dev+" up"); err != nil {
				return nil, err
			}
			// Large GSO packets from a veth skip the receiver's MTU check;
			// without offloads a small MTU drops what it should (toolchain.md).
			if _, err := e.n.run("ethtool", "-K", e.dev, "tso", "off", "gso", "off"); err != nil {
				return nil, err
			}
		}
	}
	if err := r.sysctl("net.ipv4.ip_forward=1"); err != nil {
		return nil, err
	}
	if err := c.ip("route add default via " + routerClient); err != nil {
		return nil, err
	}
	if err := s.ip("route add default via " + routerServer); err != nil {
		return nil, err
	}
	if o.container {
		if err := s.sysctl("net.ipv4.ip_forward=1"); err != nil {
			return nil, err
		}
		if err := t.node("container").ip("route add default via " + serverCtrGW); err != nil {
			return nil, err
		}
		if err := r.ip("route add 10.0.3.0/24 via " + serverAddr); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// remove deletes the namespaces and everything running in them.
func (t *topo) remove() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}
