package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/netcause/netcause/dashboards/boards"
)

// Board is a dashboard file as read back: its identity, variables and
// panels with their queries.
type Board struct {
	File      string
	UID       string
	Title     string
	Variables []Variable
	Panels    []Panel
}

// Variable is a template variable of a board.
type Variable struct {
	Name     string
	Type     string // datasource, query
	Query    string // label_values(...) for a query variable
	AllValue string
}

// Panel is one panel with queries (rows and text panels have none and are
// left out).
type Panel struct {
	ID      int
	Type    string
	Title   string
	Unit    string
	Targets []Target
}

// Target is one query of a panel, template variables not yet substituted.
type Target struct {
	RefID        string
	Expr         string
	LegendFormat string
	Format       string // time_series, table, heatmap
	Instant      bool
}

// Query is one panel query ready to run: variables substituted.
type Query struct {
	File      string // e.g. overview.json
	Dashboard string // the dashboard's title
	UID       string
	PanelID   int
	Panel     string // the panel's title
	RefID     string
	// Expr is the PromQL expression with every variable substituted.
	Expr string
	// Instant queries feed tables and are evaluated at one time; the
	// others are drawn over the time range.
	Instant bool
	// Needs is, for a panel that returns data only while something
	// particular is true, what that is (boards.Needs); empty for panels
	// that return data wherever the exporter runs.
	Needs string `json:",omitempty"`
}

// Load reads every dashboard JSON file in dir (dashboards/), sorted by file
// name. JSON files that are not dashboards (no title and panels) are
// skipped.
func Load(dir string) ([]Board, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var out []Board
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		b, ok, err := parseBoard(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if ok {
			b.File = filepath.Base(p)
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	return out, nil
}

// The JSON read back: only what Board needs.
type rawBoard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Query    any    `json:"query"`
			AllValue string `json:"allValue"`
		} `json:"list"`
	} `json:"templating"`
	Panels []rawPanel `json:"panels"`
}

type rawPanel struct {
	ID          int        `json:"id"`
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Panels      []rawPanel `json:"panels"` // a collapsed row's panels
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		RefID        string `json:"refId"`
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
		Format       string `json:"format"`
		Instant      bool   `json:"instant"`
	} `json:"targets"`
}

func parseBoard(raw []byte) (Board, bool, error) {
	var rb rawBoard
	if err := json.Unmarshal(raw, &rb); err != nil {
		return Board{}, false, err
	}
	if rb.Title == "" || rb.Panels == nil {
		return Board{}, false, nil
	}
	b := Board{UID: rb.UID, Title: rb.Title}
	for _, v := range rb.Templating.List {
		qs, _ := v.Query.(string)
		b.Variables = append(b.Variables, Variable{Name: v.Name, Type: v.Type, Query: qs, AllValue: v.AllValue})
	}
	var walk func([]rawPanel)
	walk = func(ps []rawPanel) {
		for _, p := range ps {
			walk(p.Panels)
			if len(p.Targets) == 0 {
				continue
			}
			panel := Panel{ID: p.ID, Type: p.Type, Title: p.Title, Unit: p.FieldConfig.Defaults.Unit}
			for _, t := range p.Targets {
				panel.Targets = append(panel.Targets, Target{RefID: t.RefID, Expr: t.Expr,
					LegendFormat: t.LegendFormat, Format: t.Format, Instant: t.Instant})
			}
			b.Panels = append(b.Panels, panel)
		}
	}
	walk(rb.Panels)
	return b, true, nil
}

// Queries lists every panel query of the dashboards in dir with template
// variables substituted: vars gives values by variable name (without $).
// A board variable vars leaves out takes its All value (.*). Grafana's
// $__rate_interval and $__range have no sensible default (they depend on
// the scrape interval and the time range) and must be given, e.g.
// {"__rate_interval": "8s", "__range": "10m"} for a 2 s scrape interval.
func Queries(dir string, vars map[string]string) ([]Query, error) {
	bs, err := Load(dir)
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, b := range bs {
		qs, err := b.Queries(vars)
		if err != nil {
			return nil, err
		}
		out = append(out, qs...)
	}
	return out, nil
}

// Queries lists the board's panel queries with variables substituted (see
// the package-level Queries).
func (b Board) Queries(vars map[string]string) ([]Query, error) {
	values := map[string]string{}
	for _, v := range b.Variables {
		if v.Type == "query" {
			values[v.Name] = v.AllValue
		}
	}
	for k, v := range vars {
		values[k] = v
	}
	var out []Query
	for _, p := range b.Panels {
		for _, t := range p.Targets {
			expr, err := Substitute(t.Expr, values)
			if err != nil {
				return nil, fmt.Errorf("%s panel %d %q query %s: %w", b.File, p.ID, p.Title, t.RefID, err)
			}
			out = append(out, Query{File: b.File, Dashboard: b.Title, UID: b.UID, PanelID: p.ID, Panel: p.Title,
				RefID: t.RefID, Expr: expr, Instant: t.Instant, Needs: boards.Needs[b.UID][p.Title]})
		}
	}
	return out, nil
}

// variableRef matches Grafana's variable syntaxes: ${name}, ${name:format},
// $name and the deprecated [[name]] / [[name:format]].
var variableRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]`)

// References returns the names of the variables s refers to, in order of
// first use.
func References(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range variableRef.FindAllStringSubmatch(s, -1) {
		name := m[1] + m[2] + m[3]
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// Substitute replaces every variable reference in expr with its value in
// values, as Grafana would for a single value (a value is used as it is, so
// pass a regular expression where the query matches with =~). A variable
// without a value is an error: the query would reach Prometheus with a
// literal $ in it.
func Substitute(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", errors.New("no value for variable " + strings.Join(missing, ", "))
	}
	return out, nil
}
