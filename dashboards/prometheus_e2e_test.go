package dashboards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/netcause/netcause/alerts/render"
	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/dashboards"
	"github.com/netcause/netcause/dashboards/boards"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

// TestQueriesOnPrometheus runs every panel query against a real Prometheus
// (the Debian package's, started here on loopback) that scrapes netcause's
// exporter (in-process, sampler enabled) every second and evaluates the
// alert pack with the fast overlay the scenario suite uses. The exporter reads its own namespace and two the test makes: a
// client, and a server whose firewall drops SYNs to one port with a
// commented rule while the client keeps trying, next to echo traffic. A query that parses can
// still fail to run (a join that turns many-to-many, a function this
// Prometheus lacks); here it fails the test, and the firewall table must
// show the dropping rule with its text. Every panel must return data but
// those boards.Needs says need a fault; the fault-scenario suite checks
// those.
func TestQueriesOnPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("the Prometheus binary is missing: apt-get install prometheus (test/setup.sh installs it)")
	}
	client, server := nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "ncdash0", "10.166.6.1/24", server, "ncdash1", "10.166.6.2/24")
	server.Run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9", "-m", "comment", "--comment", dropComment, "-j", "DROP")
	// A conntrack match makes the kernel track the namespace's flows (and
	// loads nf_conntrack where nothing had), so the conntrack panels have
	// a table to show.
	server.Run("iptables", "-A", "INPUT", "-m", "conntrack", "--ctstate", "INVALID", "-j", "DROP")
	// An nftables rule without a counter: a discard nothing counts.
	server.Run("nft", "add table inet dashtest { chain in { type filter hook input priority 10; tcp dport 11 drop; }; }")
	server.EchoServer("10.166.6.2:7")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Bounded: at most 300 attempts, each bounded by its timeout.
		for i := 0; i < 300; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if c, err := client.Dial("tcp", "10.166.6.2:9", 200*time.Millisecond); err == nil {
				c.Close()
			}
			client.EchoTraffic(t, "10.166.6.2:7", 1, 2000, time.Second)
		}
	}()
	t.Cleanup(func() { close(stop); <-done })

	target := serveExporter(t, client, server)
	api := startPrometheus(t, bin, target, fastRules(t))

	// Rates need two samples inside $__rate_interval; four scrapes of 1 s.
	const rateInterval = "4s"
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := queryCount(api, `count_over_time(up{job="netcause"}[30s])`)
		if err == nil && n >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not scrape the exporter 8 times within 60 s (last: %v, %v)", n, err)
		}
		time.Sleep(time.Second)
	}

	// The fast overlay's alerts fire within seconds: wait for the firewall
	// one, so the alert panels have something to show.
	for {
		n, err := queryCount(api, `count(ALERTS{alertname=~"NetcauseFirewall(Dropping|BlockingConnections)", alertstate="firing"})`)
		if err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no firewall alert fired within 60 s of Prometheus starting (last: %v, %v)", n, err)
		}
		time.Sleep(time.Second)
	}

	qs, err := dashboards.Queries(".", map[string]string{"__rate_interval": rateInterval, "__range": "8s"})
	if err != nil {
		t.Fatal(err)
	}
	empty := map[string]string{} // panel -> what it needs for data
	withData := map[string]bool{}
	now := time.Now()
	for _, q := range qs {
		panel := fmt.Sprintf("%s panel %d %q", q.File, q.PanelID, q.Panel)
		var n int
		var err error
		if q.Instant {
			n, err = query(api, "/api/v1/query", url.Values{"query": {q.Expr}, "time": {unix(now)}})
		} else {
			n, err = query(api, "/api/v1/query_range", url.Values{"query": {q.Expr},
				"start": {unix(now.Add(-6 * time.Second))}, "end": {unix(now)}, "step": {"1"}})
		}
		if err != nil {
			t.Errorf("%s query %s fails on Prometheus: %v\n%s", panel, q.RefID, err, q.Expr)
			continue
		}
		if n > 0 {
			withData[panel] = true
		} else {
			empty[panel] = q.Needs
		}
	}
	var none []string
	for p := range empty {
		if !withData[p] {
			none = append(none, p)
		}
	}
	sort.Strings(none)
	for _, p := range none {
		if empty[p] == "" {
			t.Errorf("%s returned no data from a live exporter; if it needs a fault, say which in boards.Needs", p)
			continue
		}
		// The sampler runs here, with traffic, and there is an uncounted
		// rule: those panels must fill.
		if strings.Contains(empty[p], "sampler") || strings.Contains(p, "Discarding rules that count nothing") {
			t.Errorf("%s returned no data although the sampler runs with traffic", p)
			continue
		}
		t.Logf("no data here, as expected without %s: %s", empty[p], p)
	}

	// The overview's alert table names the firing alert's cause and the
	// dashboard of its layer.
	for _, q := range qs {
		if q.Panel != "Firing alerts and their cause" {
			continue
		}
		series, err := querySeries(api, q.Expr)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range series {
			if strings.HasPrefix(m["alertname"], "NetcauseFirewall") && m["netns"] == server.Name {
				found = true
				if m["cause"] != "firewall_drop" || m["dashboard"] != boards.UIDNetfilter {
					t.Errorf("alert %s: cause %q, dashboard %q; want firewall_drop, %s", m["alertname"], m["cause"], m["dashboard"], boards.UIDNetfilter)
				}
			}
		}
		if !found {
			t.Errorf("the firing-alerts table lacks the firewall alert in %s: %v", server.Name, series)
		}
	}

	// The ranked firewall table joins each rule's counter with its text.
	for _, q := range qs {
		if q.Panel != "Discarding rules ranked by drop rate" || q.RefID != "A" {
			continue
		}
		series, err := querySeries(api, q.Expr)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range series {
			if m["rule"] == dropComment && m["netns"] == server.Name {
				found = true
				if !strings.Contains(m["text"], "--dport 9") || !strings.Contains(m["text"], "DROP") {
					t.Errorf("rule %s has text %q, want the iptables-save line", dropComment, m["text"])
				}
			}
		}
		if !found {
			t.Errorf("the ranked firewall table does not list rule %s in %s: %v", dropComment, server.Name, series)
		}
	}
	t.Logf("%d queries ran; %d panels returned data", len(qs), len(withData))
	if len(withData) < 20 {
		t.Errorf("only %d panels returned data from a live exporter; the queries select nothing", len(withData))
	}
}

const dropComment = "dashboards-e2e-drop"

// serveExporter serves every default collector over the test's own
// namespace and the given ones, as the exporter binary would with
// --netns.named, and returns its host:port. A private run directory holds
// only these namespaces, so other tests' namespaces stay out.
func serveExporter(t *testing.T, nss ...*nstest.NS) string {
	t.Helper()
	runDir := t.TempDir()
	for _, ns := range nss {
		if err := os.Symlink(ns.Target().Path, filepath.Join(runDir, ns.Name)); err != nil {
			t.Fatal(err)
		}
	}
	// kingpin fills the flags' defaults only when it parses. The sampler
	// watches the test's subnet only, with short timeouts so unanswered
	// SYNs and requests count within the test.
	sflags := exporter.AddSamplerFlags(kingpin.CommandLine)
	if _, err := kingpin.CommandLine.Parse([]string{"--sampler.enabled", "--sampler.filter=10.166.6.0/24",
		"--sampler.syn-timeout=1s", "--sampler.response-timeout=1s", "--sampler.ring-size=2"}); err != nil {
		t.Fatalf("flags: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	cs, err := collector.Build(logger)
	if err != nil {
		t.Fatal(err)
	}
	opts := netns.Options{SelfName: "host", Named: true, RunDir: runDir, Max: 1000}
	reg := exporter.NewRegistry(exporter.New(cs, opts, logger))
	cfg, err := sflags.LiveConfig()
	if err != nil {
		t.Fatal(err)
	}
	s := exporter.NewSampler(cfg, opts, logger)
	t.Cleanup(s.Close)
	reg.MustRegister(s)
	h, err := exporter.Handler(reg, "/metrics", 4, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// fastRules writes the alert pack built with alerts/examples/fast.yaml (30 s
// windows, for durations a twentieth) and returns the rule file's path.
func fastRules(t *testing.T) string {
	t.Helper()
	cfg, err := rules.LoadConfig(filepath.Join("..", "alerts", "examples", "fast.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pack, err := rules.Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.Files(pack)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if f.Path == "netcause.rules.yml" {
			path := filepath.Join(t.TempDir(), f.Path)
			if err := os.WriteFile(path, f.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}
	}
	t.Fatal("alerts/render made no netcause.rules.yml")
	return ""
}

// startPrometheus runs Prometheus on a free loopback port with a 1 s scrape
// of target and the rule file, and returns its base URL.
func startPrometheus(t *testing.T, bin, target, rulesFile string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: netcause
    static_configs:
      - targets: [%q]
`, rulesFile, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting Prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		logf.Close()
	})
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("Prometheus not ready within 30 s:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func unix(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 3, 64)
}

// query runs one API query and returns how many series it returned.
func query(base, path string, v url.Values) (int, error) {
	client := http.Client{Timeout: 20 * time.Second}
	resp, err := client.PostForm(base+path, v)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string `json:"status"`
		Error     string `json:"error"`
		ErrorType string `json:"errorType"`
		Data      struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	return len(r.Data.Result), nil
}

// querySeries runs an instant query and returns the labels of each series.
func querySeries(base, expr string) ([]map[string]string, error) {
	client := http.Client{Timeout: 20 * time.Second}
	resp, err := client.PostForm(base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s", r.Error)
	}
	var out []map[string]string
	for _, s := range r.Data.Result {
		out = append(out, s.Metric)
	}
	return out, nil
}

func queryCount(base, expr string) (int, error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.PostForm(base+"/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, fmt.Errorf("no result yet")
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return int(v), err
}
