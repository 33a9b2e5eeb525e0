package rules

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/common/model"

	"github.com/netcause/netcause/internal/catalog"
)

// Alerts returns every alert definition, grouped by layer in the order the
// rule files list them.
func Alerts() []Alert {
	var all []Alert
	for _, l := range [][]Alert{linkAlerts, networkAlerts, netfilterAlerts, transportAlerts, peerAlerts, metaAlerts} {
		all = append(all, l...)
	}
	return all
}

// Layers is the order of the rule groups.
var Layers = []Layer{Link, Network, Netfilter, Transport, Application, Meta}

// BuiltAlert is an alert with a Config applied: what the rule files hold.
type BuiltAlert struct {
	Def      Alert
	Severity Severity
	For      time.Duration
	// KeepFiringFor is set on alerts that mute others (Config.InhibitionHold).
	KeepFiringFor time.Duration
	Expr          string
	Summary       string
	Description   string
	RunbookURL    string
	// DashboardURL opens the panel that shows the alert's evidence (a
	// Prometheus template); empty while evidence_gen.go does not know the
	// alert, which render refuses.
	DashboardURL string
	Params       map[string]string
}

// Built is a recording rule with a Config applied.
type Built struct {
	Name, Expr, Help string
}

// Pack is the whole alert pack for one Config.
type Pack struct {
	Config      *Config
	Recordings  []Built
	Alerts      []BuiltAlert
	Inhibitions []Inhibition
}

// Build expands every definition for cfg and checks the result hangs
// together: known overrides, valid parameters, and inhibitions whose weaker
// alert never becomes due before the stronger one.
func Build(cfg *Config) (*Pack, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Pack{Config: cfg}
	for _, r := range RecordingRules() {
		expr, err := expand(r.Name, r.Expr, Ctx{cfg: cfg})
		if err != nil {
			return nil, err
		}
		p.Recordings = append(p.Recordings, Built{Name: r.Name, Expr: expr, Help: r.Help})
	}

	defs := Alerts()
	known := map[string]Alert{}
	for _, a := range defs {
		if _, dup := known[a.Name]; dup {
			return nil, fmt.Errorf("alert %s defined twice", a.Name)
		}
		known[a.Name] = a
	}
	for name, o := range cfg.Alerts {
		a, ok := known[name]
		if !ok {
			return nil, fmt.Errorf("alerts: no alert named %s", name)
		}
		for pn := range o.Params {
			if !slices.ContainsFunc(a.Params, func(p Param) bool { return p.Name == pn }) {
				return nil, fmt.Errorf("alerts.%s.params: %s has no parameter %q", name, name, pn)
			}
		}
	}

	enabled := map[string]BuiltAlert{}
	for _, a := range defs {
		if cfg.Alerts[a.Name].Disabled {
			continue
		}
		b, err := buildAlert(cfg, a)
		if err != nil {
			return nil, fmt.Errorf("alert %s: %w", a.Name, err)
		}
		p.Alerts = append(p.Alerts, b)
		enabled[a.Name] = b
	}

	for _, in := range Inhibitions() {
		src, ok := enabled[in.Source]
		if !ok {
			if _, defined := known[in.Source]; !defined {
				return nil, fmt.Errorf("inhibition source %s is not an alert", in.Source)
			}
			continue
		}
		var targets []string
		for _, t := range in.Targets {
			tb, ok := enabled[t]
			if !ok {
				if _, defined := known[t]; !defined {
					return nil, fmt.Errorf("inhibition target %s is not an alert", t)
				}
				continue
			}
			// Alertmanager mutes a target only while the source fires; a
			// target due earlier would be sent before the source exists.
			if tb.For < src.For {
				return nil, fmt.Errorf("%s (for %s) is inhibited by %s (for %s) and must not wait less than it",
					t, model.Duration(tb.For), in.Source, model.Duration(src.For))
			}
			targets = append(targets, t)
		}
		if len(targets) == 0 {
			continue
		}
		in.Targets = targets
		in.Equal = append(slices.Clone(cfg.NodeLabels), in.Equal...)
		p.Inhibitions = append(p.Inhibitions, in)
	}
	if err := p.holdSources(); err != nil {
		return nil, err
	}
	return p, nil
}

// holdSources sets keep_firing_for on every inhibition source so it
// outlives what it mutes: rate_window (a muted alert holds the fault in its
// window after the source's condition is gone) plus InhibitionHold per
// level, where a source's level is one more than the highest level among
// its targets (0 for an alert that mutes nothing). A source muted by
// another therefore always resolves first, and the chain unwinds without
// the weaker alerts being sent on the way.
func (p *Pack) holdSources() error {
	hold := time.Duration(p.Config.InhibitionHold)
	if hold == 0 {
		return nil
	}
	targets := map[string][]string{}
	for _, in := range p.Inhibitions {
		targets[in.Source] = append(targets[in.Source], in.Targets...)
	}
	level := map[string]int{}
	visiting := map[string]bool{}
	var visit func(a string, path []string) (int, error)
	visit = func(a string, path []string) (int, error) {
		if l, ok := level[a]; ok {
			return l, nil
		}
		if visiting[a] {
			return 0, fmt.Errorf("inhibitions form a cycle: %s", strings.Join(append(path, a), " mutes "))
		}
		visiting[a] = true
		l := 0
		for _, t := range targets[a] {
			tl, err := visit(t, append(path, a))
			if err != nil {
				return 0, err
			}
			l = max(l, tl+1)
		}
		visiting[a] = false
		level[a] = l
		return l, nil
	}
	for i := range p.Alerts {
		l, err := visit(p.Alerts[i].Def.Name, nil)
		if err != nil {
			return err
		}
		if l > 0 {
			p.Alerts[i].KeepFiringFor = time.Duration(p.Config.RateWindow) + time.Duration(l)*hold
		}
	}
	return nil
}

func buildAlert(cfg *Config, a Alert) (BuiltAlert, error) {
	o := cfg.Alerts[a.Name]
	if !slices.Contains(Causes, a.Cause) {
		return BuiltAlert{}, fmt.Errorf("cause %q is not in the vocabulary", a.Cause)
	}
	if !slices.Contains(Layers, a.Layer) {
		return BuiltAlert{}, fmt.Errorf("layer %q is not a layer", a.Layer)
	}
	params := map[string]string{}
	for _, pd := range a.Params {
		v := pd.Default
		if ov, ok := o.Params[pd.Name]; ok {
			v = ov
		}
		if err := checkParam(pd.Kind, v); err != nil {
			return BuiltAlert{}, fmt.Errorf("parameter %s: %w", pd.Name, err)
		}
		params[pd.Name] = v
	}
	sev := a.Severity
	if o.Severity != "" {
		sev = o.Severity
	}
	if sev != Warning && sev != Critical {
		return BuiltAlert{}, fmt.Errorf("severity %q is neither warning nor critical", sev)
	}
	forD := time.Duration(math.Round(float64(a.For)*cfg.ForScale/float64(time.Second))) * time.Second
	if o.For != nil {
		forD = time.Duration(*o.For)
	}
	if a.Burst && forD >= time.Duration(cfg.RateWindow) {
		return BuiltAlert{}, fmt.Errorf("for %s must be shorter than rate_window %s: the event leaves the rate after one window",
			model.Duration(forD), cfg.RateWindow)
	}
	ctx := Ctx{cfg: cfg, params: params}
	b := BuiltAlert{Def: a, Severity: sev, For: forD, Params: params,
		RunbookURL: strings.TrimSuffix(cfg.RunbookBaseURL, "/") + "/" + a.Name + ".md"}
	if ep, d, ok := Evidence(a.Name); ok {
		b.DashboardURL = dashboardURL(cfg.GrafanaBaseURL, ep, d)
	}
	var err error
	if b.Expr, err = expand(a.Name, a.Expr, ctx); err != nil {
		return b, err
	}
	if b.Summary, err = expand(a.Name+" summary", a.Summary, ctx); err != nil {
		return b, err
	}
	if b.Description, err = expand(a.Name+" description", a.Description, ctx); err != nil {
		return b, err
	}
	return b, nil
}

func checkParam(k ParamKind, v string) error {
	switch k {
	case Number:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
	case Duration:
		if _, err := model.ParseDuration(v); err != nil {
			return fmt.Errorf("%q is not a duration: %w", v, err)
		}
	case Matchers:
		if strings.ContainsAny(v, "{}") {
			return fmt.Errorf("%q: give matchers without braces, e.g. device!~\"lo\"", v)
		}
	case Regexp:
		if _, err := regexp.Compile(v); err != nil {
			return fmt.Errorf("%q is not a regular expression: %w", v, err)
		}
	}
	return nil
}

// expand runs one << >> template.
func expand(name, text string, ctx Ctx) (string, error) {
	funcs := template.FuncMap{
		"m":      ctx.M,
		"p":      ctx.P,
		"window": ctx.Window,
		"node":   ctx.Node,
	}
	for k, v := range recordingNames {
		funcs[k] = func() string { return v }
	}
	t, err := template.New(name).Delims("<<", ">>").Option("missingkey=error").Funcs(funcs).Parse(text)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	if err := t.Execute(&sb, nil); err != nil {
		return "", err
	}
	return tidy(sb.String()), nil
}

// tidy drops the blank lines around a template's text and trailing spaces,
// keeping the indentation that lays out an expression's operands.
func tidy(s string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// RecordingExpr returns the expression of the recording rule name for cfg,
// for generators (dashboards) that want the definition rather than the
// recorded series.
func RecordingExpr(cfg *Config, name string) (string, error) {
	for _, r := range RecordingRules() {
		if r.Name == name {
			return expand(r.Name, r.Expr, Ctx{cfg: cfg})
		}
	}
	return "", fmt.Errorf("no recording rule %s", name)
}

// RecordingExprWindow is RecordingExpr with the rate window given as text
// rather than a duration: dashboards pass Grafana's $__rate_interval, whose
// window follows the zoom, and keep the rule's expression otherwise.
func RecordingExprWindow(cfg *Config, name, window string) (string, error) {
	for _, r := range RecordingRules() {
		if r.Name == name {
			return expand(r.Name, r.Expr, Ctx{cfg: cfg, window: window})
		}
	}
	return "", fmt.Errorf("no recording rule %s", name)
}

// CauseOf returns the cause label of the named alert.
func CauseOf(alert string) (catalog.Cause, bool) {
	for _, a := range Alerts() {
		if a.Name == alert {
			return a.Cause, true
		}
	}
	return "", false
}
