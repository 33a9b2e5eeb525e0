package dashboards_test

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/netcause/netcause/alerts/render"
	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards"
	"github.com/netcause/netcause/dashboards/boards"
)

// TestEvidenceAgrees: the alert pack's table of evidence panels
// (alerts/rules/evidence_gen.go, what dashboard_url and the runbooks link)
// is what the boards say, as committed and as compiled into alerts/rules,
// and each entry names a committed panel that links the alert's runbook.
func TestEvidenceAgrees(t *testing.T) {
	src, err := dashboards.EvidenceGo()
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join("..", dashboards.EvidenceFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, src) {
		t.Errorf("%s is stale; run `make dashboards`, then `make alerts`", dashboards.EvidenceFile)
	}

	ds, ps, err := dashboards.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	all, err := boards.AlertPanels()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := dashboards.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	byUID := map[string]dashboards.Board{}
	for _, b := range loaded {
		byUID[b.UID] = b
	}
	for _, a := range rules.Alerts() {
		p, d, ok := rules.Evidence(a.Name)
		if !ok {
			t.Errorf("%s: alerts/rules knows no evidence panel; run `make dashboards`", a.Name)
			continue
		}
		if p != ps[a.Name] || !reflect.DeepEqual(d, ds[p.Dashboard]) {
			t.Errorf("%s: alerts/rules has %+v on %+v, the boards %+v on %+v; run `make dashboards`, then `make alerts`",
				a.Name, p, d, ps[a.Name], ds[ps[a.Name].Dashboard])
		}
		if !slices.ContainsFunc(all[a.Name], func(r boards.PanelRef) bool { return r.UID == p.Dashboard && r.PanelID == p.ID }) {
			t.Errorf("%s: evidence panel %+v does not link the alert's runbook", a.Name, p)
		}
		b, ok := byUID[p.Dashboard]
		if !ok {
			t.Errorf("%s: no committed dashboard %s", a.Name, p.Dashboard)
			continue
		}
		if b.File != d.File || b.Title != d.Title {
			t.Errorf("%s: dashboard %s is %s %q, alerts/rules says %s %q", a.Name, b.UID, b.File, b.Title, d.File, d.Title)
		}
		i := slices.IndexFunc(b.Panels, func(bp dashboards.Panel) bool { return bp.ID == p.ID })
		if i < 0 || b.Panels[i].Title != p.Title {
			t.Errorf("%s: %s has no panel %d %q", a.Name, b.File, p.ID, p.Title)
		}
		for _, v := range d.Vars {
			j := slices.IndexFunc(b.Variables, func(bv dashboards.Variable) bool { return bv.Name == v.Name })
			if j < 0 || !strings.HasSuffix(b.Variables[j].Query, ", "+v.Label+")") {
				t.Errorf("%s: %s has no variable %s selecting by %s", a.Name, b.File, v.Name, v.Label)
			}
		}
	}
}

// TestEvidenceShowsTheAlert: the panel an alert links to reads at least one
// series the alert reads (recording rules counted as the series they
// read), so a link cannot point at an unrelated panel.
func TestEvidenceShowsTheAlert(t *testing.T) {
	pack, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	expand := map[string][]string{}
	for _, r := range pack.Recordings {
		names, err := render.MetricNames(r.Expr)
		if err != nil {
			t.Fatal(err)
		}
		expand[r.Name] = names
	}
	reads := func(expr string) map[string]bool {
		names, err := render.MetricNames(expr)
		if err != nil {
			t.Fatalf("%v\n%s", err, expr)
		}
		out := map[string]bool{}
		for _, n := range names {
			out[n] = true
			for _, m := range expand[n] {
				out[m] = true
			}
		}
		return out
	}
	qs, err := dashboards.Queries(".", sentinelVars())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range pack.Alerts {
		p, _, ok := rules.Evidence(a.Def.Name)
		if !ok {
			continue // TestEvidenceAgrees reports it
		}
		alertReads := reads(a.Expr)
		var shown []string
		for _, q := range qs {
			if q.UID != p.Dashboard || q.PanelID != p.ID {
				continue
			}
			for n := range reads(q.Expr) {
				if alertReads[n] {
					shown = append(shown, n)
				}
			}
		}
		if len(shown) == 0 {
			t.Errorf("%s: its evidence panel %s %q reads none of the series the alert reads", a.Def.Name, p.Dashboard, p.Title)
		}
	}
}

// TestEvidenceAnchors: each dashboard's anchor is the heading of its
// section in docs/dashboards.md, so the runbooks' links land there.
func TestEvidenceAnchors(t *testing.T) {
	for in, want := range map[string]string{
		"netcause / TCP, IP and peers": "netcause--tcp-ip-and-peers",
		"Why the fix works":            "why-the-fix-works",
		"insert_failed (per CPU)":      "insert_failed-per-cpu",
	} {
		if got := dashboards.Anchor(in); got != want {
			t.Errorf("Anchor(%q) = %q, want %q", in, got, want)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "dashboards.md"))
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(doc), -1) {
		headings[dashboards.Anchor(m[1])]++
	}
	ds, _, err := dashboards.Evidence()
	if err != nil {
		t.Fatal(err)
	}
	for uid, d := range ds {
		if headings[d.Anchor] != 1 {
			t.Errorf("%s: docs/dashboards.md has %d headings with anchor #%s, want 1", uid, headings[d.Anchor], d.Anchor)
		}
	}
}
