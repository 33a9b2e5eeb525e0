package render

import (
	"fmt"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/netcause/netcause/alerts/rules"
)

var promql = parser.NewParser(parser.Options{})

// Validate parses every expression of p and requires every alert to link
// its dashboard.
func Validate(p *rules.Pack) error {
	for _, r := range p.Recordings {
		if _, err := promql.ParseExpr(r.Expr); err != nil {
			return fmt.Errorf("recording rule %s: %w\n%s", r.Name, err, r.Expr)
		}
	}
	for _, a := range p.Alerts {
		if _, err := promql.ParseExpr(a.Expr); err != nil {
			return fmt.Errorf("alert %s: %w\n%s", a.Def.Name, err, a.Expr)
		}
		if a.DashboardURL == "" {
			return fmt.Errorf("alert %s: alerts/rules/evidence_gen.go names no dashboard panel for it: link its runbook from the panel that shows its evidence (dashboards/boards), run `make dashboards`, then `make alerts`", a.Def.Name)
		}
	}
	return nil
}

// MetricNames returns the metric names an expression selects, sorted and
// without duplicates. A selector without a literal name (a __name__ regex)
// is an error: the pack always names what it reads so that the metric
// check can follow it.
func MetricNames(expr string) ([]string, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s has no literal metric name", vs)
			return nil
		}
		seen[name] = true
		return nil
	})
	if bad != nil {
		return nil, bad
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
