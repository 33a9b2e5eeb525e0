package exporter

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/netcause/netcause/internal/catalog"
)

var update = flag.Bool("update", false, "rewrite docs/metrics.md's generated table")

const (
	metricsDoc = "../docs/metrics.md"
	beginMark  = "<!-- BEGIN GENERATED: metrics table (make docs) -->\n"
	endMark    = "<!-- END GENERATED -->\n"
)

// TestMetricsDoc fails when docs/metrics.md's table differs from the
// metrics the exporter declares. `make docs` rewrites it.
func TestMetricsDoc(t *testing.T) {
	raw, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	head, rest, ok1 := strings.Cut(doc, beginMark)
	_, tail, ok2 := strings.Cut(rest, endMark)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the generated-table markers", metricsDoc)
	}
	want := head + beginMark + catalog.Markdown() + endMark + tail
	if doc == want {
		return
	}
	if *update {
		if err := os.WriteFile(metricsDoc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with the declared metrics; run `make docs`", metricsDoc)
}
