package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/netcause/netcause/dashboards"
)

// copyTree copies the committed dashboards, docs/dashboards.md and the alert
// pack's evidence table into a temporary tree and returns its dashboards
// dir, doc path and evidence path.
func copyTree(t *testing.T) (string, string, string) {
	t.Helper()
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "dashboards")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join("..", "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "dashboards.md"))
	if err != nil {
		t.Fatal(err)
	}
	docPath := filepath.Join(tmp, "dashboards.md")
	if err := os.WriteFile(docPath, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join("..", "..", dashboards.EvidenceFile))
	if err != nil {
		t.Fatal(err)
	}
	evidence := filepath.Join(tmp, "evidence_gen.go")
	if err := os.WriteFile(evidence, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, docPath, evidence
}

func TestCheckAndRegenerate(t *testing.T) {
	dir, doc, evidence := copyTree(t)
	if err := generate(dir, doc, evidence, true); err != nil {
		t.Fatalf("committed files: %v", err)
	}
	stale := filepath.Join(dir, "netfilter.json")
	if err := os.WriteFile(stale, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := generate(dir, doc, evidence, true)
	if err == nil || !strings.Contains(err.Error(), "netfilter.json") {
		t.Fatalf("-check on a changed file: %v; want it named", err)
	}
	if b, _ := os.ReadFile(stale); string(b) != "{}\n" {
		t.Fatal("-check wrote a file")
	}
	if err := generate(dir, doc, evidence, false); err != nil {
		t.Fatal(err)
	}
	if err := generate(dir, doc, evidence, true); err != nil {
		t.Fatalf("after regenerating: %v", err)
	}
	if err := os.WriteFile(evidence, []byte("package rules\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(dir, doc, evidence, true); err == nil || !strings.Contains(err.Error(), "evidence_gen.go") {
		t.Fatalf("-check on a stale evidence table: %v; want it named", err)
	}
	if err := generate(dir, doc, evidence, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join("..", "..", dashboards.EvidenceFile)); !bytes.Equal(mustRead(t, evidence), b) {
		t.Error("regenerating did not restore the evidence table")
	}
	extra := filepath.Join(dir, "old.json")
	if err := os.WriteFile(extra, []byte(`{"title": "old", "panels": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := generate(dir, doc, evidence, true); err == nil || !strings.Contains(err.Error(), "old.json") {
		t.Fatalf("a dashboard file the generator does not make: %v; want it named", err)
	}
}

func TestPrintQueries(t *testing.T) {
	dir, _, _ := copyTree(t)
	var out bytes.Buffer
	if err := printQueries(&out, dir, map[string]string{"__rate_interval": "8s", "__range": "10m", "netns": "client"}); err != nil {
		t.Fatal(err)
	}
	var qs []dashboards.Query
	if err := json.Unmarshal(out.Bytes(), &qs); err != nil {
		t.Fatal(err)
	}
	if len(qs) < 100 {
		t.Fatalf("%d queries", len(qs))
	}
	for _, q := range qs {
		if strings.Contains(q.Expr, "$") || strings.Contains(q.Expr, "__rate_interval") {
			t.Errorf("%s %q: %s", q.File, q.Panel, q.Expr)
		}
	}
	if !strings.Contains(out.String(), `netns=~\"client\"`) {
		t.Error("netns=client not substituted")
	}
	if err := printQueries(&out, dir, nil); err == nil {
		t.Error("no error without __rate_interval")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
