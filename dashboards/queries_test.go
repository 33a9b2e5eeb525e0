package dashboards_test

import (
	"strings"
	"testing"

	"github.com/netcause/netcause/dashboards"
)

func TestSubstitute(t *testing.T) {
	vals := map[string]string{"instance": "n1:10717", "netns": ".*", "__rate_interval": "8s", "peer": "10.0.2.10"}
	for _, tc := range []struct{ in, want, err string }{
		{`rate(x{instance=~"$instance"}[$__rate_interval])`, `rate(x{instance=~"n1:10717"}[8s])`, ""},
		{`x{netns=~"${netns}|"}`, `x{netns=~".*|"}`, ""},
		{`x{peer=~"${peer:regex}"}`, `x{peer=~"10.0.2.10"}`, ""},
		{`x{peer=~"[[peer]]"}`, `x{peer=~"10.0.2.10"}`, ""},
		// $instance must not be read as $in followed by "stance".
		{`$instance$netns`, `n1:10717.*`, ""},
		{`no variables {{le}}`, `no variables {{le}}`, ""},
		{`x[$__range]`, "", "__range"},
		{`x{a=~"$a", b=~"$b"}`, "", "a, b"},
	} {
		got, err := dashboards.Substitute(tc.in, vals)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Substitute(%q) = %q, %v; want an error naming %s", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Substitute(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestReferences(t *testing.T) {
	got := dashboards.References(`a{x=~"$instance", y=~"${netns}|", z=~"${peer:csv}"}[$__rate_interval] $instance [[le]]`)
	want := []string{"instance", "netns", "peer", "__rate_interval", "le"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("References = %v, want %v", got, want)
	}
}

// TestQueriesHook is the API the fault-scenario suite uses: every panel with
// queries is listed, each query fully substituted; board variables default
// to All; the interval variables must be given.
func TestQueriesHook(t *testing.T) {
	bs, err := dashboards.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	targets, panels := 0, map[string]bool{}
	for _, b := range bs {
		for _, p := range b.Panels {
			targets += len(p.Targets)
		}
	}
	if _, err := dashboards.Queries(".", map[string]string{"__range": "1h"}); err == nil || !strings.Contains(err.Error(), "__rate_interval") {
		t.Errorf("Queries without __rate_interval: %v; want an error naming it", err)
	}
	qs, err := dashboards.Queries(".", map[string]string{"__rate_interval": "8s", "__range": "10m", "instance": "127.0.0.1:10717"})
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != targets {
		t.Errorf("%d queries for %d panel targets", len(qs), targets)
	}
	for _, q := range qs {
		panels[q.File+q.Panel] = true
		if strings.Contains(q.Expr, "$") || strings.Contains(q.Expr, "[[") {
			t.Errorf("%s %q %s: variable left: %s", q.File, q.Panel, q.RefID, q.Expr)
		}
		if q.UID == "" || q.PanelID == 0 || q.RefID == "" || q.Dashboard == "" {
			t.Errorf("query without identity: %+v", q)
		}
		if strings.Contains(q.Expr, "instance=~") && !strings.Contains(q.Expr, `instance=~"127.0.0.1:10717"`) {
			t.Errorf("%s %q: instance not substituted: %s", q.File, q.Panel, q.Expr)
		}
	}
	if len(panels) < 60 {
		t.Errorf("only %d panels with queries", len(panels))
	}
}

// FuzzSubstitute: whatever the text, when every variable it refers to has
// a value, substitution succeeds.
func FuzzSubstitute(f *testing.F) {
	for _, s := range []string{`rate(x{a=~"$a"}[$__rate_interval])`, `${a:csv}[[b]]$`, `$$a`, `[[`, `${}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		vals := map[string]string{}
		for _, r := range dashboards.References(s) {
			vals[r] = "v"
		}
		if _, err := dashboards.Substitute(s, vals); err != nil {
			t.Fatalf("Substitute(%q) with every reference given: %v", s, err)
		}
	})
}
