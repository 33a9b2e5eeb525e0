package dashboards_test

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards"
	"github.com/netcause/netcause/internal/catalog"

	// Linked for their metric declarations: catalog.All() then lists
	// every metric the exporter can export.
	_ "github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
)

var promql = parser.NewParser(parser.Options{})

// Distinct windows stand in for Grafana's interval variables, so a range
// that is neither (hard-coded) shows.
const (
	rateSentinel  = 4242 * time.Second
	rangeSentinel = 4343 * time.Second
)

func sentinelVars() map[string]string {
	return map[string]string{
		"__rate_interval": fmt.Sprintf("%ds", int(rateSentinel.Seconds())),
		"__range":         fmt.Sprintf("%ds", int(rangeSentinel.Seconds())),
		// A single value that is also a regexp, as Grafana substitutes
		// for one selected value.
		"instance": "node-1:9100", "netns": "host", "interface": "eth0", "peer": "10.0.2.10",
	}
}

// promBuiltins are the series Prometheus itself writes for every target and
// alert, with their labels; nil means any (an alert's own labels).
var promBuiltins = map[string][]string{
	"up":                      {"instance", "job"},
	"scrape_duration_seconds": {"instance", "job"},
	"scrape_samples_scraped":  {"instance", "job"},
	"ALERTS":                  nil,
}

// targetLabels are added by Prometheus to every scraped series.
var targetLabels = []string{"instance", "job"}

// seriesLabels maps every series name a panel may select to the labels it
// carries: the exporter's metrics (histograms as _bucket with le, _sum,
// _count) and the rest of what its registry serves, the alert pack's
// recording rules (labels from their level prefix) and Prometheus' own
// series.
func seriesLabels(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, d := range catalog.All() {
		ls := append(slices.Clone(d.Labels), targetLabels...)
		if d.Histogram {
			out[d.Name+"_bucket"] = append(slices.Clone(ls), "le")
			out[d.Name+"_sum"] = ls
			out[d.Name+"_count"] = ls
			continue
		}
		out[d.Name] = ls
	}
	for _, r := range rules.RecordingRules() {
		level, _, ok := strings.Cut(r.Name, ":")
		if !ok {
			t.Fatalf("recording rule %s has no level prefix", r.Name)
		}
		out[r.Name] = strings.Split(level, "_")
	}
	for n, ls := range promBuiltins {
		out[n] = ls
	}
	// The exporter's registry also serves build info and the Go and
	// process collectors' series (not in the catalog): read them from it.
	e := exporter.New(nil, netns.Options{SelfName: "host"}, slog.New(slog.DiscardHandler))
	mfs, err := exporter.NewRegistry(e).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, ok := out[mf.GetName()]; ok || len(mf.GetMetric()) == 0 {
			continue
		}
		ls := slices.Clone(targetLabels)
		for _, l := range mf.GetMetric()[0].GetLabel() {
			ls = append(ls, l.GetName())
		}
		out[mf.GetName()] = ls
	}
	return out
}

// TestQueries parses every panel query and variable query with the
// Prometheus parser after substituting the template variables, and checks
// what it selects: only series the exporter, the alert pack or Prometheus
// define; matchers, groupings, joins and legends only on labels those
// series carry; every range $__rate_interval (or $__range for totals over
// the time range). A label typo or a join on a label one side lacks leaves a
// panel silently empty in Grafana; here it fails.
func TestQueries(t *testing.T) {
	known := seriesLabels(t)
	bs, err := dashboards.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	vars := sentinelVars()
	n := 0
	for _, b := range bs {
		for _, p := range b.Panels {
			for _, tg := range p.Targets {
				where := fmt.Sprintf("%s panel %d %q query %s", b.File, p.ID, p.Title, tg.RefID)
				expr, err := dashboards.Substitute(tg.Expr, vars)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				e, err := promql.ParseExpr(expr)
				if err != nil {
					t.Errorf("%s does not parse: %v\n%s", where, err, expr)
					continue
				}
				n++
				c := &labelCheck{known: known}
				res := c.of(e)
				for _, msg := range c.errs {
					t.Errorf("%s: %s\n%s", where, msg, expr)
				}
				if res.scalar {
					t.Errorf("%s is a scalar; panels need series", where)
				}
				for _, l := range legendLabels(tg.LegendFormat) {
					if res.known && !res.labels[l] {
						t.Errorf("%s: legend uses {{%s}}, which the result does not carry (it has %s)", where, l, res)
					}
				}
				if tg.Format == "heatmap" && res.known && !res.labels["le"] {
					t.Errorf("%s: a heatmap query must keep le", where)
				}
			}
		}
		for _, v := range b.Variables {
			if v.Type != "query" {
				continue
			}
			checkVariableQuery(t, b.File, v, vars, known)
		}
	}
	if n < 100 {
		t.Errorf("only %d queries parsed; the dashboards have lost panels", n)
	}
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

func checkVariableQuery(t *testing.T, file string, v dashboards.Variable, vars map[string]string, known map[string][]string) {
	t.Helper()
	where := fmt.Sprintf("%s variable %s", file, v.Name)
	m := labelValuesQuery.FindStringSubmatch(v.Query)
	if m == nil {
		t.Errorf("%s: %q is not label_values(selector, label)", where, v.Query)
		return
	}
	sel, err := dashboards.Substitute(m[1], vars)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	e, err := promql.ParseExpr(sel)
	if err != nil {
		t.Errorf("%s: selector does not parse: %v", where, err)
		return
	}
	c := &labelCheck{known: known}
	res := c.of(e)
	for _, msg := range c.errs {
		t.Errorf("%s: %s", where, msg)
	}
	if !res.labels[m[2]] {
		t.Errorf("%s: lists %s, which %s does not carry", where, m[2], sel)
	}
	// A variable's own value must not filter the query that lists it.
	for _, ref := range dashboards.References(m[1]) {
		if ref == v.Name {
			t.Errorf("%s refers to itself", where)
		}
	}
}

var legendRef = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

func legendLabels(format string) []string {
	var out []string
	for _, m := range legendRef.FindAllStringSubmatch(format, -1) {
		out = append(out, m[1])
	}
	return out
}

// result is what an expression evaluates to: a scalar, or series with a
// set of labels (known false when it cannot be told, as for ALERTS).
type result struct {
	scalar bool
	known  bool
	labels map[string]bool
}

func (r result) String() string {
	if r.scalar {
		return "a scalar"
	}
	if !r.known {
		return "unknown labels"
	}
	ls := make([]string, 0, len(r.labels))
	for l := range r.labels {
		ls = append(ls, l)
	}
	sort.Strings(ls)
	return "{" + strings.Join(ls, ", ") + "}"
}

func set(ls ...string) result {
	r := result{known: true, labels: map[string]bool{}}
	for _, l := range ls {
		r.labels[l] = true
	}
	return r
}

func (r result) has(l string) bool { return !r.known || r.labels[l] }

func (r result) without(ls ...string) result {
	if !r.known {
		return r
	}
	out := set()
	for l := range r.labels {
		if !slices.Contains(ls, l) {
			out.labels[l] = true
		}
	}
	return out
}

func (r result) plus(ls ...string) result {
	if !r.known {
		return r
	}
	out := set(ls...)
	for l := range r.labels {
		out.labels[l] = true
	}
	return out
}

func (r result) equal(o result) bool {
	if !r.known || !o.known {
		return true
	}
	if len(r.labels) != len(o.labels) {
		return false
	}
	for l := range r.labels {
		if !o.labels[l] {
			return false
		}
	}
	return true
}

// labelCheck infers the labels of each expression node, recording every
// use of a label its input cannot carry.
type labelCheck struct {
	known map[string][]string
	errs  []string
}

func (c *labelCheck) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *labelCheck) need(r result, what string, ls ...string) {
	for _, l := range ls {
		if !r.has(l) {
			c.errorf("%s uses label %s, which its input %s does not carry", what, l, r)
		}
	}
}

func (c *labelCheck) of(e parser.Expr) result {
	switch e := e.(type) {
	case *parser.NumberLiteral:
		return result{scalar: true}
	case *parser.ParenExpr:
		return c.of(e.Expr)
	case *parser.StepInvariantExpr:
		return c.of(e.Expr)
	case *parser.UnaryExpr:
		return c.of(e.Expr)
	case *parser.VectorSelector:
		return c.selector(e)
	case *parser.MatrixSelector:
		if e.Range != rateSentinel && e.Range != rangeSentinel {
			c.errorf("range [%s] is neither $__rate_interval nor $__range", e.Range)
		}
		return c.of(e.VectorSelector)
	case *parser.SubqueryExpr:
		c.errorf("subquery %s: the dashboards use none", e)
		return c.of(e.Expr)
	case *parser.Call:
		return c.call(e)
	case *parser.AggregateExpr:
		return c.aggregate(e)
	case *parser.BinaryExpr:
		return c.binary(e)
	}
	c.errorf("expression %s (%T) is not handled by the label check", e, e)
	return result{}
}

func (c *labelCheck) selector(vs *parser.VectorSelector) result {
	name := vs.Name
	if name == "" {
		c.errorf("selector %s has no literal metric name", vs)
		return result{}
	}
	ls, ok := c.known[name]
	if !ok {
		c.errorf("%s is neither exported by netcause, recorded by the alert pack nor written by Prometheus", name)
		return result{}
	}
	if ls == nil {
		return result{} // ALERTS: an alert's own labels
	}
	r := set(ls...)
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName && !r.labels[m.Name] {
			c.errorf("%s has no label %s (matcher %s)", name, m.Name, m)
		}
	}
	return r
}

func (c *labelCheck) call(e *parser.Call) result {
	args := make([]result, len(e.Args))
	for i, a := range e.Args {
		if _, ok := a.(*parser.StringLiteral); ok {
			continue
		}
		args[i] = c.of(a)
	}
	switch e.Func.Name {
	case "rate", "increase", "irate", "delta", "deriv", "max_over_time", "min_over_time", "avg_over_time",
		"sort", "sort_desc", "abs", "clamp_min", "clamp_max":
		return args[0].without(labels.MetricName)
	case "time", "scalar":
		return result{scalar: true}
	case "label_replace":
		dst := e.Args[1].(*parser.StringLiteral).Val
		src := e.Args[3].(*parser.StringLiteral).Val
		if src != "" {
			c.need(args[0], "label_replace", src)
		}
		return args[0].plus(dst)
	case "histogram_quantile":
		c.need(args[1], "histogram_quantile", "le")
		return args[1].without("le")
	}
	c.errorf("function %s is not handled by the label check", e.Func.Name)
	return result{}
}

func (c *labelCheck) aggregate(e *parser.AggregateExpr) result {
	if e.Param != nil {
		c.of(e.Param)
	}
	in := c.of(e.Expr)
	if e.Without {
		return in.without(e.Grouping...)
	}
	c.need(in, e.Op.String()+" by", e.Grouping...)
	switch e.Op {
	case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
		return in
	}
	return set(e.Grouping...)
}

func (c *labelCheck) binary(e *parser.BinaryExpr) result {
	l, r := c.of(e.LHS), c.of(e.RHS)
	switch {
	case l.scalar && r.scalar:
		return result{scalar: true}
	case l.scalar:
		return r.without(labels.MetricName)
	case r.scalar:
		return l.without(labels.MetricName)
	}
	vm := e.VectorMatching
	if vm.On {
		c.need(l, "on (left side)", vm.MatchingLabels...)
		c.need(r, "on (right side)", vm.MatchingLabels...)
	}
	switch e.Op {
	case parser.LOR:
		if !l.known || !r.known {
			return result{}
		}
		return l.plus(keys(r.labels)...)
	case parser.LAND, parser.LUNLESS:
		return l
	}
	switch vm.Card {
	case parser.CardManyToOne:
		c.need(r, "group_left", vm.Include...)
		return l.plus(vm.Include...)
	case parser.CardOneToMany:
		c.need(l, "group_right", vm.Include...)
		return r.plus(vm.Include...)
	}
	// One to one: without on/ignoring both sides must carry the same
	// labels, or nothing matches and the panel stays empty.
	if !vm.On && len(vm.MatchingLabels) == 0 && !l.equal(r) {
		c.errorf("%s matches %s with %s one to one: no series will match", e.Op, l, r)
	}
	if e.Op.IsComparisonOperator() && !e.ReturnBool {
		return l
	}
	if vm.On {
		return set(vm.MatchingLabels...)
	}
	return l.without(vm.MatchingLabels...)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRecordingRulesShared checks that every recording rule of the alert
// pack is on a dashboard as the pack defines it: its expression (label
// matchers aside, which the boards add) is a subexpression of some panel
// query. A dashboard that retyped and changed one, or a rule no panel shows,
// fails.
func TestRecordingRulesShared(t *testing.T) {
	bs, err := dashboards.Load(".")
	if err != nil {
		t.Fatal(err)
	}
	vars := sentinelVars()
	panelNodes := map[string][]string{}
	for _, b := range bs {
		for _, p := range b.Panels {
			for _, tg := range p.Targets {
				expr, err := dashboards.Substitute(tg.Expr, vars)
				if err != nil {
					t.Fatal(err)
				}
				e, err := promql.ParseExpr(expr)
				if err != nil {
					t.Fatal(err)
				}
				stripMatchers(e)
				parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
					if ex, ok := n.(parser.Expr); ok {
						s := ex.String()
						panelNodes[s] = append(panelNodes[s], fmt.Sprintf("%s: %s", b.File, p.Title))
					}
					return nil
				})
			}
		}
	}
	for _, r := range rules.RecordingRules() {
		expr, err := rules.RecordingExprWindow(rules.DefaultConfig(), r.Name, vars["__rate_interval"])
		if err != nil {
			t.Fatal(err)
		}
		e, err := promql.ParseExpr(expr)
		if err != nil {
			t.Fatal(err)
		}
		stripMatchers(e)
		where, ok := panelNodes[unparen(e).String()]
		if !ok {
			t.Errorf("recording rule %s is on no dashboard: show it on the panel its alerts concern, through boards' scope.rec", r.Name)
			continue
		}
		t.Logf("%s: %s", r.Name, strings.Join(where, "; "))
	}
}

// stripMatchers drops every label matcher but the metric name: dashboards
// add their variables' matchers to the pack's expressions.
func stripMatchers(e parser.Expr) {
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			var keep []*labels.Matcher
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName {
					keep = append(keep, m)
				}
			}
			vs.LabelMatchers = keep
		}
		return nil
	})
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// TestLabelCheck shows the label check catches the mistakes it is for, and
// passes correct queries.
func TestLabelCheck(t *testing.T) {
	known := seriesLabels(t)
	for _, tc := range []struct {
		expr, want string // want "" when the query is correct
	}{
		{`sum by (instance, netns, device) (rate(netcause_network_receive_dropped_total{device=~"eth0"}[4242s]))`, ""},
		{`histogram_quantile(0.99, sum by (instance, netns, peer, le) (rate(netcause_peer_response_seconds_bucket{role="client"}[4242s])))`, ""},
		{`sum(rate(netcause_network_receive_dropped_total[4343s]))`, ""},
		{`count by (severity) (ALERTS{alertstate="firing"})`, ""},
		{`time() - max by (instance) (netcause_firewall_last_success_timestamp_seconds)`, ""},
		{`max by (instance, netns, device) (netcause_network_mtu_bytes) * on (instance, netns, device) group_left (operstate) max by (instance, netns, device, operstate) (netcause_network_info)`, ""},
		{`label_replace(sum by (instance) (up), "term", "1", "", "") or label_replace(sum by (instance) (up), "term", "2", "", "")`, ""},

		{`netcause_no_such_metric_total`, "neither exported"},
		{`rate(netcause_softnet_dropped_packets_total{device=~"eth0"}[4242s])`, "has no label device"},
		{`sum by (instance, device) (rate(netcause_softnet_dropped_packets_total[4242s]))`, "uses label device"},
		{`rate(netcause_network_receive_dropped_total[5m])`, "neither $__rate_interval"},
		{`sum by (instance, netns, device) (rate(netcause_network_receive_dropped_total[4242s])) / sum by (instance, netns) (rate(netcause_tcp_sent_segments_total[4242s]))`, "one to one"},
		{`sum by (instance, netns) (netcause_tcp_connections_established) * on (instance, device) group_left () sum by (instance, device) (netcause_network_up)`, "on (left side) uses label device"},
		{`netcause_network_mtu_bytes * on (instance, netns, device) group_left (text) netcause_network_info`, "group_left uses label text"},
		{`histogram_quantile(0.9, sum by (instance) (rate(netcause_peer_response_seconds_bucket[4242s])))`, "uses label le"},
		{`max_over_time(rate(netcause_tcp_sent_segments_total[4242s])[1h:1m])`, "subquery"},
		{`{__name__=~"netcause_.+"}`, "no literal metric name"},
	} {
		e, err := promql.ParseExpr(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		c := &labelCheck{known: known}
		c.of(e)
		got := strings.Join(c.errs, "\n")
		switch {
		case tc.want == "" && got != "":
			t.Errorf("%s: unexpected %s", tc.expr, got)
		case tc.want != "" && !strings.Contains(got, tc.want):
			t.Errorf("%s: want an error containing %q, got %q", tc.expr, tc.want, got)
		}
	}
}
