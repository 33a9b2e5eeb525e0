// Command gen writes netcause's alert pack: the Prometheus rule file, the
// PrometheusRule, the Alertmanager inhibitions, the annotated default config,
// docs/alerts.md's tables, the dashboard line of every runbook beside it
// (docs/runbooks/) and the dashboard_url the promtool tests (alerts/tests)
// expect, from alerts/rules and an optional config overlay.
//
//	go run ./alerts/gen                         # the shipped files (make alerts)
//	go run ./alerts/gen -check                  # fail if they are stale
//	go run ./alerts/gen -config t.yaml -out DIR # e.g. shorter for durations for tests
//
// Run it from the repository root.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/netcause/netcause/alerts/render"
	"github.com/netcause/netcause/alerts/rules"
)

func main() {
	configPath := flag.String("config", "", "YAML overlay on the default config (thresholds, selectors, for durations)")
	out := flag.String("out", "alerts", "directory the rule files are written under")
	docs := flag.String("docs", "", "markdown file whose generated tables are rewritten (default docs/alerts.md when no -config is given)")
	check := flag.Bool("check", false, "compare instead of writing; exit 1 if a file differs")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "gen: unexpected arguments:", flag.Args())
		os.Exit(2)
	}
	if *docs == "" && *configPath == "" {
		// The docs describe the shipped pack, not a test overlay.
		*docs = "docs/alerts.md"
	}
	if err := run(*configPath, *out, *docs, *check); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(configPath, out, docs string, check bool) error {
	cfg := rules.DefaultConfig()
	if configPath != "" {
		var err error
		if cfg, err = rules.LoadConfig(configPath); err != nil {
			return err
		}
	}
	pack, err := rules.Build(cfg)
	if err != nil {
		return err
	}
	files, err := render.Files(pack)
	if err != nil {
		return err
	}
	for i := range files {
		files[i].Path = filepath.Join(out, files[i].Path)
	}
	if docs != "" {
		cur, err := os.ReadFile(docs)
		if err != nil {
			return err
		}
		tables, err := render.DocTables(pack)
		if err != nil {
			return err
		}
		doc, err := render.SpliceDoc(cur, tables)
		if err != nil {
			return fmt.Errorf("%s: %w", docs, err)
		}
		files = append(files, render.File{Path: docs, Data: doc})
		rbs, err := runbooks(filepath.Join(filepath.Dir(docs), "runbooks"), pack)
		if err != nil {
			return err
		}
		files = append(files, rbs...)
		tests, err := promtoolTests(filepath.Join(out, "tests"), pack)
		if err != nil {
			return err
		}
		files = append(files, tests...)
	}
	stale := 0
	for _, f := range files {
		if check {
			cur, err := os.ReadFile(f.Path)
			if err != nil || !bytes.Equal(cur, f.Data) {
				fmt.Fprintf(os.Stderr, "gen: %s is stale; run `make alerts`\n", f.Path)
				stale++
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(f.Path, f.Data, 0o644); err != nil {
			return err
		}
	}
	if stale > 0 {
		return fmt.Errorf("%d generated files are stale", stale)
	}
	return nil
}

// runbooks rewrites the dashboard line of every alert's runbook under dir.
// A missing runbook is left to the alert pack's tests to report, so that a
// new alert's rules can be generated before its runbook is written.
func runbooks(dir string, pack *rules.Pack) ([]render.File, error) {
	var out []render.File
	for _, a := range pack.Alerts {
		path := filepath.Join(dir, a.Def.Name+".md")
		cur, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		line, err := render.RunbookDashboardLine(a.Def.Name)
		if err != nil {
			return nil, err
		}
		next, err := render.SpliceRunbook(cur, line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, render.File{Path: path, Data: next})
	}
	return out, nil
}

// promtoolTests sets the expected dashboard_url in the promtool tests under
// dir (render.PromtoolDashboardURLs).
func promtoolTests(dir string, pack *rules.Pack) ([]render.File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.test.yml"))
	if err != nil {
		return nil, err
	}
	var out []render.File
	for _, path := range paths {
		cur, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		next, err := render.PromtoolDashboardURLs(pack, cur)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, render.File{Path: path, Data: next})
	}
	return out, nil
}
