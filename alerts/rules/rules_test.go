package rules

import (
	"strings"
	"testing"
	"time"
)

func build(t *testing.T, overlay string) (*Pack, error) {
	t.Helper()
	cfg, err := ParseConfig([]byte(overlay))
	if err != nil {
		return nil, err
	}
	return Build(cfg)
}

func alertByName(p *Pack, name string) (BuiltAlert, bool) {
	for _, a := range p.Alerts {
		if a.Def.Name == name {
			return a, true
		}
	}
	return BuiltAlert{}, false
}

func TestOverlay(t *testing.T) {
	p, err := build(t, `
selector: 'job="nc"'
node_labels: [cluster, instance]
rate_window: 30s
for_scale: 0.05
runbook_base_url: https://wiki.example/rb
alerts:
  NetcauseTCPRetransmitRatioHigh:
    params: {ratio: 0.2}
    severity: critical
  NetcauseQdiscDrops:
    for: 15s
  NetcauseInterfaceFlapping:
    disabled: true
`)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := alertByName(p, "NetcauseTCPRetransmitRatioHigh")
	if !ok {
		t.Fatal("NetcauseTCPRetransmitRatioHigh missing")
	}
	if !strings.Contains(a.Expr, "> 0.2") || a.Severity != Critical {
		t.Errorf("overrides not applied: severity %s, expr\n%s", a.Severity, a.Expr)
	}
	// 10m default scaled by 0.05.
	if a.For != 30*time.Second {
		t.Errorf("for = %s, want 30s", a.For)
	}
	if q, _ := alertByName(p, "NetcauseQdiscDrops"); q.For != 15*time.Second {
		t.Errorf("explicit for = %s, want 15s", q.For)
	}
	if _, ok := alertByName(p, "NetcauseInterfaceFlapping"); ok {
		t.Error("disabled alert was built")
	}
	if a.RunbookURL != "https://wiki.example/rb/NetcauseTCPRetransmitRatioHigh.md" {
		t.Errorf("runbook_url = %s", a.RunbookURL)
	}
	nr, _ := alertByName(p, "NetcauseNoRoute")
	for _, want := range []string{`netcause_ip_out_no_routes_total{job="nc"}[30s]`, "by (cluster, instance, netns, family)"} {
		if !strings.Contains(nr.Expr, want) {
			t.Errorf("NetcauseNoRoute lacks %q:\n%s", want, nr.Expr)
		}
	}
	for _, in := range p.Inhibitions {
		if len(in.Equal) < 2 || in.Equal[0] != "cluster" || in.Equal[1] != "instance" {
			t.Errorf("inhibition %s: equal %v does not start with the node labels", in.Source, in.Equal)
		}
	}
	for _, r := range p.Recordings {
		if strings.Contains(r.Expr, "[5m]") {
			t.Errorf("recording rule %s ignores rate_window: %s", r.Name, r.Expr)
		}
	}
}

func TestShippedPackBuilds(t *testing.T) {
	p, err := Build(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Alerts) != len(Alerts()) {
		t.Errorf("%d alerts built of %d defined", len(p.Alerts), len(Alerts()))
	}
	// Every documented cause has at least one alert.
	seen := map[string]bool{}
	for _, a := range p.Alerts {
		seen[string(a.Def.Cause)] = true
	}
	for _, c := range Causes {
		if !seen[string(c)] {
			t.Errorf("no alert names cause %s", c)
		}
		if CauseHelp[c] == "" {
			t.Errorf("cause %s has no CauseHelp", c)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, overlay, want string }{
		{"unknown key", "rate_windw: 1m", "rate_windw"},
		{"unknown alert", "alerts: {NetcauseNope: {disabled: true}}", "no alert named NetcauseNope"},
		{"unknown param", "alerts: {NetcauseNoRoute: {params: {ratio: 1}}}", `no parameter "ratio"`},
		{"bad number", "alerts: {NetcauseNoRoute: {params: {min_rate: lots}}}", "not a number"},
		{"bad duration", "alerts: {NetcauseInterfaceDown: {params: {lookback: soon}}}", "not a duration"},
		{"braces in matchers", `alerts: {NetcauseFirewallDropping: {params: {rule_selector: '{rule="x"}'}}}`, "without braces"},
		{"bad regexp", "alerts: {NetcauseFirewallDropping: {params: {invalid_rule_text: '('}}}", "not a regular expression"},
		{"bad severity", "alerts: {NetcauseNoRoute: {severity: page}}", "neither warning nor critical"},
		{"zero window", "rate_window: 0s", "rate_window"},
		{"no node labels", "node_labels: []", "node_labels"},
		{"bad node label", "node_labels: [in-stance]", "not a label name"},
		// A crash's resets leave a 1m window after 1m: the alert could
		// never fire.
		{"burst for not below window", "rate_window: 1m", "must be shorter than rate_window"},
		// The weaker alert would be sent before the one that mutes it.
		{"inhibited alert due first", "alerts: {NetcauseTCPSYNRetransmits: {for: 30s}}", "must not wait less"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := build(t, tc.overlay)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestInvalidRuleTextOff(t *testing.T) {
	p, err := build(t, `alerts: {NetcauseFirewallDropping: {params: {invalid_rule_text: ""}}}`)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := alertByName(p, "NetcauseFirewallDropping")
	if strings.Contains(a.Expr, "unless") || strings.Contains(a.Expr, "rule_info") {
		t.Errorf("an empty invalid_rule_text still excludes rules:\n%s", a.Expr)
	}
	b, _ := alertByName(p, "NetcauseFirewallBlockingConnections")
	if !strings.Contains(b.Expr, "rule_info") {
		t.Errorf("the other alert lost its default:\n%s", b.Expr)
	}
}

func TestInhibitionOrderKeptByForScale(t *testing.T) {
	// Scaling keeps every inhibited alert at or after its source, so the
	// suite's short durations build.
	for _, s := range []string{"0.01", "0.05", "0.5", "2"} {
		if _, err := build(t, "for_scale: "+s); err != nil {
			t.Errorf("for_scale %s: %v", s, err)
		}
	}
}

func TestRecordingExpr(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Selector = `job="x"`
	e, err := RecordingExpr(cfg, TCPRetransmitRatio)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(e, `netcause_tcp_retransmitted_segments_total{job="x"}[5m]`) {
		t.Errorf("expression does not follow the config:\n%s", e)
	}
	if _, err := RecordingExpr(cfg, "nope"); err == nil {
		t.Error("unknown recording rule gave no error")
	}
}

func TestTidy(t *testing.T) {
	in := "\n  a\n/\n  b  \n\n"
	if got, want := tidy(in), "  a\n/\n  b"; got != want {
		t.Errorf("tidy(%q) = %q, want %q", in, got, want)
	}
}

// FuzzParseConfig: any overlay gives a pack or an error, never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"", "rate_window: 30s\nfor_scale: 0.05\n",
		"alerts: {NetcauseNoRoute: {params: {min_rate: 1}, for: 10s, severity: critical}}",
		"node_labels: [cluster, instance]\nselector: 'job=\"x\"'",
		"alerts: {NetcauseFirewallDropping: {params: {invalid_rule_text: '('}}}",
		"for_scale: -1", "rate_window: 1y", "alerts: [1, 2]", "- a\n- b",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		cfg, err := ParseConfig(raw)
		if err != nil {
			return
		}
		_, _ = Build(cfg)
	})
}

// TestSourcesOutliveTargets checks keep_firing_for: every alert that mutes
// others keeps firing at least a rate window after its condition clears,
// longer than any alert it mutes that is held itself, and alerts that mute
// nothing are not held.
func TestSourcesOutliveTargets(t *testing.T) {
	for _, overlay := range []string{"inhibition_hold: 15s\n", "rate_window: 30s\nfor_scale: 0.05\ninhibition_hold: 5s\n"} {
		p, err := build(t, overlay)
		if err != nil {
			t.Fatal(err)
		}
		hold := map[string]time.Duration{}
		for _, a := range p.Alerts {
			hold[a.Def.Name] = a.KeepFiringFor
		}
		sources := map[string]bool{}
		window := time.Duration(p.Config.RateWindow)
		for _, in := range p.Inhibitions {
			sources[in.Source] = true
			if hold[in.Source] < window+time.Duration(p.Config.InhibitionHold) {
				t.Errorf("%q: %s keeps firing %s, want at least rate_window plus inhibition_hold", overlay, in.Source, hold[in.Source])
			}
			for _, tg := range in.Targets {
				if hold[tg] >= hold[in.Source] {
					t.Errorf("%q: %s (keeps firing %s) mutes %s, which keeps firing %s: the muted alert would be sent as the source resolves",
						overlay, in.Source, hold[in.Source], tg, hold[tg])
				}
			}
		}
		for name, h := range hold {
			if !sources[name] && h != 0 {
				t.Errorf("%q: %s mutes nothing but keeps firing %s", overlay, name, h)
			}
		}
	}
	p, err := build(t, "") // off by default
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range p.Alerts {
		if a.KeepFiringFor != 0 {
			t.Errorf("default: %s keeps firing %s", a.Def.Name, a.KeepFiringFor)
		}
	}
}
