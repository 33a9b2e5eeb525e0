//go:build scenarios

package scenarios

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// scenario is one documented cause reproduced: the fault, its undo, and
// what the alert pack must say.
type scenario struct {
	id, num, title, cause string
	fault, undo           string // one line each, for the report
	opts                  topoOptions
	service               string // node the HTTP server runs on; default server
	serverEnv             []string
	load                  loadSpec
	setup                 func(*run) error // after the topology, before the warmup
	steps                 []step
	co                    []coSymptom
	// exclusive scenarios change machine-wide state and run alone.
	exclusive bool
	// warmup is the least healthy time before the injection (default
	// warmupMin).
	warmup time.Duration
	// serverView gives the server's exporter a private /run/netns even
	// without a container; exporterFlags adds flags per node.
	serverView    bool
	exporterFlags map[string][]string
}

// step is an action and what must follow it.
type step struct {
	stepSpec
	action func(*run) error
	// hold keeps the step going after its expectations are met (or, with
	// none, is the step's length).
	hold time.Duration
}

// Bounds of a step.
const (
	warmupMin   = 12 * time.Second // rates need samples; peers need series
	warmupMax   = 45 * time.Second
	fireGrace   = 3 * time.Second   // waited past the last deadline before giving up
	clearLimit  = 150 * time.Second // the 30 s rate window, the fault's aftermath, notification
	pollEvery   = 500 * time.Millisecond
	defaultHold = 5 * time.Second
	settleQuiet = 3 * time.Second
	// The sampler's response timeout sits above the slow scenario's 2.2 s.
	// The ring's blocks each close after 50 ms, so at the test's light
	// traffic a ring holds blocks × 50 ms of packets whatever its size in
	// bytes: 64 blocks ride out the 2-3 s a loaded 2-core machine keeps a
	// reader off the CPU (4 blocks, the default, last 0.2 s).
	samplerFlags = "--sampler.response-timeout=2500ms --sampler.ring-size=64"
)

// run is one scenario being run.
type run struct {
	s       *stack
	sc      *scenario
	t       *topo
	dir     string
	load    *loadGen
	logf    func(format string, args ...any)
	servers map[string]*serverProc
	exps    map[string]*nodeExporter
	res     *scenarioResult
}

type serverProc struct {
	p        *proc
	modeFile string
	env      []string
}

func (r *run) node(role string) *node { return r.t.node(role) }

// iptables runs iptables in a node, waiting for the xtables lock.
func (r *run) iptables(role string, args ...string) error {
	_, err := r.node(role).run(append([]string{"iptables", "-w", "10"}, args...)...)
	return err
}

func (r *run) startServer(role string, env ...string) error {
	if old := r.servers[role]; old != nil {
		old.p.stop()
	}
	modeFile := filepath.Join(r.dir, role+".mode")
	if err := os.WriteFile(modeFile, []byte(modeNormal), 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	all := append([]string{roleEnv + "=httpserver", envListen + "=0.0.0.0:" + servicePort, envModeFile + "=" + modeFile}, env...)
	p, err := startProc(r.dir, "httpserver-"+role, procOptions{env: all, ready: readyLine},
		"ip", "netns", "exec", r.node(role).ns, self)
	if err != nil {
		return err
	}
	r.servers[role] = &serverProc{p: p, modeFile: modeFile, env: env}
	return nil
}

func (r *run) setMode(role, mode string) error {
	sp := r.servers[role]
	if sp == nil {
		return fmt.Errorf("no server on %s", role)
	}
	return os.WriteFile(sp.modeFile, []byte(mode), 0o644)
}

// nodeExporter is one node's exporter. Its listening socket stays open
// in the suite, so a restarted exporter serves the same address.
type nodeExporter struct {
	role string
	addr string
	file *os.File
	argv []string
	p    *proc
}

// exporterOptions say what a node's exporter reads.
type exporterOptions struct {
	sampler bool
	// view: read /run/netns (--netns.named) through a private directory
	// holding only extra (and what a scenario adds to it later).
	view  bool
	extra []string
	flags []string
}

// startExporter runs netcause_exporter inside a node's namespace, as a
// node's exporter runs on that node, serving on a loopback socket of the
// suite's namespace handed over by socket activation. With a view, the
// exporter sees under /run/netns, in a private mount namespace, only the
// namespaces that belong to its node (the server's container).
func (r *run) startExporter(role string, o exporterOptions) error {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e := &nodeExporter{role: role, addr: l.Addr().String()}
	e.file, err = l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		return err
	}
	r.exps[role] = e
	// softnet_stat is per machine: every simulated node shares this
	// machine's CPUs, so the machine exporter (stack) reads it instead.
	// Scrapes must finish within the scrape interval: serve the firewall
	// rules of the last complete collection rather than wait longer.
	args := []string{r.s.exporter, "--web.systemd-socket", "--netns.self-name=" + role, "--log.level=warn",
		"--no-collector.softnet", "--collector.firewall.wait=1s"}
	if o.sampler {
		args = append(append(args, "--sampler.enabled"), strings.Fields(samplerFlags)...)
	}
	args = append(args, o.flags...)
	inner := args
	if o.view {
		view := r.viewDir(role)
		if err := os.MkdirAll(view, 0o755); err != nil {
			return err
		}
		script := "set -e\n"
		for _, x := range o.extra {
			if err := os.WriteFile(filepath.Join(view, x), nil, 0o644); err != nil {
				return err
			}
			script += fmt.Sprintf("mount --bind /run/netns/%s %s/%s\n", r.node(x).ns, view, x)
		}
		script += fmt.Sprintf("mount --rbind %s /run/netns\nexec \"$@\"\n", view)
		inner = append([]string{"sh", "-c", script, "sh"}, append(args, "--netns.named")...)
	}
	// socket activation wants LISTEN_PID to be the exporter's pid: the
	// shell's, kept through exec, ip netns exec and exec again.
	e.argv = append([]string{"sh", "-c", "export LISTEN_PID=$$; exec \"$@\"", "sh", "ip", "netns", "exec", r.node(role).ns}, inner...)
	if err := r.launchExporter(e); err != nil {
		return err
	}
	return r.s.addTarget(r.sc.id+"/"+role, e.addr)
}

func (r *run) viewDir(role string) string { return filepath.Join(r.dir, "netns-view-"+role) }

func (r *run) launchExporter(e *nodeExporter) error {
	p, err := startProc(r.dir, "exporter-"+e.role, procOptions{env: []string{"LISTEN_FDS=1"}, files: []*os.File{e.file}}, e.argv...)
	if err != nil {
		return err
	}
	e.p = p
	if err := waitReady("http://"+e.addr+"/metrics", 20*time.Second); err != nil {
		return fmt.Errorf("exporter on %s: %w; log:\n%s", e.role, err, tail(p.log))
	}
	return nil
}

// stopExporter kills a node's exporter; its target stays in Prometheus.
func (r *run) stopExporter(role string) error {
	e := r.exps[role]
	if e == nil || e.p == nil {
		return fmt.Errorf("no exporter on %s", role)
	}
	e.p.stop()
	return nil
}

func (r *run) restartExporter(role string) error {
	e := r.exps[role]
	if e == nil {
		return fmt.Errorf("no exporter on %s", role)
	}
	if e.p != nil {
		e.p.stop()
	}
	return r.launchExporter(e)
}

// instances is the instance label prefix of this scenario.
func (r *run) prefix() string { return r.sc.id + "/" }

// active returns this scenario's alerts active in Prometheus, by key, and
// whether each key has a firing one.
func (r *run) active(ctx context.Context) (map[alertKey]string, error) {
	all, err := r.s.alerts(ctx)
	if err != nil {
		return nil, err
	}
	out := map[alertKey]string{}
	for _, a := range all {
		sc, nd := splitInstance(a.Labels["instance"])
		if sc != r.sc.id {
			continue
		}
		k := alertKey{a.Labels["alertname"], nd}
		if out[k] != "firing" {
			out[k] = a.State
		}
	}
	return out, nil
}

// runScenario runs sc from topology to teardown; it never panics on a
// failing scenario, the verdict reads the result.
func runScenario(ctx context.Context, s *stack, sc *scenario, logf func(string, ...any), panels *panelCheck) *scenarioResult {
	res := &scenarioResult{ID: sc.id, Num: sc.num, Title: sc.title, Cause: sc.cause, Fault: sc.fault, Undo: sc.undo,
		Co: sc.co, PromFiring: map[alertKey]time.Time{}, PromLast: map[alertKey]time.Time{}, Start: time.Now()}
	r := &run{s: s, sc: sc, res: res, servers: map[string]*serverProc{}, exps: map[string]*nodeExporter{}, logf: func(f string, a ...any) {
		logf("%s: "+f, append([]any{sc.id}, a...)...)
	}}
	defer func() { res.End = time.Now() }()
	r.dir = filepath.Join(s.dir, sc.id)
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		res.SetupErr = err.Error()
		return res
	}
	if err := r.prepare(); err != nil {
		res.SetupErr = err.Error()
		r.teardown()
		return res
	}
	r.steps(ctx, panels)
	r.teardown()
	// Late notifications (a resolution in flight) still belong here.
	time.Sleep(settleQuiet)
	res.Events = s.hook.events(sc.id)
	return res
}

func (r *run) prepare() error {
	t, err := newTopo(r.sc.id, r.sc.opts)
	if err != nil {
		return err
	}
	r.t = t
	service := r.sc.service
	if service == "" {
		service = "server"
	}
	if err := r.startServer(service, r.sc.serverEnv...); err != nil {
		return err
	}
	if r.sc.setup != nil {
		if err := r.sc.setup(r); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	server := exporterOptions{sampler: true, view: r.sc.opts.container || r.sc.serverView, flags: r.sc.exporterFlags["server"]}
	if r.sc.opts.container {
		server.extra = []string{"container"}
	}
	for role, o := range map[string]exporterOptions{
		"client": {sampler: true, flags: r.sc.exporterFlags["client"]},
		"router": {flags: r.sc.exporterFlags["router"]},
		"server": server,
	} {
		if err := r.startExporter(role, o); err != nil {
			return err
		}
	}
	// A capture of the service's traffic on client and server, kept with
	// the run directory when the suite fails, to tell a wrong alert from a
	// real packet pattern.
	for _, role := range []string{"client", "server"} {
		if _, err := startProc(r.dir, "tcpdump-"+role, procOptions{}, "ip", "netns", "exec", r.node(role).ns,
			"tcpdump", "-i", "any", "-nn", "-s", "128", "-U", "-w", filepath.Join(r.dir, role+".pcap"),
			"tcp port "+servicePort+" or icmp"); err != nil {
			return err
		}
	}
	spec := r.sc.load
	if spec.target == "" {
		spec.target = serverAddr + ":" + servicePort
	}
	r.load = startLoad(r.node("client"), spec)
	return r.warmup()
}

// warmup waits until every node is scraped and rates have samples, and
// until nothing of the scenario is pending: faults go into a quiet system.
func (r *run) warmup() error {
	ctx := context.Background()
	start := time.Now()
	for {
		time.Sleep(pollEvery)
		up, err := r.s.query(ctx, fmt.Sprintf(`count_over_time(up{instance=~"%s.*"}[1m]) >= 5 and up == 1`, r.prefix()))
		if err != nil {
			return err
		}
		act, err := r.active(ctx)
		if err != nil {
			return err
		}
		least := r.sc.warmup
		if least == 0 {
			least = warmupMin
		}
		if len(up) == 3 && len(act) == 0 && time.Since(start) >= least {
			r.logf("warm after %.0fs: %s", time.Since(start).Seconds(), r.load.summary())
			return nil
		}
		if time.Since(start) > max(warmupMax, least+warmupMax-warmupMin) {
			return fmt.Errorf("not warm after %v: %d of 3 nodes scraped, alerts active while healthy: %v; load %s",
				warmupMax, len(up), act, r.load.summary())
		}
	}
}

func (r *run) steps(ctx context.Context, panels *panelCheck) {
	for i := range r.sc.steps {
		st := &r.sc.steps[i]
		rec := stepResult{Spec: st.stepSpec, Start: time.Now(), ClearedAt: map[alertKey]time.Time{}, KeptLost: map[alertKey]time.Time{}}
		if st.action != nil {
			if err := st.action(r); err != nil {
				rec.ActionErr = err.Error()
			}
		}
		r.logf("step %q at %s", st.Name, rec.Start.Format("15:04:05"))
		r.watch(ctx, st, &rec)
		if !st.ClearAll {
			// The fault is in place: the panels that show it have data now.
			panels.sample(ctx, r.sc.id)
		}
		rec.End = time.Now()
		r.res.Steps = append(r.res.Steps, rec)
		r.logf("step %q done after %.0fs", st.Name, rec.End.Sub(rec.Start).Seconds())
		if rec.ActionErr != "" {
			return
		}
	}
}

// watch polls Prometheus and the webhook until the step's expectations are
// met or their time is up, then holds.
func (r *run) watch(ctx context.Context, st *step, rec *stepResult) {
	fireLimit := time.Duration(0)
	for _, f := range st.Fire {
		if ri, ok := r.s.rules[f.Alert]; ok {
			fireLimit = max(fireLimit, deadline(ri, scrapeInterval))
		}
	}
	fireLimit += fireGrace
	var metAt time.Time
	for {
		time.Sleep(pollEvery)
		now := time.Now()
		act, err := r.active(ctx)
		if err != nil {
			r.logf("poll: %v", err)
			continue
		}
		for k, state := range act {
			if state != "firing" {
				continue
			}
			if _, seen := r.res.PromFiring[k]; !seen {
				r.res.PromFiring[k] = now
			}
			r.res.PromLast[k] = now
		}
		for _, k := range st.Keep {
			if _, lost := rec.KeptLost[k]; !lost && act[k] != "firing" {
				rec.KeptLost[k] = now
			}
		}
		evs := r.s.hook.events(r.sc.id)
		fired := true
		for _, f := range st.Fire {
			got := false
			for _, e := range evs {
				if e.Status == "firing" && keyOf(e) == f.alertKey && !e.At.Before(rec.Start) {
					got = true
					break
				}
			}
			fired = fired && got
		}
		cleared := true
		for _, k := range st.Clear {
			if _, ok := act[k]; !ok && lastStatus(evs, k, now) != "firing" {
				if _, done := rec.ClearedAt[k]; !done {
					rec.ClearedAt[k] = now
				}
			} else {
				cleared = false
			}
		}
		if st.ClearAll {
			rec.StillActive = rec.StillActive[:0]
			for k, state := range act {
				rec.StillActive = append(rec.StillActive, k.String()+" ("+state+")")
			}
			for _, e := range evs {
				if k := keyOf(e); lastStatus(evs, k, now) == "firing" {
					rec.StillActive = append(rec.StillActive, k.String()+" (no resolution sent)")
				}
			}
			sort.Strings(rec.StillActive)
			rec.StillActive = dedup(rec.StillActive)
			cleared = cleared && len(rec.StillActive) == 0
		}
		elapsed := now.Sub(rec.Start)
		if metAt.IsZero() {
			fireDone := fired || elapsed > fireLimit
			clearDone := cleared || elapsed > clearLimit
			if fireDone && clearDone {
				metAt = now
			}
		}
		hold := st.hold
		if hold == 0 && (len(st.Fire) > 0 || len(st.Keep) > 0) {
			hold = defaultHold
		}
		if !metAt.IsZero() && now.Sub(metAt) >= hold {
			return
		}
	}
}

func dedup(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// teardown stops the load, takes the nodes out of Prometheus and removes
// everything the scenario started.
func (r *run) teardown() {
	if r.load != nil {
		r.load.halt()
		r.res.Load = r.load.summary()
	}
	_ = r.s.removeTargets(r.prefix())
	if err := r.s.waitTargetsGone(r.prefix(), 20*time.Second); err != nil {
		r.logf("teardown: %v", err)
	}
	for _, e := range r.exps {
		if e.p != nil {
			e.p.stop()
		}
		e.file.Close()
	}
	for _, sp := range r.servers {
		sp.p.stop()
	}
	if r.t != nil {
		r.t.remove()
	}
}

// killServer is the crash: SIGKILL with connections open.
func (r *run) killServer(role string) error {
	sp := r.servers[role]
	if sp == nil {
		return fmt.Errorf("no server on %s", role)
	}
	if sp.p.signal(syscall.SIGKILL, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("server on %s did not die", role)
}

// stopServer is a clean stop: the port closes.
func (r *run) stopServer(role string) error {
	sp := r.servers[role]
	if sp == nil {
		return fmt.Errorf("no server on %s", role)
	}
	if sp.p.signal(syscall.SIGTERM, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("server on %s did not stop on SIGTERM", role)
}

func (r *run) restartServer(role string, env ...string) error {
	return r.startServer(role, env...)
}
