//go:build scenarios

package scenarios

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The scenarios, one per cause of ../shared/causes.md (with the variants
// issue 7 lists), the second seed end to end, and a healthy baseline.
// Co-symptoms are alerts of another cause a scenario may deliver; each
// says why that is right. Alerts that name the scenario's own cause need no
// reason.

func do(name string, fn func(*run) error, fires ...expectAlert) step {
	return step{stepSpec: stepSpec{Name: name, Fire: fires}, action: fn}
}

func undo(fn func(*run) error) step {
	return step{stepSpec: stepSpec{Name: "undo", ClearAll: true}, action: fn}
}

// Reasons shared by several scenarios.
const (
	whyClientSYN = "the SYNs are lost on another node; alerts do not infer across nodes, so the client " +
		"names what it sees: SYNs to the server unanswered (the alert's description lists the causes)"
	whyClientSYNRetrans = "the client's kernel retransmits the unanswered SYNs; muted by NetcausePeerSYNUnanswered " +
		"while that fires"
	whyICMPLimit = "the ICMP errors are rate-limited (net.ipv4.icmp_ratelimit): most SYNs get no answer at all"
	whyIgnored   = "SYNs reach the server and are dropped before its socket; muted by the firewall alert while " +
		"that fires, but the sampler counts a SYN unanswered 3 s after it, so this outlives the firewall alert after the undo"
	whyRecoveryResets = "after the fix the requests held back for seconds arrive; clients that had given up " +
		"(4 s timeout) closed their sockets, whose kernels reset the late replies: established connections aborted"
)

// co builds a co-symptom; defect is "" for a genuine one.
func co(alert, node, why, defect string) coSymptom { return coSymptom{alert, node, why, defect} }

func allScenarios() []*scenario {
	return []*scenario{
		conntrackFull(),
		baseline(),
		firewallDrop(),
		firewallRejectPort(),
		firewallRejectProhibited(),
		routeRemoved(),
		routeUnreachable(),
		interfaceDown(),
		portClosed(),
		natBypass(),
		queueCongestion(),
		randomLoss(),
		appHang(),
		appSlow(),
		appCrash(),
		mtuSmall(),
		listenOverflow(),
		secondSeed(),
		blindSpots(),
	}
}

func baseline() *scenario {
	return &scenario{
		id: "baseline", num: "0", title: "healthy baseline", cause: "",
		fault: "none: the same topology and load as every scenario for 60 s",
		load:  loadSpec{rate: 5, pool: 4},
		steps: []step{{stepSpec: stepSpec{Name: "healthy for 60 s"}, hold: 60 * time.Second}},
	}
}

const synDrop = "-p tcp --dport 8080 --syn -j DROP"

func firewallDrop() *scenario {
	rule := strings.Fields(synDrop)
	return &scenario{
		id: "fw-drop", num: "1a", title: "firewall DROPs SYNs in the server's INPUT chain", cause: "firewall_drop",
		fault: "server: `iptables -I INPUT " + synDrop + "`",
		undo:  "`iptables -D INPUT ...`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.iptables("server", append([]string{"-I", "INPUT"}, rule...)...) },
				fire("NetcauseFirewallBlockingConnections", "server", "firewall_drop")),
			undo(func(r *run) error { return r.iptables("server", append([]string{"-D", "INPUT"}, rule...)...) }),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyClientSYN, ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcausePeerSYNIgnored", "server", whyIgnored, "F2"),
		},
	}
}

func firewallRejectPort() *scenario {
	rule := []string{"-p", "tcp", "--dport", "8080", "--syn", "-j", "REJECT"}
	return &scenario{
		id: "fw-reject", num: "1b", title: "firewall REJECTs SYNs (iptables' default ICMP port-unreachable)", cause: "firewall_drop",
		fault: "server: `iptables -I INPUT -p tcp --dport 8080 --syn -j REJECT`",
		undo:  "`iptables -D INPUT ...`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.iptables("server", append([]string{"-I", "INPUT"}, rule...)...) },
				fire("NetcauseFirewallBlockingConnections", "server", "firewall_drop")),
			undo(func(r *run) error { return r.iptables("server", append([]string{"-D", "INPUT"}, rule...)...) }),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyICMPLimit+"; "+whyClientSYN, ""),
			co("NetcauseDestinationUnreachable", "client", "the client's kernel counts the same port-unreachables; muted "+
				"by NetcausePeerFirewallRejects, which the sampler's count of the rate-limited ICMP can let resolve first", "F2"),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcausePeerSYNIgnored", "server", whyIgnored, "F2"),
		},
	}
}

func firewallRejectProhibited() *scenario {
	rule := []string{"-p", "tcp", "--dport", "8080", "--syn", "-j", "REJECT", "--reject-with", "icmp-admin-prohibited"}
	return &scenario{
		id: "fw-prohibit", num: "1c", title: "firewall REJECTs SYNs with ICMP administratively-prohibited (firewalld's answer)", cause: "firewall_drop",
		fault: "server: `iptables -I INPUT -p tcp --dport 8080 --syn -j REJECT --reject-with icmp-admin-prohibited`",
		undo:  "`iptables -D INPUT ...`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.iptables("server", append([]string{"-I", "INPUT"}, rule...)...) },
				fire("NetcauseFirewallBlockingConnections", "server", "firewall_drop"),
				fire("NetcausePeerFirewallRejects", "client", "firewall_drop")),
			undo(func(r *run) error { return r.iptables("server", append([]string{"-D", "INPUT"}, rule...)...) }),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyICMPLimit+"; muted by NetcausePeerFirewallRejects while that "+
				"fires, it outlives it by the sampler's 3 s SYN timeout after the undo", "F2"),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcausePeerSYNIgnored", "server", whyIgnored, "F2"),
		},
	}
}

func routeRemoved() *scenario {
	return &scenario{
		id: "no-route", num: "2a", title: "the router's route to the server removed", cause: "no_route",
		fault: "router: `ip route del 10.0.2.0/24 dev s0`",
		undo:  "`ip route add 10.0.2.0/24 dev s0 src 10.0.2.1`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.node("router").ip("route del 10.0.2.0/24 dev s0") },
				fire("NetcauseNoRoute", "router", "no_route"),
				fire("NetcausePeerUnreachable", "client", "no_route")),
			undo(func(r *run) error {
				return r.node("router").ip("route add 10.0.2.0/24 dev s0 proto kernel scope link src " + routerServer)
			}),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyICMPLimit+"; muted by NetcausePeerUnreachable while that fires, "+
				"it outlives it: the few ICMP errors leave the 30 s window before the last unanswered SYNs do", "F2"),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
		},
	}
}

func routeUnreachable() *scenario {
	return &scenario{
		id: "unreachable-route", num: "2b", title: "an unreachable route to the server on the router", cause: "no_route",
		fault: "router: `ip route add unreachable 10.0.2.10/32`",
		undo:  "`ip route del unreachable 10.0.2.10/32`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.node("router").ip("route add unreachable " + serverAddr + "/32") },
				fire("NetcausePeerUnreachable", "client", "no_route")),
			undo(func(r *run) error { return r.node("router").ip("route del unreachable " + serverAddr + "/32") }),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyICMPLimit+"; muted by NetcausePeerUnreachable while that fires, "+
				"it outlives it: the few ICMP errors leave the 30 s window before the last unanswered SYNs do", "F2"),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
		},
	}
}

func interfaceDown() *scenario {
	return &scenario{
		id: "iface-down", num: "3a", title: "the server's interface down", cause: "peer_down",
		fault: "server: `ip link set eth0 down`",
		undo:  "`ip link set eth0 up` and its default route back",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.node("server").ip("link set eth0 down") },
				fire("NetcauseInterfaceDown", "server", "peer_down")),
			undo(func(r *run) error {
				return r.node("server").ip("link set eth0 up", "route replace default via "+routerServer)
			}),
		},
		co: []coSymptom{
			co("NetcausePeerUnreachable", "client", "the router cannot resolve the down host and answers ICMP "+
				"host-unreachable; from the client a host down and a host without a route look the same, as the "+
				"alert's description says", ""),
			co("NetcauseDestinationUnreachable", "client", "the same host-unreachable, counted by the client's kernel", ""),
			co("NetcausePeerSYNUnanswered", "client", "while the router resolves the host its SYNs wait and vanish, "+
				"and "+whyICMPLimit, ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcausePeerResets", "", "when the link comes back the replies held on the server reach clients "+
				"that gave up (4 s timeout) and closed: their kernels reset them", ""),
			co("NetcauseTCPSYNRetransmits", "server", "the SYN-ACKs the server sent as its link went down are lost "+
				"and retransmitted", ""),
		},
	}
}

func portClosed() *scenario {
	return &scenario{
		id: "port-closed", num: "3b", title: "nothing listens on the server's port", cause: "peer_down",
		fault: "server: the HTTP server stops cleanly (SIGTERM: listener closed, requests in flight finished)",
		undo:  "the server started again",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.stopServer("server") },
				fire("NetcausePeerPortClosed", "client", "peer_down")),
			undo(func(r *run) error { return r.restartServer("server") }),
		},
		co: []coSymptom{},
	}
}

// natBypass publishes the service through a DNAT on the router (10.0.1.1:8080
// -> 10.0.2.10:8080); the fault gives the server a return route that skips
// the router, so its replies come back untranslated.
func natBypass() *scenario {
	dnat := []string{"-t", "nat", "-A", "PREROUTING", "-d", routerClient, "-p", "tcp", "--dport", servicePort,
		"-j", "DNAT", "--to-destination", serverAddr + ":" + servicePort}
	return &scenario{
		id: "nat", num: "4", title: "DNAT whose return traffic does not pass the router", cause: "nat_mismatch",
		fault: "the service is published as 10.0.1.1:8080 by a DNAT on the router; the client runs a stateful host " +
			"firewall (`-A INPUT -m conntrack --ctstate INVALID -j DROP`); fault: server `ip route add 10.0.1.0/24 via " +
			"10.0.5.5 dev eth1`, a direct link, so replies skip the router's NAT; the client's exporter caps its " +
			"unreplied-entry dump at one (`--collector.conntrack_unreplied.limit=1`)",
		undo: "`ip route del 10.0.1.0/24 via 10.0.5.5`",
		opts: topoOptions{direct: true},
		load: loadSpec{target: routerClient + ":" + servicePort, rate: 5},
		// The client's exporter reads at most one unreplied conntrack entry
		// per scrape: its dump is cut short, and the dashboards' panel of
		// truncated dumps has something to show.
		exporterFlags: map[string][]string{"client": {"--collector.conntrack_unreplied.limit=1"}},
		setup: func(r *run) error {
			if err := r.iptables("router", dnat...); err != nil {
				return err
			}
			return r.iptables("client", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
		},
		steps: []step{
			do("inject", func(r *run) error {
				return r.node("server").ip("route add 10.0.1.0/24 via " + directClient + " dev eth1")
			},
				fire("NetcauseConntrackInvalid", "client", "nat_mismatch")),
			undo(func(r *run) error {
				return r.node("server").ip("route del 10.0.1.0/24 via " + directClient + " dev eth1")
			}),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", "the SYNs to 10.0.1.1 get no answer from 10.0.1.1: the answers "+
				"come from 10.0.2.10 by the direct link and are dropped as INVALID", ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcauseTCPSYNRetransmits", "server", "the server's SYN-ACKs go out by the direct link and are dropped "+
				"as INVALID at the client, so it retransmits them", ""),
		},
	}
}

func queueCongestion() *scenario {
	return &scenario{
		id: "congestion-tbf", num: "5a", title: "congestion: a 1 Mbit/s token bucket with a small buffer on the router", cause: "congestion",
		fault: "router: `tc qdisc add dev c0 root tbf rate 1mbit burst 4kb limit 8kb` (towards the client, " +
			"which downloads 256 KB every second)",
		undo: "`tc qdisc del dev c0 root`",
		load: loadSpec{rate: 3, bulk: 256 << 10},
		steps: []step{
			do("inject", func(r *run) error {
				_, err := r.node("router").run("tc", "qdisc", "add", "dev", "c0", "root", "tbf", "rate", "1mbit", "burst", "4kb", "limit", "8kb")
				return err
			}, fire("NetcauseQdiscDrops", "router", "congestion")),
			undo(func(r *run) error {
				_, err := r.node("router").run("tc", "qdisc", "del", "dev", "c0", "root")
				return err
			}),
		},
	}
}

func randomLoss() *scenario {
	rule := []string{"FORWARD", "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP"}
	return &scenario{
		id: "loss", num: "5b", title: "packet loss on the path: 10% random drop on the router", cause: "congestion",
		fault: "router: `iptables -A FORWARD -m statistic --mode random --probability 0.1 -j DROP`",
		undo:  "`iptables -D FORWARD ...`",
		load:  loadSpec{rate: 3, bulk: 256 << 10},
		steps: []step{
			do("inject", func(r *run) error { return r.iptables("router", append([]string{"-A"}, rule...)...) },
				fire("NetcauseTCPRetransmitRatioHigh", "server", "congestion")),
			undo(func(r *run) error { return r.iptables("router", append([]string{"-D"}, rule...)...) }),
		},
		co: []coSymptom{
			co("NetcauseFirewallDropping", "router", "the loss is made by an iptables statistic rule on the router, "+
				"and the firewall collector counts that rule's drops as it should", ""),
			co("NetcauseTCPSYNRetransmits", "", "10% loss each way loses about a fifth of the handshakes: SYNs and "+
				"SYN-ACKs are retransmitted, and nothing on the client or the server names the loss, which is on the router", ""),
			co("NetcausePeerSYNUnanswered", "client", "a handshake lost twice in a row waits past the 3 s SYN timeout", ""),
			co("NetcausePeerResets", "", "a request or reply lost several times in a row waits for backed-off "+
				"retransmissions past the client's 4 s timeout; the client closes, and its kernel resets the late reply", ""),
			co("NetcauseTCPEstablishedResets", "", "the same resets, counted by the kernel", ""),
		},
	}
}

func appHang() *scenario {
	return &scenario{
		id: "hang", num: "6a", title: "application hang: the server reads requests and never answers", cause: "app_hang",
		fault: "server: mode hang (accepts, reads the request, holds the connection without a reply)",
		undo:  "mode normal",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.setMode("server", modeHang) },
				fire("NetcausePeerNoResponse", "client", "app_hang")),
			undo(func(r *run) error { return r.setMode("server", modeNormal) }),
		},
	}
}

func appSlow() *scenario {
	return &scenario{
		id: "slow", num: "6b", title: "slow application: every reply 2.2 s late", cause: "app_hang",
		fault: "server: mode slow (replies after 2.2 s; the sampler's response timeout is 2.5 s)",
		undo:  "mode normal",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.setMode("server", modeSlow) },
				fire("NetcausePeerResponseSlow", "client", "app_hang")),
			undo(func(r *run) error { return r.setMode("server", modeNormal) }),
		},
	}
}

func appCrash() *scenario {
	return &scenario{
		id: "crash", num: "7", title: "application crash: the server process killed with connections open", cause: "app_crash",
		fault: "server: SIGKILL to the HTTP server while the client holds 20 pooled connections",
		undo:  "the server started again, the pool reconnects",
		load:  loadSpec{rate: 2, pool: 20},
		// The reset alerts compare the burst with the last hour's rate: a
		// node with a minute of healthy history lets the alert hold for the
		// whole fault, as hours of history do in a deployment.
		warmup: time.Minute,
		co: []coSymptom{
			co("NetcausePeerPortClosed", "client", "the port stays closed until the restart; muted by "+
				"NetcausePeerResets, which resolves one window after the crash, before the refusals leave theirs", "F2"),
			co("NetcauseTCPConnectionsRefused", "client", "the same refusals counted by the kernel; muted by the "+
				"reset alerts until they resolve", "F2"),
			co("NetcausePeerNoResponse", "", "the requests pending on the pooled connections when the process died "+
				"count as unanswered a response timeout later; muted by NetcausePeerResets, which can resolve an "+
				"evaluation before them", "F2"),
		},
		steps: []step{
			do("inject", func(r *run) error { return r.killServer("server") },
				fire("NetcausePeerResets", "client", "app_crash")),
			undo(func(r *run) error {
				if err := r.restartServer("server"); err != nil {
					return err
				}
				r.load.restartPool()
				return nil
			}),
		},
	}
}

// conntrackFull lowers the host's nf_conntrack_max (global: read-only in
// other namespaces) below the router's live entries, for as short as the
// alert takes.
func conntrackFull() *scenario {
	const maxPath = "/proc/sys/net/netfilter/nf_conntrack_max"
	var restore func()
	return &scenario{
		id: "conntrack-full", num: "8", title: "conntrack table full on the router", cause: "conntrack_full", exclusive: true,
		fault: "router tracks connections (`-A FORWARD -m conntrack --ctstate NEW,ESTABLISHED,RELATED -j ACCEPT`, 16 " +
			"pooled connections held); the host's `net.netfilter.nf_conntrack_max` (global) lowered to half the router's live count",
		undo: "nf_conntrack_max restored",
		load: loadSpec{rate: 3, pool: 16},
		setup: func(r *run) error {
			return r.iptables("router", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "NEW,ESTABLISHED,RELATED", "-j", "ACCEPT")
		},
		steps: []step{
			{stepSpec: stepSpec{Name: "inject", Fire: []expectAlert{fire("NetcauseConntrackDropping", "router", "conntrack_full")}},
				hold: time.Second,
				action: func(r *run) error {
					out, err := r.node("router").run("cat", "/proc/sys/net/netfilter/nf_conntrack_count")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(strings.TrimSpace(out))
					if err != nil || n < 8 {
						return fmt.Errorf("router conntrack count %q: want at least 8 live entries", out)
					}
					restore, err = setHostSysctl(maxPath, strconv.Itoa(n/2))
					return err
				}},
			undo(func(r *run) error {
				if restore == nil {
					return fmt.Errorf("nothing to restore")
				}
				restore()
				_, err := os.ReadFile(maxPath)
				return err
			}),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyClientSYN, ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
		},
	}
}

func mtuSmall() *scenario {
	return &scenario{
		id: "mtu", num: "9", title: "MTU 100 on the server's interface (the first seed)", cause: "mtu",
		fault: "server: `ip link set eth0 mtu 100` (offloads off on the router's side): SYNs pass, requests do not",
		undo:  "`ip link set eth0 mtu 1500`",
		load:  loadSpec{rate: 5},
		steps: []step{
			do("inject", func(r *run) error { return r.node("server").ip("link set eth0 mtu 100") },
				fire("NetcauseMTUDroppingPackets", "server", "mtu"),
				fire("NetcausePeerSmallMSS", "client", "mtu")),
			undo(func(r *run) error { return r.node("server").ip("link set eth0 mtu 1500") }),
		},
		co: mtuAftermath,
	}
}

func listenOverflow() *scenario {
	return &scenario{
		id: "listen-overflow", num: "10", title: "listen queue overflow: backlog 1, slow accept", cause: "nic_overflow",
		fault:     "server: the HTTP server listens with backlog 1 and now accepts one connection per 1.5 s",
		undo:      "accepts at once again",
		load:      loadSpec{rate: 5},
		serverEnv: []string{envBacklog + "=1"},
		steps: []step{
			do("inject", func(r *run) error { return r.setMode("server", modeSlowAccept) },
				fire("NetcauseTCPListenOverflow", "server", "nic_overflow")),
			undo(func(r *run) error { return r.setMode("server", modeNormal) }),
		},
		co: []coSymptom{
			co("NetcausePeerSYNUnanswered", "client", whyClientSYN, ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcausePeerResponseSlow", "", "connections wait in the accept queue, their requests unread, until "+
				"the server accepts them seconds later: the application is too slow to accept", ""),
			co("NetcausePeerNoResponse", "", "a connection that waits in the accept queue longer than the "+
				"sampler's 2.5 s response timeout has its request unanswered: the application is too slow to accept", ""),
			co("NetcausePeerSYNIgnored", "server", "SYNs dropped by the full queue; muted by "+
				"NetcauseTCPListenOverflow while that fires, it outlives it by the sampler's 3 s SYN timeout", "F2"),
			co("NetcauseTCPSYNRetransmits", "server", "with the accept queue full the server drops the clients' "+
				"ACKs and retransmits its SYN-ACKs; muted by NetcauseTCPListenOverflow until that resolves", "F2"),
			co("NetcausePeerResets", "", "after the fix the queued connections are accepted and answered; "+
				"clients that had given up (4 s timeout) closed their sockets, whose kernels reset the replies", ""),
			co("NetcauseTCPEstablishedResets", "", "the same resets, counted by the kernel", ""),
		},
	}
}

// secondSeed is the second reference case: a container with a 30% random
// DROP in INPUT and OUTPUT and MTU 100; fixed one cause at a time, the
// firewall first as in the seed.
func secondSeed() *scenario {
	drop := []string{"-m", "statistic", "--mode", "random", "--probability", "0.30", "-j", "DROP"}
	fwAlerts := []alertKey{key("NetcauseFirewallBlockingConnections", "server")}
	mtuAlerts := []alertKey{key("NetcauseMTUDroppingPackets", "server")}
	return &scenario{
		id: "seed2", num: "11", title: "second seed: container with 30% random DROP and MTU 100", cause: "firewall_drop, mtu",
		fault: "container (behind the server node, 10.0.3.10, serving HTTP): `iptables -A INPUT -m statistic --mode random " +
			"--probability 0.30 -j DROP`, the same in OUTPUT, and `ip link set eth0 mtu 100`",
		undo:    "the rules removed first (the MTU alerts stay), then MTU 1500",
		opts:    topoOptions{container: true},
		service: "container",
		load:    loadSpec{target: containerAddr + ":" + servicePort, rate: 5},
		steps: []step{
			do("inject both", func(r *run) error {
				for _, chain := range []string{"INPUT", "OUTPUT"} {
					if err := r.iptables("container", append([]string{"-A", chain}, drop...)...); err != nil {
						return err
					}
				}
				return r.node("container").ip("link set eth0 mtu 100")
			},
				fire("NetcauseFirewallBlockingConnections", "server", "firewall_drop"),
				fire("NetcauseMTUDroppingPackets", "server", "mtu"),
				fire("NetcausePeerSmallMSS", "client", "mtu")),
			{stepSpec: stepSpec{Name: "remove the DROP rules", Clear: fwAlerts, Keep: mtuAlerts}, action: func(r *run) error {
				for _, chain := range []string{"INPUT", "OUTPUT"} {
					if err := r.iptables("container", append([]string{"-D", chain}, drop...)...); err != nil {
						return err
					}
				}
				return nil
			}},
			undo(func(r *run) error { return r.node("container").ip("link set eth0 mtu 1500") }),
		},
		co: append([]coSymptom{
			co("NetcausePeerSYNUnanswered", "client", "30% of SYNs and of SYN-ACKs are dropped in the container: "+
				"a handshake that loses both tries waits past the 3 s SYN timeout; "+whyClientSYN, ""),
			co("NetcauseTCPSYNRetransmits", "client", whyClientSYNRetrans, ""),
			co("NetcauseTCPSYNRetransmits", "server", "the container retransmits the SYN-ACKs its OUTPUT rule "+
				"dropped; muted by NetcauseFirewallBlockingConnections on the same node until that resolves", "F2"),
			co("NetcausePeerSYNIgnored", "server", "the container's INPUT rule drops SYNs that reached it; muted by "+
				"NetcauseFirewallBlockingConnections until that resolves, which the sampler's 3 s SYN timeout outlasts", "F2"),
		}, mtuAftermath...),
	}
}

// mtuAftermath is what follows an MTU fix: the connections it held back
// come through.
var mtuAftermath = []coSymptom{
	co("NetcauseInterfaceReceiveDrops", "server", "the drops of the small MTU; muted by NetcauseMTUDroppingPackets, "+
		"which resolves the instant the MTU is set back, while the drops stay in the 30 s window", "F2"),
	co("NetcauseTCPRetransmitRatioHigh", "client", "the client retransmits the segments the small MTU dropped, "+
		"until after the fix; muted by NetcausePeerSmallMSS, which resolves first", "F2"),
	co("NetcausePeerNoResponse", "", "requests still unanswered when their connection ends around the fix; muted "+
		"by the MTU alerts until they resolve", "F2"),
	co("NetcausePeerResets", "", whyRecoveryResets, ""),
	co("NetcauseTCPEstablishedResets", "", whyRecoveryResets, ""),
}

// blindSpots breaks netcause itself: what it cannot see must say so
// (cause blind_spot), and the dashboards' blind-spot panels need data.
func blindSpots() *scenario {
	const table = "table inet ncsc {\n  chain input {\n    type filter hook input priority 10;\n    tcp dport 9 drop\n  }\n}\n"
	return &scenario{
		id: "blind-spots", num: "12", title: "netcause's own blind spots: an exporter down, an unreadable namespace, a rule without counter", cause: "blind_spot",
		fault: "router: its exporter killed; server: an empty file in the /run/netns its exporter reads (what a failed " +
			"`ip netns add` leaves) and an nftables drop rule without a counter statement (port 9, unused); the " +
			"server's exporter caps driver statistics at one per interface (`--collector.ethtool.max-stats-per-device=1`)",
		undo:          "the exporter restarted, the file and the nftables table removed",
		load:          loadSpec{rate: 5},
		serverView:    true,
		exporterFlags: map[string][]string{"server": {"--collector.ethtool.max-stats-per-device=1"}},
		steps: []step{
			do("inject", func(r *run) error {
				if err := r.stopExporter("router"); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(r.viewDir("server"), "stale"), nil, 0o644); err != nil {
					return err
				}
				path := filepath.Join(r.dir, "uncounted.nft")
				if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
					return err
				}
				_, err := r.node("server").run("nft", "-f", path)
				return err
			},
				fire("NetcauseExporterDown", "router", "blind_spot"),
				fire("NetcauseCollectorBlindSpot", "server", "blind_spot"),
				fire("NetcauseFirewallRulesUncounted", "server", "blind_spot")),
			undo(func(r *run) error {
				if err := os.Remove(filepath.Join(r.viewDir("server"), "stale")); err != nil {
					return err
				}
				if _, err := r.node("server").run("nft", "delete", "table", "inet", "ncsc"); err != nil {
					return err
				}
				return r.restartExporter("router")
			}),
		},
	}
}
