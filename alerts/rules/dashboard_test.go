package rules

import (
	"strings"
	"testing"
)

// TestEveryAlertHasEvidence: evidence_gen.go names a panel for every alert;
// dashboards/ checks that it is the boards' own answer.
func TestEveryAlertHasEvidence(t *testing.T) {
	for _, a := range Alerts() {
		if _, _, ok := Evidence(a.Name); !ok {
			t.Errorf("%s: evidence_gen.go names no panel for it; link its runbook from a panel (dashboards/boards) and run `make dashboards`", a.Name)
		}
	}
}

func TestGrafanaBaseURL(t *testing.T) {
	p, err := build(t, "grafana_base_url: https://grafana.example/sub/\n")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := alertByName(p, "NetcausePeerSYNUnanswered")
	panel, board, _ := Evidence(a.Def.Name)
	want := "https://grafana.example/sub/d/" + board.UID + "?viewPanel="
	if !strings.HasPrefix(a.DashboardURL, want) || panel.ID == 0 {
		t.Errorf("dashboard_url %s, want it to start with %s", a.DashboardURL, want)
	}
	for _, bad := range []string{"grafana.example", "ftp://grafana.example", "https://grafana.example/?orgId=1", "https:///x"} {
		if _, err := build(t, "grafana_base_url: "+bad+"\n"); err == nil {
			t.Errorf("grafana_base_url %q accepted", bad)
		}
	}
}

// TestDashboardURLTemplate: the annotation sets a variable only from a
// label the alert carries, escaped; DashboardLink renders what Prometheus
// would.
func TestDashboardURLTemplate(t *testing.T) {
	p := EvidencePanel{Dashboard: "netcause-tcp", ID: 7, Title: "x"}
	d := Dashboard{UID: "netcause-tcp", Vars: []DashboardVar{{"instance", "instance"}, {"peer", "peer"}}}
	got := dashboardURL("", p, d)
	want := "/d/netcause-tcp?viewPanel=7{{ with $labels.instance }}&var-instance={{ . | urlquery }}{{ end }}" +
		"{{ with $labels.peer }}&var-peer={{ . | urlquery }}{{ end }}"
	if got != want {
		t.Errorf("template\n got %s\nwant %s", got, want)
	}
	save := generatedEvidence
	saveD := generatedDashboards
	t.Cleanup(func() { generatedEvidence, generatedDashboards = save, saveD })
	generatedEvidence = map[string]EvidencePanel{"A": p}
	generatedDashboards = map[string]Dashboard{d.UID: d}
	link, ok := DashboardLink("https://g.example/", "A", map[string]string{"instance": "n1:9100", "peer": "fe80::1"})
	if !ok || link != "https://g.example/d/netcause-tcp?viewPanel=7&var-instance=n1%3A9100&var-peer=fe80%3A%3A1" {
		t.Errorf("DashboardLink = %q, %v", link, ok)
	}
	if link, _ := DashboardLink("", "A", map[string]string{"instance": "n1"}); link != "/d/netcause-tcp?viewPanel=7&var-instance=n1" {
		t.Errorf("without peer: %q", link)
	}
	if _, ok := DashboardLink("", "B", nil); ok {
		t.Error("an alert without evidence got a link")
	}
}
