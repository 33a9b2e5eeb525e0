package boards

import (
	"fmt"
	"strings"

	"github.com/netcause/netcause/alerts/rules"
)

// RateInterval is the window of every rate and increase on a panel:
// Grafana's $__rate_interval, at least four scrape intervals and growing
// with the zoom.
const RateInterval = "$__rate_interval"

// Variable matchers.
const (
	mInstance  = `instance=~"$instance"`
	mNetns     = `netns=~"$netns"`
	mInterface = `device=~"$interface"`
	mPeer      = `peer=~"$peer"`
)

// scope is the label matchers a board adds to every selector: the template
// variables that apply to the metrics it shows.
type scope []string

func (s scope) with(extra ...string) scope {
	return append(append(scope{}, s...), extra...)
}

// sel is a selector for metric within the scope plus extra matchers.
func (s scope) sel(metric string, extra ...string) string {
	return metric + "{" + strings.Join(s.with(extra...), ", ") + "}"
}

// rate is `sum by (by) (rate(metric{scope}[$__rate_interval]))`.
func (s scope) rate(metric, by string, extra ...string) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", by, s.sel(metric, extra...), RateInterval)
}

// increase is `sum by (by) (increase(metric{scope}[window]))`.
func (s scope) increase(metric, by, window string, extra ...string) string {
	return fmt.Sprintf("sum by (%s) (increase(%s[%s]))", by, s.sel(metric, extra...), window)
}

// gauge is `agg by (by) (metric{scope})`.
func (s scope) gauge(agg, metric, by string, extra ...string) string {
	return fmt.Sprintf("%s by (%s) (%s)", agg, by, s.sel(metric, extra...))
}

// quantile is the q quantile of a histogram metric over the window.
func (s scope) quantile(q float64, metric, by string, extra ...string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum by (%s, le) (rate(%s[%s])))",
		q, by, s.sel(metric+"_bucket", extra...), RateInterval)
}

// rec is the expression of the alert pack's recording rule name, with this
// scope's matchers on every metric and $__rate_interval as its window. The
// series the rule records has a fixed window and exists only where the pack
// is loaded; the expression follows the zoom and works without it.
func (s scope) rec(name string) string {
	cfg := rules.DefaultConfig()
	cfg.Selector = strings.Join(s, ", ")
	expr, err := rules.RecordingExprWindow(cfg, name, RateInterval)
	if err != nil {
		fail("%v", err)
	}
	return expr
}

// sumOf adds up terms that are each aggregated by the labels by. Plain `+`
// keeps only the groups every term has, so a namespace without qdiscs
// would lose its interface drops too; here each term is tagged apart,
// joined with `or` and summed.
func sumOf(by string, terms ...string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = fmt.Sprintf(`  label_replace(%s, "term", "%d", "", "")`, strings.TrimSpace(t), i)
	}
	return fmt.Sprintf("sum by (%s) (\n%s\n)", by, strings.Join(parts, "\nor\n"))
}

// alertParam is the default of an alert's parameter as a number, for the
// threshold a panel draws.
func alertParam(alert, param string) float64 {
	for _, a := range rules.Alerts() {
		if a.Name != alert {
			continue
		}
		for _, p := range a.Params {
			if p.Name == param {
				var v float64
				if _, err := fmt.Sscan(p.Default, &v); err != nil {
					fail("alert %s parameter %s: %q is not a number", alert, param, p.Default)
				}
				return v
			}
		}
		fail("alert %s has no parameter %s", alert, param)
	}
	fail("no alert %s", alert)
	return 0
}
