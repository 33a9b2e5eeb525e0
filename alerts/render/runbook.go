package render

import (
	"fmt"
	"strings"

	"github.com/netcause/netcause/alerts/rules"
)

// runbookDashboardPrefix starts the line of a runbook that links the
// dashboard; the generator owns that line, the rest of the page is prose.
const runbookDashboardPrefix = "Dashboard: "

// RunbookDashboardLine is the line of an alert's runbook (docs/runbooks/)
// that leads to the panel showing the alert's evidence: the dashboard's
// section of docs/dashboards.md and its JSON file.
func RunbookDashboardLine(alert string) (string, error) {
	p, d, ok := rules.Evidence(alert)
	if !ok {
		return "", fmt.Errorf("alert %s: alerts/rules/evidence_gen.go names no dashboard panel for it; run `make dashboards`", alert)
	}
	esc := strings.NewReplacer("[", `\[`, "]", `\]`, "*", `\*`, "_", `\_`)
	return fmt.Sprintf("%s[%s](../dashboards.md#%s), panel *%s* (id %d in [dashboards/%s](../../dashboards/%s)); the alert's `dashboard_url` opens it.",
		runbookDashboardPrefix, esc.Replace(d.Title), d.Anchor, esc.Replace(p.Title), p.ID, d.File, d.File), nil
}

// SpliceRunbook puts line into a runbook in place of its dashboard line, or,
// in a runbook without one, as a paragraph of its own before the first
// section.
func SpliceRunbook(text []byte, line string) ([]byte, error) {
	lines := strings.SplitAfter(string(text), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, runbookDashboardPrefix) {
			lines[i] = line + "\n"
			return []byte(strings.Join(lines, "")), nil
		}
		if strings.HasPrefix(l, "## ") {
			out := append(lines[:i:i], line+"\n", "\n")
			return []byte(strings.Join(append(out, lines[i:]...), "")), nil
		}
	}
	return nil, fmt.Errorf("no section (## ) to put the dashboard line before")
}
