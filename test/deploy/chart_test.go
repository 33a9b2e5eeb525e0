package deploy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/netcause/netcause/test/deploy"
)

// obj is one rendered Kubernetes object.
type obj map[string]any

func (o obj) kind() string { s, _ := o["kind"].(string); return s }

func (o obj) name() string { s, _ := get(o, "metadata", "name").(string); return s }

// get walks maps and lists (int keys) and returns nil where the path ends.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				if o, isObj := v.(obj); isObj {
					m, ok = map[string]any(o), true
				}
			}
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func strs(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// render runs helm template on chart and parses every document.
func render(t *testing.T, chart string, args ...string) []obj {
	t.Helper()
	a := append([]string{"template", "netcause", chart, "--namespace", "monitoring"}, args...)
	out := mustRun(t, 2*time.Minute, tool(t, "helm"), a...)
	return parseDocs(t, out)
}

func parseDocs(t *testing.T, stream string) []obj {
	t.Helper()
	var objs []obj
	for _, d := range deploy.SplitDocs(stream) {
		// Into a plain map: yaml.v3 would give nested maps the named type.
		var o map[string]any
		if err := yaml.Unmarshal([]byte(d), &o); err != nil {
			t.Fatalf("rendered document does not parse: %v\n%s", err, d)
		}
		if o == nil {
			if strings.Contains(d, "# Source: ") {
				t.Fatalf("empty document rendered (a template should render nothing instead):\n%s", d)
			}
			continue // a file's header comment
		}
		objs = append(objs, obj(o))
	}
	return objs
}

func ofKind(objs []obj, kind string) []obj {
	var out []obj
	for _, o := range objs {
		if o.kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func one(t *testing.T, objs []obj, kind string) obj {
	t.Helper()
	l := ofKind(objs, kind)
	if len(l) != 1 {
		t.Fatalf("want one %s, rendered %d", kind, len(l))
	}
	return l[0]
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), deploy.ChartDir) }

func fullValues(t *testing.T) string { return filepath.Join(chartDir(t), "ci", "full-values.yaml") }

func TestChartLint(t *testing.T) {
	helm := tool(t, "helm")
	for name, args := range map[string][]string{
		"defaults": nil,
		"full":     {"--values", fullValues(t)},
		"fixtures": {"--values", fullValues(t)},
	} {
		t.Run(name, func(t *testing.T) {
			chart := chartDir(t)
			if name == "fixtures" {
				chart = chartWithFixtures(t)
			}
			out := mustRun(t, 2*time.Minute, helm, append([]string{"lint", "--strict", chart}, args...)...)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
	t.Run("schema rejects a misspelt key", func(t *testing.T) {
		out, err := run(t, 2*time.Minute, helm, "lint", "--strict", chartDir(t), "--set", "serviceMonitor.enable=true")
		if err == nil || !strings.Contains(out, "enable") {
			t.Fatalf("helm lint accepted serviceMonitor.enable (want a schema error):\n%s", out)
		}
	})
}

func TestChartDaemonSet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), deploy.ReadmePath))
	if err != nil {
		t.Fatal(err)
	}
	caps, err := deploy.ReadmeCapabilities(readme)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range caps {
		want = append(want, deploy.KubernetesName(c))
	}

	for _, tc := range []struct {
		name      string
		args      []string
		hostPID   bool
		wantArgs  []string
		notArgs   []string
		volumes   []string
		webConfig bool
	}{
		{name: "defaults", hostPID: true,
			wantArgs: []string{"--web.listen-address=:10717", "--netns.processes", "--netns.max=64"},
			notArgs:  []string{"--netns.named", "--web.config.file"}},
		{name: "no container namespaces", args: []string{"--set", "netns.processes=false"},
			notArgs: []string{"--netns.processes"}},
		{name: "full", args: []string{"--values", fullValues(t)}, hostPID: true,
			wantArgs: []string{"--netns.processes", "--netns.named", "--netns.max=128", "--netns.self-name=node",
				"--collector.snmp", "--sampler.enabled", "--sampler.rate=0.05",
				"--sampler.peer-map=/etc/netcause/peers/peer-map",
				"--web.config.file=/etc/netcause/web/web-config.yml", "--web.max-requests=4"},
			volumes: []string{"netns", "web-config", "peer-map"}},
		{name: "collector off", args: []string{"--set", "collectors.snmp=false"}, hostPID: true,
			wantArgs: []string{"--no-collector.snmp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, chartDir(t), tc.args...)
			ds := one(t, objs, "DaemonSet")
			pod := get(ds, "spec", "template", "spec")
			if get(pod, "hostNetwork") != true {
				t.Error("hostNetwork is not true: the exporter must read the node's own namespace")
			}
			if got := get(pod, "hostPID") == true; got != tc.hostPID {
				t.Errorf("hostPID = %v, want %v (needed exactly when container namespaces are read)", got, tc.hostPID)
			}
			if get(pod, "automountServiceAccountToken") != false {
				t.Error("the exporter never calls the API; the token must not be mounted")
			}
			c := get(pod, "containers", 0)
			sc := get(c, "securityContext")
			if got := strs(get(sc, "capabilities", "drop")); !slices.Equal(got, []string{"ALL"}) {
				t.Errorf("capabilities.drop = %v, want [ALL]", got)
			}
			if got := strs(get(sc, "capabilities", "add")); !slices.Equal(got, want) {
				t.Errorf("capabilities.add = %v, want README's %v", got, want)
			}
			for key, v := range map[string]any{"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "privileged": false} {
				if get(sc, key) != v {
					t.Errorf("securityContext.%s = %v, want %v", key, get(sc, key), v)
				}
			}
			args := strs(get(c, "args"))
			for _, a := range tc.wantArgs {
				if !slices.Contains(args, a) {
					t.Errorf("args %v lack %s", args, a)
				}
			}
			for _, a := range tc.notArgs {
				for _, got := range args {
					if strings.HasPrefix(got, a) {
						t.Errorf("args %v contain %s", args, got)
					}
				}
			}
			var vols []string
			l, _ := get(pod, "volumes").([]any)
			for i := range l {
				vols = append(vols, get(l[i], "name").(string))
			}
			if !slices.Equal(vols, tc.volumes) {
				t.Errorf("volumes %v, want %v", vols, tc.volumes)
			}
			if tc.name == "defaults" {
				for _, k := range []string{"ServiceMonitor", "PrometheusRule"} {
					if n := len(ofKind(objs, k)); n != 0 {
						t.Errorf("%d %s rendered by default; the CRDs may be absent", n, k)
					}
				}
			}
		})
	}
}

// chartWithFixtures copies the chart and fills its files/ the way
// deploy/sync.sh does, from testdata/repo (a rule file and a dashboard
// among files that are neither).
func chartWithFixtures(t *testing.T) string {
	t.Helper()
	chart := filepath.Join(t.TempDir(), "netcause")
	if err := deploy.CopyChart(chartDir(t), chart); err != nil {
		t.Fatal(err)
	}
	rules, err := deploy.RuleFiles("testdata/repo", "alerts")
	if err != nil {
		t.Fatal(err)
	}
	dashboards, err := deploy.Dashboards("testdata/repo", "dashboards")
	if err != nil {
		t.Fatal(err)
	}
	for dir, srcs := range map[string][]deploy.Source{"files/alerts": rules, "files/dashboards": dashboards} {
		if err := os.MkdirAll(filepath.Join(chart, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range srcs {
			if err := os.WriteFile(filepath.Join(chart, dir, s.Name), s.Content, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return chart
}

// The PrometheusRule and dashboard templates render the synced files as
// they are, and nothing at all while there are none.
func TestChartRulesAndDashboards(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		chart := filepath.Join(t.TempDir(), "netcause")
		if err := deploy.CopyChart(chartDir(t), chart); err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, 2*time.Minute, tool(t, "helm"), "template", "netcause", chart,
			"--set", "prometheusRule.enabled=true", "--set", "dashboards.enabled=true")
		for _, tmpl := range []string{"prometheusrule.yaml", "dashboards.yaml"} {
			if strings.Contains(out, "templates/"+tmpl) {
				t.Errorf("%s rendered something without files:\n%s", tmpl, out)
			}
		}
		parseDocs(t, out) // fails on an empty document
	})

	t.Run("fixtures", func(t *testing.T) {
		objs := render(t, chartWithFixtures(t), "--values", fullValues(t))

		b, err := os.ReadFile("testdata/repo/alerts/generated/netcause.rules.yml")
		if err != nil {
			t.Fatal(err)
		}
		var src map[string]any
		if err := yaml.Unmarshal(b, &src); err != nil {
			t.Fatal(err)
		}
		pr := one(t, objs, "PrometheusRule")
		if pr.name() != "netcause-alerts-generated-netcause-rules" {
			t.Errorf("PrometheusRule name %q", pr.name())
		}
		if !reflect.DeepEqual(get(pr, "spec", "groups"), src["groups"]) {
			t.Errorf("PrometheusRule groups differ from the rule file:\n got %v\nwant %v", get(pr, "spec", "groups"), src["groups"])
		}
		if get(pr, "metadata", "labels", "release") != "kube-prometheus-stack" {
			t.Error("prometheusRule.labels not applied")
		}

		var dash []obj
		for _, cm := range ofKind(objs, "ConfigMap") {
			if get(cm, "metadata", "labels", "grafana_dashboard") == "1" {
				dash = append(dash, cm)
			}
		}
		if len(dash) != 1 {
			t.Fatalf("want one dashboard ConfigMap, got %d", len(dash))
		}
		cm := dash[0]
		if get(cm, "metadata", "namespace") != "grafana" || get(cm, "metadata", "annotations", "grafana_folder") != "netcause" {
			t.Errorf("dashboards.namespace/annotations not applied: %v", cm["metadata"])
		}
		want, err := os.ReadFile("testdata/repo/dashboards/overview.json")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := get(cm, "data", "overview.json").(string)
		var g, w any
		if err := json.Unmarshal([]byte(got), &g); err != nil {
			t.Fatalf("ConfigMap data is not the dashboard JSON: %v\n%s", err, got)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("dashboard in the ConfigMap differs from the file")
		}
	})
}

// Every flag the chart can render exists in the exporter built from this
// tree: kingpin refuses an unknown flag before it acts on --help.
func TestChartArgsAccepted(t *testing.T) {
	bin := exporter(t)
	for name, args := range map[string][]string{
		"defaults":      nil,
		"full":          {"--values", fullValues(t)},
		"collector off": {"--set", "collectors.snmp=false"},
	} {
		t.Run(name, func(t *testing.T) {
			ds := one(t, render(t, chartDir(t), args...), "DaemonSet")
			flags := strs(get(ds, "spec", "template", "spec", "containers", 0, "args"))
			out, err := run(t, time.Minute, bin, append(flags, "--help")...)
			if err != nil {
				t.Errorf("netcause_exporter refuses the chart's arguments %v: %v\n%s", flags, err, firstLine(out))
			}
		})
	}
	// The check can fail.
	if _, err := run(t, time.Minute, bin, "--sampler.rates=1", "--help"); err == nil {
		t.Error("netcause_exporter accepted an unknown flag; this test proves nothing")
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
