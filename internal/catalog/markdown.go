package catalog

import (
	"fmt"
	"strings"
)

// Markdown renders the metric table of docs/metrics.md from the declared
// metrics, so the document cannot fall behind the code.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| metric | type | labels | meaning | reveals |\n|---|---|---|---|---|\n")
	for _, d := range All() {
		causes := make([]string, len(d.Causes))
		for i, c := range d.Causes {
			causes[i] = string(c)
		}
		typ := TypeName(d.Type)
		if d.Histogram {
			typ = "histogram"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, typ,
			strings.Join(d.Labels, ", "), strings.ReplaceAll(d.Help, "|", "\\|"), strings.Join(causes, ", "))
	}
	return b.String()
}
