package deploy

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source is a file the chart carries: its name inside the chart's files/
// directory and its content, copied unchanged.
type Source struct {
	Name    string // DNS-safe base name with extension
	From    string // path relative to the repository root
	Content []byte
}

// RuleFiles finds the Prometheus rule files under dir (alerts/): YAML files
// whose top level is a mapping with a `groups` list, as `promtool check
// rules` and the Prometheus Operator's PrometheusRule spec take them. Rule
// unit tests, Alertmanager snippets and generator configuration have no
// top-level `groups` and are left out. A group name defined in two files is
// an error: Prometheus would load both and fire every alert twice.
func RuleFiles(root, dir string) ([]Source, error) {
	var out []Source
	groupFile := map[string]string{}
	err := walk(filepath.Join(root, dir), func(path string) error {
		if ext := filepath.Ext(path); ext != ".yml" && ext != ".yaml" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		groups, ok := doc["groups"].([]any)
		if !ok {
			return nil
		}
		for i, g := range groups {
			m, ok := g.(map[string]any)
			name, _ := m["name"].(string)
			if !ok || name == "" {
				return fmt.Errorf("%s: group %d has no name", rel, i+1)
			}
			if prev, dup := groupFile[name]; dup {
				return fmt.Errorf("rule group %q is defined in both %s and %s", name, prev, rel)
			}
			groupFile[name] = rel
		}
		out = append(out, Source{From: rel, Content: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return named(out, dir, ".yaml")
}

// Dashboards finds the Grafana dashboards under dir (dashboards/): JSON
// objects with a `title` and a `panels` list. package.json, tsconfig.json
// and other JSON beside them are left out.
func Dashboards(root, dir string) ([]Source, error) {
	var out []Source
	err := walk(filepath.Join(root, dir), func(path string) error {
		if filepath.Ext(path) != ".json" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil // not an object: not a dashboard
		}
		var title string
		var panels []json.RawMessage
		if json.Unmarshal(doc["title"], &title) != nil || title == "" ||
			json.Unmarshal(doc["panels"], &panels) != nil || doc["panels"] == nil {
			return nil
		}
		out = append(out, Source{From: rel, Content: b})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return named(out, dir, ".json")
}

// walk calls fn for every regular file under dir, skipping hidden
// directories, testdata and node_modules. A missing dir has no files.
func walk(dir string, fn func(path string) error) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			n := d.Name()
			if path != dir && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return fn(path)
	})
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

var notDNS = regexp.MustCompile(`[^a-z0-9]+`)

// named gives each source a DNS-safe name (the chart uses it in object
// names): its path below dir without extension, lowercased, every run of
// other characters turned into one "-". Two sources with the same name are
// an error rather than one silently hiding the other.
func named(srcs []Source, dir, ext string) ([]Source, error) {
	seen := map[string]string{}
	for i := range srcs {
		rel, _ := filepath.Rel(dir, srcs[i].From)
		rel = strings.TrimSuffix(rel, filepath.Ext(rel))
		n := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(rel), "-"), "-")
		if n == "" {
			return nil, fmt.Errorf("%s: no usable name", srcs[i].From)
		}
		if len(n) > 200 {
			n = n[:200]
		}
		if prev, dup := seen[n]; dup {
			return nil, fmt.Errorf("%s and %s both map to the chart file name %q", prev, srcs[i].From, n+ext)
		}
		seen[n] = srcs[i].From
		srcs[i].Name = n + ext
	}
	sort.Slice(srcs, func(i, j int) bool { return srcs[i].Name < srcs[j].Name })
	return srcs, nil
}
