//go:build scenarios

package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Intervals of the Prometheus the suite runs: the alert pack's fast
// overlay (alerts/examples/fast.yaml, used as shipped) evaluates every
// 2 s; scrapes every 2 s leave a loaded 2-core machine time to collect a
// node's namespaces within the scrape timeout.
const (
	scrapeInterval = 2 * time.Second
	evalInterval   = 2 * time.Second
)

// stack is what every scenario shares: the built exporter, the generated
// rule files, Prometheus, Alertmanager and the webhook receiver.
type stack struct {
	dir      string // everything the run writes, logs included
	repo     string // the checkout; docs/scenarios.md goes here
	src      string // what is built and read: repo, or a snapshot of a revision
	exporter string // the built netcause_exporter
	rules    rulePack
	promURL  string
	amURL    string
	hook     *recorder

	targetsMu   sync.Mutex
	targets     map[string]string // instance -> address
	targetsFile string
}

// repoRoot is the module root, two levels above this package.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("module root not found from %s: %w", wd, err)
	}
	return root, nil
}

// requireTools fails (never skips) when a binary the suite needs is absent.
func requireTools() error {
	var missing []string
	for _, bin := range []string{"ip", "iptables", "nft", "tc", "ethtool", "sysctl", "mount", "tcpdump", "git", "prometheus", "prometheus-alertmanager", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run test/setup.sh (make test-deps) as root", strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the scenario suite needs root (namespaces, iptables, sysctl)")
	}
	return nil
}

// snapshot extracts rev of the repository into dir/src, so a run tests
// committed code while others edit the checkout.
func (s *stack) snapshot(rev string) error {
	s.src = filepath.Join(s.dir, "src")
	if err := os.MkdirAll(s.src, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "-C", s.repo, "archive", "--format=tar", rev)
	extract := exec.Command("tar", "-x", "-C", s.src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	extract.Stdin = pipe
	var errs strings.Builder
	archive.Stderr, extract.Stderr = &errs, &errs
	if err := extract.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %w: %s", rev, err, errs.String())
	}
	if err := extract.Wait(); err != nil {
		return fmt.Errorf("extract %s: %w: %s", rev, err, errs.String())
	}
	return nil
}

// build compiles the exporter and generates the rule files with the fast
// overlay, into dir.
func (s *stack) build() error {
	s.exporter = filepath.Join(s.dir, "netcause_exporter")
	cmd := exec.Command("go", "build", "-o", s.exporter, "./cmd/netcause_exporter")
	cmd.Dir, cmd.Env = s.src, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build exporter: %w\n%s", err, out)
	}
	overlayPath := filepath.Join(s.src, "alerts", "examples", "fast.yaml")
	rulesDir := filepath.Join(s.dir, "rules")
	cmd = exec.Command("go", "run", "./alerts/gen", "-config", overlayPath, "-out", rulesDir)
	cmd.Dir = s.src
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate rules: %w\n%s", err, out)
	}
	var err error
	s.rules, err = loadRulePack(filepath.Join(rulesDir, "netcause.rules.yml"))
	return err
}

// rulePack is what the suite needs to know of the generated alerts.
type rulePack map[string]ruleInfo

func loadRulePack(path string) (rulePack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert  string            `yaml:"alert"`
				Expr   string            `yaml:"expr"`
				For    string            `yaml:"for"`
				Labels map[string]string `yaml:"labels"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p := rulePack{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			var d time.Duration
			if r.For != "" {
				if d, err = parsePromDuration(r.For); err != nil {
					return nil, fmt.Errorf("%s: alert %s: for %q: %w", path, r.Alert, r.For, err)
				}
			}
			p[r.Alert] = ruleInfo{For: d, Cause: r.Labels["cause"], Expr: r.Expr}
		}
	}
	if len(p) == 0 {
		return nil, fmt.Errorf("%s: no alerts", path)
	}
	return p, nil
}

// parsePromDuration reads Prometheus durations such as 1m30s, 6s, 1h.
func parsePromDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// freePort returns a loopback address nobody listens on now.
func freePort() (string, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs Alertmanager, the webhook and Prometheus.
func (s *stack) start() error {
	hook, err := newRecorder()
	if err != nil {
		return err
	}
	s.hook = hook
	undos.push("webhook", hook.close)

	amAddr, err := freePort()
	if err != nil {
		return err
	}
	amConfig, err := s.alertmanagerConfig(hook.url)
	if err != nil {
		return err
	}
	amPath := filepath.Join(s.dir, "alertmanager.yml")
	if err := os.WriteFile(amPath, amConfig, 0o644); err != nil {
		return err
	}
	s.amURL = "http://" + amAddr
	if _, err := startProc(s.dir, "alertmanager", procOptions{},
		"prometheus-alertmanager", "--config.file="+amPath, "--storage.path="+filepath.Join(s.dir, "am-data"),
		"--web.listen-address="+amAddr, "--web.external-url="+s.amURL+"/", "--cluster.listen-address=",
		"--log.level=warn"); err != nil {
		return err
	}
	if err := waitReady(s.amURL+"/-/ready", 30*time.Second); err != nil {
		return fmt.Errorf("alertmanager: %w; log:\n%s", err, tail(filepath.Join(s.dir, "alertmanager.log")))
	}

	s.targets = map[string]string{}
	s.targetsFile = filepath.Join(s.dir, "targets.json")
	if err := s.writeTargets(); err != nil {
		return err
	}
	promAddr, err := freePort()
	if err != nil {
		return err
	}
	promPath := filepath.Join(s.dir, "prometheus.yml")
	if err := os.WriteFile(promPath, s.prometheusConfig(amAddr), 0o644); err != nil {
		return err
	}
	s.promURL = "http://" + promAddr
	if _, err := startProc(s.dir, "prometheus", procOptions{},
		"prometheus", "--config.file="+promPath, "--storage.tsdb.path="+filepath.Join(s.dir, "prom-data"),
		"--storage.tsdb.retention.time=2h", "--web.listen-address="+promAddr, "--log.level=warn"); err != nil {
		return err
	}
	if err := waitReady(s.promURL+"/-/ready", 60*time.Second); err != nil {
		return fmt.Errorf("prometheus: %w; log:\n%s", err, tail(filepath.Join(s.dir, "prometheus.log")))
	}
	return s.startMachineExporter()
}

// machineInstance is the instance label of the exporter that reads what
// belongs to the machine rather than to a simulated node: softnet_stat
// (the kernel keeps it per CPU, for every namespace at once) and the real
// NIC's ring and driver statistics (veths have no ring). Other programs
// run on this machine too: its alerts belong to no scenario and are
// reported, not judged.
const machineInstance = "machine"

// machineCollectors are the collectors the machine exporter runs.
var machineCollectors = map[string]bool{"softnet": true, "ethtool": true}

// startMachineExporter runs an exporter in the suite's own namespace with
// the machine's collectors only, so the dashboards' softnet and ring
// panels have data.
func (s *stack) startMachineExporter() error {
	help, _ := exec.Command(s.exporter, "--help").CombinedOutput()
	args := []string{s.exporter, "--log.level=warn"}
	for _, m := range regexp.MustCompile(`--\[no-\]collector\.(\w+)`).FindAllStringSubmatch(string(help), -1) {
		if machineCollectors[m[1]] {
			args = append(args, "--collector."+m[1])
		} else {
			args = append(args, "--no-collector."+m[1])
		}
	}
	if len(args) == 2 {
		return fmt.Errorf("no --collector.* flag in netcause_exporter --help:\n%s", help)
	}
	addr, err := freePort()
	if err != nil {
		return err
	}
	if _, err := startProc(s.dir, "exporter-machine", procOptions{}, append(args, "--web.listen-address="+addr)...); err != nil {
		return err
	}
	if err := waitReady("http://"+addr+"/metrics", 20*time.Second); err != nil {
		return fmt.Errorf("machine exporter: %w; log:\n%s", err, tail(filepath.Join(s.dir, "exporter-machine.log")))
	}
	return s.addTarget(machineInstance, addr)
}

func (s *stack) prometheusConfig(amAddr string) []byte {
	return []byte(fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
  evaluation_interval: %s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs: [{targets: [%q]}]
scrape_configs:
  - job_name: netcause
    file_sd_configs: [{files: [%q], refresh_interval: 1s}]
`, scrapeInterval, scrapeInterval, evalInterval, filepath.Join(s.dir, "rules", "netcause.rules.yml"), amAddr, s.targetsFile))
}

// alertmanagerConfig routes every alert on its own (group_by '...') to the
// webhook at once, and merges the shipped inhibitions.
func (s *stack) alertmanagerConfig(hookURL string) ([]byte, error) {
	shipped := filepath.Join(s.src, "alerts/alertmanager/inhibit_rules.yml")
	b, err := os.ReadFile(shipped)
	if err != nil {
		return nil, err
	}
	var inhibit struct {
		InhibitRules []map[string]any `yaml:"inhibit_rules"`
	}
	if err := yaml.Unmarshal(b, &inhibit); err != nil {
		return nil, fmt.Errorf("%s: %w", shipped, err)
	}
	if len(inhibit.InhibitRules) == 0 {
		return nil, fmt.Errorf("%s: no inhibit_rules", shipped)
	}
	cfg := map[string]any{
		"route": map[string]any{
			"receiver":        "webhook",
			"group_by":        []string{"..."},
			"group_wait":      "0s",
			"group_interval":  "1s",
			"repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name":            "webhook",
			"webhook_configs": []any{map[string]any{"url": hookURL, "send_resolved": true}},
		}},
		"inhibit_rules": inhibit.InhibitRules,
	}
	return yaml.Marshal(cfg)
}

func waitReady(u string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s", u, resp.Status)
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %v: %v", limit, last)
}

// addTarget and removeTarget edit the file Prometheus discovers its
// targets from; instance is "<scenario>/<node>".
func (s *stack) addTarget(instance, addr string) error {
	s.targetsMu.Lock()
	defer s.targetsMu.Unlock()
	s.targets[instance] = addr
	return s.writeTargets()
}

// waitTargetsGone waits until Prometheus scrapes no target of prefix any
// more (file discovery applies changes every few seconds), so stopping
// the exporters does not record failed scrapes.
func (s *stack) waitTargetsGone(prefix string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var out struct {
			Data struct {
				Active []struct {
					Labels map[string]string `json:"labels"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(context.Background(), s.promURL+"/api/v1/targets?state=active", &out); err != nil {
			return err
		}
		left := 0
		for _, t := range out.Data.Active {
			if strings.HasPrefix(t.Labels["instance"], prefix) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus still scrapes %d targets of %s after %v", left, prefix, limit)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (s *stack) removeTargets(prefix string) error {
	s.targetsMu.Lock()
	defer s.targetsMu.Unlock()
	for inst := range s.targets {
		if strings.HasPrefix(inst, prefix) {
			delete(s.targets, inst)
		}
	}
	return s.writeTargets()
}

func (s *stack) writeTargets() error {
	type group struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	groups := []group{}
	insts := make([]string, 0, len(s.targets))
	for inst := range s.targets {
		insts = append(insts, inst)
	}
	sort.Strings(insts)
	for _, inst := range insts {
		groups = append(groups, group{Targets: []string{s.targets[inst]}, Labels: map[string]string{"instance": inst}})
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.targetsFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.targetsFile)
}

// promSample is one element of an instant vector.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query.
func (s *stack) query(ctx context.Context, expr string) ([]promSample, error) {
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, s.promURL+"/api/v1/query?query="+url.QueryEscape(expr), &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", expr, out.Error)
	}
	var res []promSample
	switch out.Data.ResultType {
	case "vector", "matrix":
		if err := json.Unmarshal(out.Data.Result, &res); err != nil {
			return nil, err
		}
	case "scalar", "string":
		res = []promSample{{Metric: map[string]string{}}}
	}
	return res, nil
}

// promAlert is an alert as Prometheus holds it: pending or firing,
// inhibited or not (inhibition happens in Alertmanager).
type promAlert struct {
	Labels   map[string]string `json:"labels"`
	State    string            `json:"state"`
	ActiveAt time.Time         `json:"activeAt"`
	Value    string            `json:"value"`
}

func (s *stack) alerts(ctx context.Context) ([]promAlert, error) {
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := getJSON(ctx, s.promURL+"/api/v1/alerts", &out); err != nil {
		return nil, err
	}
	return out.Data.Alerts, nil
}

func getJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return json.Unmarshal(b, v)
}
