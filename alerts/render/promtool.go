package render

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/netcause/netcause/alerts/rules"
)

var (
	expLabelsLine  = regexp.MustCompile(`^\s*-?\s*exp_labels:\s*(.*)$`)
	runbookURLLine = regexp.MustCompile(`^(\s*)runbook_url:\s*\S*/(Netcause\w+)\.md\s*$`)
	dashboardLine  = regexp.MustCompile(`^\s*dashboard_url:`)
)

// PromtoolDashboardURLs sets, in a promtool test file (alerts/tests), the
// dashboard_url each expected alert carries, right after its runbook_url,
// from the alert's exp_labels. The rest of the file is left as written.
// Panel ids move whenever a board gains a panel; this keeps the promtool
// expectations following them while promtool still checks that Prometheus
// renders the annotation's template to the same link.
func PromtoolDashboardURLs(p *rules.Pack, text []byte) ([]byte, error) {
	var out []string
	var labels map[string]string
	for i, line := range strings.Split(string(text), "\n") {
		if dashboardLine.MatchString(line) {
			continue
		}
		out = append(out, line)
		if m := expLabelsLine.FindStringSubmatch(line); m != nil {
			labels = nil
			if err := yaml.Unmarshal([]byte(m[1]), &labels); err != nil || !strings.HasPrefix(strings.TrimSpace(m[1]), "{") {
				return nil, fmt.Errorf("line %d: write exp_labels as one flow map {name: value, …}", i+1)
			}
			continue
		}
		m := runbookURLLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if labels == nil {
			return nil, fmt.Errorf("line %d: runbook_url without exp_labels before it", i+1)
		}
		link, ok := rules.DashboardLink(p.Config.GrafanaBaseURL, m[2], labels)
		if !ok {
			return nil, fmt.Errorf("line %d: %s has no evidence panel; run `make dashboards`", i+1, m[2])
		}
		out = append(out, m[1]+"dashboard_url: "+link)
		labels = nil
	}
	return []byte(strings.Join(out, "\n")), nil
}
