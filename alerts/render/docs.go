package render

import (
	"fmt"
	"strings"

	"github.com/netcause/netcause/alerts/rules"
)

// Markers around the generated part of docs/alerts.md.
const (
	DocBegin = "<!-- BEGIN GENERATED: alert tables (make alerts) -->\n"
	DocEnd   = "<!-- END GENERATED -->\n"
)

// DocTables renders the alert, recording-rule and inhibition tables.
func DocTables(p *rules.Pack) (string, error) {
	var b strings.Builder
	b.WriteString("### Causes\n\n| cause | what breaks | alerts naming it |\n|---|---|---|\n")
	for _, c := range rules.Causes {
		var names []string
		for _, a := range p.Alerts {
			if a.Def.Cause == c {
				names = append(names, a.Def.Name)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c, rules.CauseHelp[c], codeList(names))
	}
	b.WriteString("\n### Alerts\n\n")
	b.WriteString("| alert | severity | cause | layer | for | key metrics | runbook |\n|---|---|---|---|---|---|---|\n")
	for _, a := range p.Alerts {
		names, err := MetricNames(a.Expr)
		if err != nil {
			return "", fmt.Errorf("%s: %w", a.Def.Name, err)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | [runbook](runbooks/%s.md) |\n",
			a.Def.Name, a.Severity, a.Def.Cause, a.Def.Layer, forCell(a), codeList(names), a.Def.Name)
	}
	b.WriteString("\n### Recording rules\n\n| record | meaning | reads |\n|---|---|---|\n")
	for _, r := range p.Recordings {
		names, err := MetricNames(r.Expr)
		if err != nil {
			return "", fmt.Errorf("%s: %w", r.Name, err)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Name, r.Help, codeList(names))
	}
	b.WriteString("\n### Inhibitions\n\nWhile the alert on the left fires, Alertmanager mutes the alerts in the middle when the listed labels are equal.\n\n")
	b.WriteString("| stronger alert | mutes | equal labels | why |\n|---|---|---|---|\n")
	for _, in := range p.Inhibitions {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", in.Source, codeList(slicesSorted(in.Targets)), strings.Join(in.Equal, ", "), in.Why)
	}
	return b.String(), nil
}

// forCell shows for and, on alerts that mute others, how long they keep
// firing after their condition clears.
func forCell(a rules.BuiltAlert) string {
	if a.KeepFiringFor == 0 {
		return ForString(a.For)
	}
	return ForString(a.For) + ", keeps firing " + ForString(a.KeepFiringFor)
}

func codeList(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return strings.Join(out, ", ")
}

// SpliceDoc replaces the generated part of doc with tables.
func SpliceDoc(doc []byte, tables string) ([]byte, error) {
	head, rest, ok1 := strings.Cut(string(doc), DocBegin)
	_, tail, ok2 := strings.Cut(rest, DocEnd)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("docs/alerts.md lacks the generated-table markers")
	}
	return []byte(head + DocBegin + tables + DocEnd + tail), nil
}
