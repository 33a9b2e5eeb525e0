package alerts_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/netcause/netcause/alerts/render"
	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/internal/catalog"

	// Linked for their metric declarations: catalog.All() then lists
	// every metric the exporter can export.
	_ "github.com/netcause/netcause/collector"
	_ "github.com/netcause/netcause/exporter"
)

// The package directory is alerts/; the repository root is one up.
const root = ".."

func shippedPack(t *testing.T) *rules.Pack {
	t.Helper()
	p, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestGeneratedFilesCurrent fails when the committed rule files or
// docs/alerts.md's tables differ from what alerts/gen makes of alerts/rules.
func TestGeneratedFilesCurrent(t *testing.T) {
	p := shippedPack(t)
	files, err := render.Files(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		got, err := os.ReadFile(f.Path)
		if err != nil {
			t.Errorf("%v; run `make alerts`", err)
			continue
		}
		if !bytes.Equal(got, f.Data) {
			t.Errorf("alerts/%s is stale; run `make alerts`", f.Path)
		}
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := render.DocTables(p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := render.SpliceDoc(doc, tables)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(doc, want) {
		t.Error("docs/alerts.md's tables are stale; run `make alerts`")
	}
}

// histogramSuffixes are the series a histogram metric is exposed as.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// TestMetricsExist proves every metric a rule reads is one the exporter
// declares (or a recording rule of the pack, or Prometheus' own up), so a
// renamed metric breaks this test instead of silently muting an alert.
func TestMetricsExist(t *testing.T) {
	declared := map[string]bool{}
	for _, d := range catalog.All() {
		declared[d.Name] = true
	}
	p := shippedPack(t)
	recorded := map[string]bool{}
	for _, r := range p.Recordings {
		recorded[r.Name] = true
	}
	exists := func(name string) bool {
		if declared[name] || recorded[name] || name == "up" {
			return true
		}
		for _, s := range histogramSuffixes {
			if base, ok := strings.CutSuffix(name, s); ok && declared[base] {
				return true
			}
		}
		return false
	}
	missing := map[string][]string{}
	check := func(rule, expr string) {
		names, err := render.MetricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", rule, err)
			return
		}
		for _, n := range names {
			if !exists(n) {
				missing[n] = append(missing[n], rule)
			}
		}
	}
	for _, r := range p.Recordings {
		check(r.Name, r.Expr)
	}
	for _, a := range p.Alerts {
		check(a.Def.Name, a.Expr)
	}
	names := make([]string, 0, len(missing))
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s is read by %s but no collector or exporter declares it", n, strings.Join(missing[n], ", "))
	}
}

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"## Meaning", "## Confirm", "## Fix", "## Why the fix works", "## What comes next"}

// TestRunbooks checks that every alert has its runbook with the sections the
// pack promises, that the runbook names the alert's cause and links the
// panel that shows its evidence (the line alerts/gen writes), and that no
// runbook is left for an alert that no longer exists.
func TestRunbooks(t *testing.T) {
	have := map[string]bool{}
	for _, a := range rules.Alerts() {
		path := filepath.Join(root, render.RunbookPath(a.Name))
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("alert %s has no runbook: %v", a.Name, err)
			continue
		}
		have[filepath.Base(path)] = true
		text := string(raw)
		if !strings.HasPrefix(text, "# "+a.Name+"\n") {
			t.Errorf("%s: first line must be `# %s`", path, a.Name)
		}
		last := -1
		for _, s := range runbookSections {
			i := strings.Index(text, "\n"+s+"\n")
			if i < 0 {
				t.Errorf("%s lacks the section %q", path, s)
				continue
			}
			if i < last {
				t.Errorf("%s: section %q is out of order", path, s)
			}
			last = i
		}
		if !strings.Contains(text, "`"+string(a.Cause)+"`") {
			t.Errorf("%s does not name its cause `%s`", path, a.Cause)
		}
		line, err := render.RunbookDashboardLine(a.Name)
		if err != nil {
			t.Error(err)
			continue
		}
		head, _, _ := strings.Cut(text, "\n## ")
		if !strings.Contains(head, "\n"+line+"\n") {
			t.Errorf("%s lacks, before its first section, the line %q; run `make alerts`", path, line)
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "docs", "runbooks"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".md") && !have[e.Name()] && e.Name() != "README.md" {
			t.Errorf("docs/runbooks/%s belongs to no alert", e.Name())
		}
	}
}

// TestAnnotations checks the templating every alert promises: the node and
// namespace in the description, the value humanized, and a runbook link.
func TestAnnotations(t *testing.T) {
	for _, a := range shippedPack(t).Alerts {
		d := a.Description
		if !strings.Contains(d, "{{ $labels.instance }}") {
			t.Errorf("%s: description does not name the instance", a.Def.Name)
		}
		if a.Def.Layer != rules.Meta && !strings.Contains(d, "{{ $labels.netns }}") && !strings.Contains(a.Expr, "softnet") {
			t.Errorf("%s: description does not name the netns", a.Def.Name)
		}
		// A 0/1 state (up, unavailable) is not worth printing.
		state := regexp.MustCompile(`== [01]\b`).MatchString(a.Expr)
		if !state && !strings.Contains(d, "$value") {
			t.Errorf("%s: description does not give the value", a.Def.Name)
		}
		if !strings.HasSuffix(a.RunbookURL, "/"+render.RunbookPath(a.Def.Name)[len("docs/"):]) {
			t.Errorf("%s: runbook_url %s does not point at its runbook", a.Def.Name, a.RunbookURL)
		}
		panel, board, ok := rules.Evidence(a.Def.Name)
		if !ok {
			t.Errorf("%s: no evidence panel; run `make dashboards`", a.Def.Name)
			continue
		}
		if want := fmt.Sprintf("/d/%s?viewPanel=%d", board.UID, panel.ID); !strings.HasPrefix(a.DashboardURL, want) {
			t.Errorf("%s: dashboard_url %s does not open %s", a.Def.Name, a.DashboardURL, want)
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (test/setup.sh does)")
	}
	return path
}

func TestPromtoolCheckRules(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", render.RulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromtoolUnitTests runs alerts/tests/*.test.yml.
func TestPromtoolUnitTests(t *testing.T) {
	files, err := filepath.Glob("tests/*.test.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests under alerts/tests (%v)", err)
	}
	out, err := exec.Command(promtool(t), append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// unitTestFile is the part of promtool's test format the coverage check
// reads.
type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromqlExprTest []struct {
			Expr string `yaml:"expr"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// TestUnitTestCoverage requires, for every alert, a promtool case where it
// fires, an earlier evaluation of the same scenario where it is still silent
// (before its for has passed), at least one more silent case (a
// neighbouring cause's series), and a promql_expr_test for every recording
// rule.
func TestUnitTestCoverage(t *testing.T) {
	files, _ := filepath.Glob("tests/*.test.yml")
	fires, silent, exprs := map[string]int{}, map[string]int{}, []string{}
	beforeFor := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf unitTestFile
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.Equal(tf.RuleFiles, []string{"../" + render.RulesFile}) {
			t.Errorf("%s: rule_files must be [../%s]", f, render.RulesFile)
		}
		for _, tc := range tf.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname]++
				} else {
					silent[at.Alertname]++
				}
				if len(at.ExpAlerts) == 0 {
					continue
				}
				fired, err := model.ParseDuration(at.EvalTime)
				if err != nil {
					t.Fatalf("%s: %q: %v", f, tc.Name, err)
				}
				for _, other := range tc.AlertRuleTest {
					d, err := model.ParseDuration(other.EvalTime)
					if err == nil && other.Alertname == at.Alertname && len(other.ExpAlerts) == 0 && d < fired {
						beforeFor[at.Alertname] = true
					}
				}
			}
			for _, pt := range tc.PromqlExprTest {
				exprs = append(exprs, pt.Expr)
			}
		}
	}
	for _, a := range rules.Alerts() {
		if fires[a.Name] == 0 {
			t.Errorf("%s: no promtool test shows it firing", a.Name)
		}
		if !beforeFor[a.Name] {
			t.Errorf("%s: no promtool test shows it silent before it fires in the same scenario (its for)", a.Name)
		}
		if silent[a.Name] < 2 {
			t.Errorf("%s: %d promtool tests show it silent; want one before its for and one per neighbouring cause", a.Name, silent[a.Name])
		}
	}
	for _, r := range rules.RecordingRules() {
		if !slices.ContainsFunc(exprs, func(e string) bool { return strings.Contains(e, r.Name) }) {
			t.Errorf("recording rule %s has no promql_expr_test", r.Name)
		}
	}
}

// scenarioFile is the part of promtool's test format the scenario check
// reads.
type scenarioFile struct {
	Tests []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestScenariosAfterInhibition is the disambiguation check. Every promtool
// test is a scenario named "CAUSE: what happens"; at its last evaluation it
// lists, at each evaluation it checks, the alerts that fire: the cause's
// and its echoes. Muted the way Alertmanager's inhibit rules (the generated
// snippet's) mute them, the alerts left must all carry that cause label, at
// some evaluation at least one must, and "none" scenarios must leave
// nothing.
func TestScenariosAfterInhibition(t *testing.T) {
	p := shippedPack(t)
	files, _ := filepath.Glob("tests/*.test.yml")
	scenarios := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var sf scenarioFile
		if err := yaml.Unmarshal(raw, &sf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range sf.Tests {
			if len(tc.AlertRuleTest) == 0 {
				continue
			}
			cause, _, ok := strings.Cut(tc.Name, ":")
			if !ok {
				t.Errorf("%s: test %q is not named CAUSE: scenario", f, tc.Name)
				continue
			}
			// Alerts by evaluation time: the check holds at every moment
			// the test looks at, not only at its end.
			byTime := map[model.Duration][]map[string]string{}
			for _, at := range tc.AlertRuleTest {
				d, err := model.ParseDuration(at.EvalTime)
				if err != nil {
					t.Fatalf("%s: %q: eval_time %q: %v", f, tc.Name, at.EvalTime, err)
				}
				byTime[d] = append(byTime[d], nil)
				for _, ea := range at.ExpAlerts {
					l := maps.Clone(ea.ExpLabels)
					l["alertname"] = at.Alertname
					byTime[d] = append(byTime[d], l)
				}
			}
			scenarios++
			survivors := 0
			for _, d := range slices.Sorted(maps.Keys(byTime)) {
				firing := slices.DeleteFunc(byTime[d], func(l map[string]string) bool { return l == nil })
				var left []string
				for _, a := range firing {
					if inhibited(p.Inhibitions, firing, a) {
						continue
					}
					left = append(left, a["alertname"]+"{cause="+a["cause"]+"}")
					if cause == "none" || a["cause"] != cause {
						t.Errorf("%s: %q at %s: %s (cause %s) survives inhibition", f, tc.Name, d, a["alertname"], a["cause"])
					}
				}
				survivors += len(left)
				if len(left) > 0 {
					t.Logf("%s: %s at %s -> %v", f, tc.Name, d, left)
				}
			}
			if cause != "none" && survivors == 0 {
				t.Errorf("%s: %q: no alert for cause %s survives inhibition", f, tc.Name, cause)
			}
		}
	}
	if scenarios == 0 {
		t.Fatal("no scenarios found")
	}
}

// inhibited reports whether Alertmanager would mute target while the other
// alerts fire.
func inhibited(rules []rules.Inhibition, firing []map[string]string, target map[string]string) bool {
	for _, in := range rules {
		if !slices.Contains(in.Targets, target["alertname"]) {
			continue
		}
		for _, src := range firing {
			if src["alertname"] != in.Source {
				continue
			}
			equal := true
			for _, l := range in.Equal {
				equal = equal && src[l] == target[l]
			}
			if equal {
				return true
			}
		}
	}
	return false
}

// TestAlertmanagerConfig has amtool load the inhibition snippet inside a
// minimal configuration.
func TestAlertmanagerConfig(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatal("amtool not found: install Debian's prometheus-alertmanager package (test/setup.sh does)")
	}
	snippet, err := os.ReadFile(render.InhibitFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "alertmanager.yml")
	full := append([]byte("route: {receiver: devnull}\nreceivers: [{name: devnull}]\n"), snippet...)
	if err := os.WriteFile(cfg, full, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(amtool, "check-config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	if want := len(shippedPack(t).Inhibitions); !strings.Contains(string(out), " "+strconv.Itoa(want)+" inhibit rules") {
		t.Errorf("amtool loaded a different number of inhibit rules than the pack has (%d):\n%s", want, out)
	}
}
