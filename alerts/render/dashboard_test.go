package render

import (
	"strings"
	"testing"

	"github.com/netcause/netcause/alerts/rules"
)

func TestSpliceRunbook(t *testing.T) {
	const line = "Dashboard: [d](../dashboards.md#d), panel *p*."
	for _, tc := range []struct{ name, in, want string }{
		{"inserted before the first section",
			"# A\n\nCause: `x`\n\n## Meaning\n\ntext\n",
			"# A\n\nCause: `x`\n\n" + line + "\n\n## Meaning\n\ntext\n"},
		{"replaced in place",
			"# A\n\nCause: `x`\n\nDashboard: old\n\n## Meaning\n\nDashboard: prose, kept\n",
			"# A\n\nCause: `x`\n\n" + line + "\n\n## Meaning\n\nDashboard: prose, kept\n"},
	} {
		got, err := SpliceRunbook([]byte(tc.in), line)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q, %v\nwant %q", tc.name, got, err, tc.want)
			continue
		}
		again, _ := SpliceRunbook(got, line)
		if string(again) != tc.want {
			t.Errorf("%s: not idempotent: %q", tc.name, again)
		}
	}
	if _, err := SpliceRunbook([]byte("# A\n\nno sections\n"), line); err == nil {
		t.Error("a runbook without sections was accepted")
	}
}

func TestRunbookDashboardLine(t *testing.T) {
	line, err := RunbookDashboardLine("NetcauseConntrackInsertFailed")
	if err != nil {
		t.Fatal(err)
	}
	p, d, _ := rules.Evidence("NetcauseConntrackInsertFailed")
	for _, want := range []string{"Dashboard: [", "](../dashboards.md#" + d.Anchor + ")", "(../../dashboards/" + d.File + ")", `insert\_failed`} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q (panel %+v)", line, want, p)
		}
	}
	if _, err := RunbookDashboardLine("NetcauseNoSuchAlert"); err == nil {
		t.Error("an unknown alert got a line")
	}
}

func TestPromtoolDashboardURLs(t *testing.T) {
	p, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	const name = "NetcausePeerSYNUnanswered"
	link, _ := rules.DashboardLink("", name, map[string]string{"instance": "n1", "netns": "client", "peer": "10.0.2.10"})
	in := `      - eval_time: 10m
        alertname: ` + name + `
        exp_alerts:
          - exp_labels: {severity: critical, instance: n1, netns: client, peer: 10.0.2.10}
            exp_annotations:
              summary: s
              runbook_url: https://x/` + name + `.md
`
	want := strings.Replace(in, ".md\n", ".md\n              dashboard_url: "+link+"\n", 1)
	got, err := PromtoolDashboardURLs(p, []byte(in))
	if err != nil || string(got) != want {
		t.Fatalf("got %s, %v\nwant %s", got, err, want)
	}
	stale := strings.Replace(want, "viewPanel=", "viewPanel=9", 1)
	if got, _ := PromtoolDashboardURLs(p, []byte(stale)); string(got) != want {
		t.Errorf("a stale dashboard_url was not replaced: %s", got)
	}
	block := strings.Replace(in, "{severity: critical, instance: n1, netns: client, peer: 10.0.2.10}", "\n              instance: n1", 1)
	if _, err := PromtoolDashboardURLs(p, []byte(block)); err == nil {
		t.Error("exp_labels as a block map was accepted; the line-wise rewrite cannot read it")
	}
}

func TestValidateNeedsDashboard(t *testing.T) {
	p, err := rules.Build(rules.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p.Alerts[0].DashboardURL = ""
	if err := Validate(p); err == nil || !strings.Contains(err.Error(), "make dashboards") {
		t.Errorf("Validate = %v, want an error naming make dashboards", err)
	}
}
