package scenarios

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestParseWebhook(t *testing.T) {
	at := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		body    string
		want    []event
		wantErr string
	}{
		{
			name: "firing and resolved",
			body: `{"version":"4","status":"firing","alerts":[
				{"status":"firing","labels":{"alertname":"NetcauseNoRoute","instance":"no-route/router","cause":"no_route"},"startsAt":"2026-11-22T00:59:50Z","fingerprint":"a1"},
				{"status":"resolved","labels":{"alertname":"NetcausePeerUnreachable","instance":"no-route/client"},"fingerprint":"b2"}]}`,
			want: []event{
				{At: at, Status: "firing", Fingerprint: "a1", Labels: map[string]string{"alertname": "NetcauseNoRoute", "instance": "no-route/router", "cause": "no_route"}, StartsAt: at.Add(-10 * time.Second)},
				{At: at, Status: "resolved", Fingerprint: "b2", Labels: map[string]string{"alertname": "NetcausePeerUnreachable", "instance": "no-route/client"}},
			},
		},
		{name: "not json", body: `{`, wantErr: "webhook body"},
		{name: "old version", body: `{"version":"3","alerts":[]}`, wantErr: "version"},
		{name: "bad status", body: `{"version":"4","alerts":[{"status":"pending","labels":{}}]}`, wantErr: "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWebhook([]byte(tc.body), at)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Status != w.Status || g.Fingerprint != w.Fingerprint || !g.At.Equal(w.At) || !g.StartsAt.Equal(w.StartsAt) || labelsText(g.Labels) != labelsText(w.Labels) {
					t.Errorf("event %d = %+v, want %+v", i, g, w)
				}
			}
			if n := got[0].node(); n != strings.SplitN(tc.want[0].Labels["instance"], "/", 2)[1] {
				t.Errorf("node = %q", n)
			}
		})
	}
}

// A synthetic scenario: injection at t0, undo at t0+40s, end at t0+80s.
func synthetic(evs ...event) *scenarioResult {
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	return &scenarioResult{
		ID: "fw", Cause: "firewall_drop",
		Co: []coSymptom{{Alert: "NetcausePeerSYNUnanswered", Node: "client", Why: "seen from the client"}},
		Steps: []stepResult{
			{Spec: stepSpec{Name: "inject", Fire: []expectAlert{fire("NetcauseFirewallDropping", "server", "firewall_drop")}},
				Start: t0, End: t0.Add(40 * time.Second)},
			{Spec: stepSpec{Name: "undo", ClearAll: true}, Start: t0.Add(40 * time.Second), End: t0.Add(80 * time.Second)},
		},
		Events:     evs,
		PromFiring: map[alertKey]time.Time{},
		PromLast:   map[alertKey]time.Time{},
	}
}

func ev(sec float64, status, alert, node, cause, fp string) event {
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	return event{At: t0.Add(time.Duration(sec * float64(time.Second))), Status: status, Fingerprint: fp,
		Labels: map[string]string{"alertname": alert, "instance": "fw/" + node, "cause": cause}}
}

var testRules = map[string]ruleInfo{
	"NetcauseFirewallDropping":  {For: 15 * time.Second, Cause: "firewall_drop"},
	"NetcausePeerSYNUnanswered": {For: 9 * time.Second, Cause: "syn_unanswered"},
	"NetcauseFirewallBlocking":  {For: 6 * time.Second, Cause: "firewall_drop"},
	"NetcauseNoRoute":           {For: 6 * time.Second, Cause: "no_route"},
}

func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name     string
		evs      []event
		prom     map[alertKey]time.Time
		still    []string
		problems []string // substrings, one per expected problem, in order
		co       int
	}{
		{
			name: "pass with a listed co-symptom and a same-cause alert",
			evs: []event{
				ev(14, "firing", "NetcausePeerSYNUnanswered", "client", "syn_unanswered", "c"),
				ev(20, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
				ev(25, "firing", "NetcauseFirewallBlocking", "server", "firewall_drop", "b"),
				ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
				ev(71, "resolved", "NetcauseFirewallBlocking", "server", "firewall_drop", "b"),
				ev(72, "resolved", "NetcausePeerSYNUnanswered", "client", "syn_unanswered", "c"),
			},
			co: 2,
		},
		{
			name:     "late",
			evs:      []event{ev(33, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"), ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a")},
			problems: []string{"later than 2×(for+scrape) = 32s"},
		},
		{
			name:     "never, and an unexpected cause",
			evs:      []event{ev(10, "firing", "NetcauseNoRoute", "router", "no_route", "n"), ev(60, "resolved", "NetcauseNoRoute", "router", "no_route", "n")},
			problems: []string{"never reached the webhook", "unexpected alert NetcauseNoRoute@router (cause no_route)"},
		},
		{
			name: "fired during the warmup",
			evs: []event{
				ev(-5, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
				ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
			},
			problems: []string{"never reached the webhook", "before the fault was injected"},
		},
		{
			name:     "no resolution",
			evs:      []event{ev(20, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a")},
			still:    []string{"NetcauseFirewallDropping@server (firing)"},
			problems: []string{"still active at the end of \"undo\"", "never sent its resolution"},
		},
		{
			name: "muted alerts are listed, not faults",
			evs: []event{
				ev(20, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
				ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
			},
			prom: map[alertKey]time.Time{key("NetcauseTCPSYNRetransmits", "client"): {}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := synthetic(tc.evs...)
			if tc.prom != nil {
				r.PromFiring = tc.prom
			}
			r.Steps[1].StillActive = tc.still
			v := judge(r, testRules, time.Second, false)
			if len(v.Problems) != len(tc.problems) {
				t.Fatalf("problems = %q, want %d like %q", v.Problems, len(tc.problems), tc.problems)
			}
			for i, p := range tc.problems {
				if !strings.Contains(v.Problems[i], p) {
					t.Errorf("problem %d = %q, want it to contain %q", i, v.Problems[i], p)
				}
			}
			if len(v.Co) != tc.co {
				t.Errorf("co-symptoms = %v, want %d", v.Co, tc.co)
			}
			if tc.prom != nil && len(v.Muted) != len(tc.prom) {
				t.Errorf("muted = %v, want %d", v.Muted, len(tc.prom))
			}
		})
	}
}

func TestJudgeStrictDefects(t *testing.T) {
	r := synthetic(
		ev(20, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
		ev(35, "firing", "NetcauseTCPRetransmitRatioHigh", "client", "congestion", "r"),
		ev(50, "firing", "NetcausePeerSYNIgnored", "server", "syn_unanswered", "i"),
		ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
		ev(71, "resolved", "NetcauseTCPRetransmitRatioHigh", "client", "congestion", "r"),
		ev(72, "resolved", "NetcausePeerSYNIgnored", "server", "syn_unanswered", "i"),
	)
	r.Co = []coSymptom{
		{Alert: "NetcauseTCPRetransmitRatioHigh", Node: "client", Why: "SYNs", Defect: "F9"},
		{Alert: "NetcausePeerSYNIgnored", Why: "lag", Defect: "F9"},
	}
	if v := judge(r, testRules, time.Second, false); !v.ok() || len(v.Co) != 2 {
		t.Fatalf("tolerant: problems %q, co %v", v.Problems, v.Co)
	} else if !v.Co[1].AfterUndo || v.Co[0].AfterUndo {
		t.Errorf("after-undo flags = %v, %v; want false, true", v.Co[0].AfterUndo, v.Co[1].AfterUndo)
	}
	v := judge(r, testRules, time.Second, true)
	if len(v.Problems) != 2 || !strings.Contains(v.Problems[0], "RetransmitRatioHigh") || !strings.Contains(v.Problems[1], "SYNIgnored") ||
		!strings.Contains(v.Problems[0], "defect F9") {
		t.Errorf("strict: problems %q", v.Problems)
	}
	for _, c := range r.Co {
		if _, ok := findingByID(c.Defect); !ok {
			t.Errorf("defect %s is not among the findings", c.Defect)
		}
	}
}

func TestJudgeKeepAndClear(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
	fw, mtu := key("NetcauseFirewallBlocking", "server"), key("NetcauseMTU", "server")
	rules := map[string]ruleInfo{"NetcauseFirewallBlocking": {For: 6 * time.Second, Cause: "firewall_drop"}, "NetcauseMTU": {For: 6 * time.Second, Cause: "mtu"}}
	mk := func(mtuResolvedAt float64, kept bool) *scenarioResult {
		e := func(sec float64, status string, k alertKey, fp, cause string) event {
			return event{At: t0.Add(time.Duration(sec * float64(time.Second))), Status: status, Fingerprint: fp,
				Labels: map[string]string{"alertname": k.Alert, "instance": "s/" + k.Node, "cause": cause}}
		}
		r := &scenarioResult{
			Steps: []stepResult{
				{Spec: stepSpec{Name: "inject", Fire: []expectAlert{{fw, "firewall_drop"}, {mtu, "mtu"}}}, Start: t0, End: t0.Add(20 * time.Second)},
				{Spec: stepSpec{Name: "fix fw", Clear: []alertKey{fw}, Keep: []alertKey{mtu}}, Start: t0.Add(20 * time.Second), End: t0.Add(60 * time.Second),
					ClearedAt: map[alertKey]time.Time{fw: t0.Add(55 * time.Second)}, KeptLost: map[alertKey]time.Time{}},
				{Spec: stepSpec{Name: "undo", ClearAll: true}, Start: t0.Add(60 * time.Second), End: t0.Add(100 * time.Second)},
			},
			Events: []event{
				e(10, "firing", fw, "f", "firewall_drop"), e(11, "firing", mtu, "m", "mtu"),
				e(54, "resolved", fw, "f", "firewall_drop"), e(mtuResolvedAt, "resolved", mtu, "m", "mtu"),
			},
		}
		if !kept {
			r.Steps[1].KeptLost[mtu] = t0.Add(40 * time.Second)
		}
		return r
	}
	if v := judge(mk(95, true), rules, time.Second, false); !v.ok() {
		t.Errorf("fix one, keep the other: problems %q", v.Problems)
	} else if d := v.Resolved[fw.String()]; d != 35*time.Second {
		t.Errorf("firewall resolved after %v, want 35s", d)
	}
	v := judge(mk(45, false), rules, time.Second, false)
	if len(v.Problems) != 2 || !strings.Contains(v.Problems[0], "although its cause remained") {
		t.Errorf("mtu resolved with its cause in place: problems %q", v.Problems)
	}
}

func TestReportMarkdown(t *testing.T) {
	r := synthetic(
		ev(14, "firing", "NetcausePeerSYNUnanswered", "client", "syn_unanswered", "c"),
		ev(20, "firing", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
		ev(70, "resolved", "NetcauseFirewallDropping", "server", "firewall_drop", "a"),
		ev(72, "resolved", "NetcausePeerSYNUnanswered", "client", "syn_unanswered", "c"),
	)
	r.Num, r.Title, r.Fault, r.Undo = "1a", "firewall DROP", "a DROP rule", "rule removed"
	rep := report{Results: []*scenarioResult{r}, Verdicts: []verdict{judge(r, testRules, time.Second, false)}, Scrape: time.Second,
		Eval: time.Second, Duration: 90 * time.Second, Started: r.Steps[0].Start, Parallel: 1, Complete: true,
		Panels: panelReport{Checked: true, Total: 3, Never: []string{"board / panel: expr"}}}
	md := string(rep.markdown())
	for _, want := range []string{
		"| 1a | firewall DROP | `firewall_drop` | `NetcauseFirewallDropping`@server: 20.0 s (32 s) | `NetcausePeerSYNUnanswered`@client | none | yes, 32.0 s | pass |",
		"`NetcausePeerSYNUnanswered`@client (syn_unanswered, 14.0 s after the injection): seen from the client",
		"all passed",
		"1 of 3 panel queries never returned data",
		"`NetcauseFirewallDropping`@server; delivered +20.0 {}, resolved +70.0",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		in      string
		size    int
		wantErr bool
	}{
		{"GET / HTTP/1.1\r\nHost: b\r\n\r\n", defaultBody, false},
		{"GET /?size=262144 HTTP/1.1\r\n\r\n", 262144, false},
		{"GET /?size=5&x=1 HTTP/1.1\r\n\r\n", 5, false},
		{"GET /?size=-1 HTTP/1.1\r\n\r\n", 0, true},
		{"GET /?size=999999999 HTTP/1.1\r\n\r\n", 0, true},
		{"GET / SPDY\r\n\r\n", 0, true},
		{"GET / HTTP/1.1\r\nHost: b\r\n", 0, true}, // headers never end
	} {
		r := bufio.NewReader(strings.NewReader(tc.in))
		line, err := readLine(r)
		if err != nil {
			t.Fatal(err)
		}
		size, err := parseRequest(line, r)
		if (err != nil) != tc.wantErr || size != tc.size {
			t.Errorf("%q: size %d, err %v; want %d, error %v", tc.in, size, err, tc.size, tc.wantErr)
		}
	}
}
