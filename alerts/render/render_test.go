package render

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/netcause/netcause/alerts/rules"
)

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
		err  bool
	}{
		{`sum by (a) (rate(x_total{a="b"}[5m])) / on (a) y`, []string{"x_total", "y"}, false},
		{`{__name__="z", a="b"} > 0 or z`, []string{"z"}, false},
		{`label_replace(up == 0, "r", "v", "", "")`, []string{"up"}, false},
		{`{__name__=~"a|b"}`, nil, true},
		{`rate(x[5m]`, nil, true},
	} {
		got, err := MetricNames(tc.expr)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("MetricNames(%q) = %v, %v; want %v (error %v)", tc.expr, got, err, tc.want, tc.err)
		}
	}
}

func TestSpliceDoc(t *testing.T) {
	doc := "# T\n\nintro\n" + DocBegin + "old\n" + DocEnd + "tail\n"
	got, err := SpliceDoc([]byte(doc), "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# T\n\nintro\n" + DocBegin + "new\n" + DocEnd + "tail\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := SpliceDoc([]byte("no markers"), "x"); err == nil {
		t.Error("a document without markers was accepted")
	}
}

// TestRuleFileShape reads the generated rule file back: groups per layer,
// every alert with its three labels and four annotations, multi-line
// expressions kept as written.
func TestRuleFileShape(t *testing.T) {
	p, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Record, Expr, For string
				Labels, Annotations      map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(files[0].Data, &rf); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				continue
			}
			alerts++
			for _, l := range []string{"severity", "cause", "layer"} {
				if r.Labels[l] == "" {
					t.Errorf("%s lacks label %s", r.Alert, l)
				}
			}
			if "netcause."+r.Labels["layer"] != g.Name {
				t.Errorf("%s (layer %s) is in group %s", r.Alert, r.Labels["layer"], g.Name)
			}
			for _, a := range []string{"summary", "description", "runbook_url", "dashboard_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s lacks annotation %s", r.Alert, a)
				}
			}
		}
	}
	if alerts != len(p.Alerts) {
		t.Errorf("rule file holds %d alerts, pack %d", alerts, len(p.Alerts))
	}
	if !strings.Contains(string(files[0].Data), "expr: |") {
		t.Error("multi-line expressions are not literal blocks")
	}
}

// TestPrometheusRuleMatchesRuleFile: the operator rendering carries the
// very groups of the rule file.
func TestPrometheusRuleMatchesRuleFile(t *testing.T) {
	p, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	files, err := Files(p)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[f.Path] = f.Data
	}
	var rf struct{ Groups []any }
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Metadata   struct{ Name string }
		Spec       struct{ Groups []any }
	}
	if err := yaml.Unmarshal(byPath[RulesFile], &rf); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(byPath[PrometheusRuleFile], &pr); err != nil {
		t.Fatal(err)
	}
	if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Kind != "PrometheusRule" || pr.Metadata.Name != "netcause" {
		t.Errorf("header %s %s %s", pr.APIVersion, pr.Kind, pr.Metadata.Name)
	}
	if !reflect.DeepEqual(rf.Groups, pr.Spec.Groups) {
		t.Error("PrometheusRule groups differ from the rule file's")
	}
}
