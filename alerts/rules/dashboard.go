package rules

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// The Grafana panel that shows each alert's evidence is decided where the
// panels are, in dashboards/boards. That package imports this one (for the
// recording rules, thresholds and runbook links), so this one cannot import
// it: dashboards/gen writes the answer into evidence_gen.go here instead,
// and a test in dashboards/ fails when the file and the boards disagree.
// `make dashboards` therefore comes before `make alerts`.

// Dashboard is one generated Grafana dashboard, as far as links into it
// need it.
type Dashboard struct {
	UID    string
	Title  string
	File   string // under dashboards/
	Anchor string // of the dashboard's section in docs/dashboards.md
	// Vars are its template variables that select series by a label, in
	// the dashboard's order; an alert's link fills those whose label the
	// alert carries.
	Vars []DashboardVar
}

// DashboardVar is a template variable and the label it selects by.
type DashboardVar struct {
	Name, Label string
}

// EvidencePanel is the panel of a dashboard that shows an alert's
// evidence.
type EvidencePanel struct {
	Dashboard string // the dashboard's UID
	ID        int    // Grafana's panel id, for viewPanel
	Title     string
}

// Evidence returns the panel that shows the named alert's evidence and the
// dashboard it is on. ok is false for an alert the generated table does not
// know yet (run `make dashboards`).
func Evidence(alert string) (p EvidencePanel, d Dashboard, ok bool) {
	p, ok = generatedEvidence[alert]
	if !ok {
		return p, d, false
	}
	d, ok = generatedDashboards[p.Dashboard]
	return p, d, ok
}

// dashboardURL is the link an alert's dashboard_url annotation carries: the
// evidence panel alone (viewPanel), the dashboard's variables set from the
// alert's labels. Labels an alert does not carry are left out, so the
// dashboard keeps its default (All) for them. The result is a Prometheus
// annotation template.
func dashboardURL(base string, p EvidencePanel, d Dashboard) string {
	var b strings.Builder
	b.WriteString(panelPath(base, p, d))
	for _, v := range d.Vars {
		fmt.Fprintf(&b, "{{ with $labels.%s }}&var-%s={{ . | urlquery }}{{ end }}", v.Label, v.Name)
	}
	return b.String()
}

// DashboardLink is what an alert's dashboard_url becomes for an alert with
// the given labels, as Prometheus renders the annotation: for the promtool
// tests' expectations.
func DashboardLink(base, alert string, labels map[string]string) (string, bool) {
	p, d, ok := Evidence(alert)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(panelPath(base, p, d))
	for _, v := range d.Vars {
		if l := labels[v.Label]; l != "" {
			b.WriteString("&var-" + v.Name + "=" + url.QueryEscape(l))
		}
	}
	return b.String(), true
}

func panelPath(base string, p EvidencePanel, d Dashboard) string {
	return strings.TrimSuffix(base, "/") + "/d/" + d.UID + "?viewPanel=" + strconv.Itoa(p.ID)
}
