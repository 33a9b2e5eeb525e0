//go:build scenarios

package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// The panel-data check: every panel query of the dashboards, with its
// template variables substituted by the dashboards' own generator
// (`go run ./dashboards/gen -queries`), must return data from the suite's
// Prometheus during at least one scenario. Each scenario samples every
// query once its fault is in place (and the baseline once it has run).

// panelVars are Grafana's interval variables for a 1 s scrape interval and
// a dashboard looking at the last minutes.
var panelVars = []string{"__rate_interval=10s", "__range=5m"}

type panelQuery struct {
	File      string
	Dashboard string
	PanelID   int
	Panel     string
	RefID     string
	Expr      string
}

func (q panelQuery) String() string {
	return fmt.Sprintf("%s / %q (panel %d, %s): `%s`", q.Dashboard, q.Panel, q.PanelID, q.RefID, strings.Join(strings.Fields(q.Expr), " "))
}

type panelCheck struct {
	s       *stack
	queries []panelQuery
	absent  string // why there is nothing to check

	mu   sync.Mutex
	hits map[int][]string // query index -> scenarios it returned data in
	errs map[int]string
}

// newPanelCheck lists the panel queries. A tree without dashboards/gen has
// no panels yet: nothing to check, which the report says. A generator that
// fails is an error.
func newPanelCheck(s *stack) (*panelCheck, error) {
	p := &panelCheck{s: s, hits: map[int][]string{}, errs: map[int]string{}}
	if _, err := os.Stat(filepath.Join(s.src, "dashboards", "gen")); errors.Is(err, os.ErrNotExist) {
		p.absent = "dashboards/gen is not in the tree yet: no panel to check"
		return p, nil
	}
	args := []string{"run", "./dashboards/gen", "-queries"}
	for _, v := range panelVars {
		args = append(args, "-var", v)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = s.src
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return p, fmt.Errorf("go %v: %w: %s", args, err, stderr.String())
	}
	if p.queries, err = parsePanelQueries(out); err != nil {
		return p, err
	}
	if len(p.queries) == 0 {
		return p, fmt.Errorf("dashboards/gen -queries listed no query")
	}
	return p, nil
}

// parsePanelQueries reads a JSON array or a stream of JSON objects.
func parsePanelQueries(b []byte) ([]panelQuery, error) {
	var qs []panelQuery
	if err := json.Unmarshal(b, &qs); err == nil {
		return qs, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		var q panelQuery
		err := dec.Decode(&q)
		if err == io.EOF {
			return qs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("dashboards/gen -queries output: %w", err)
		}
		qs = append(qs, q)
	}
}

// sample evaluates every query now and credits scenario with those that
// return data.
func (p *panelCheck) sample(ctx context.Context, scenario string) {
	if p == nil {
		return
	}
	for i, q := range p.queries {
		res, err := p.s.query(ctx, q.Expr)
		p.mu.Lock()
		switch {
		case err != nil:
			p.errs[i] = err.Error()
		case len(res) > 0:
			p.hits[i] = append(p.hits[i], scenario)
		}
		p.mu.Unlock()
	}
}

// never lists the queries that returned data in no scenario.
func (p *panelCheck) never() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for i, q := range p.queries {
		if len(p.hits[i]) == 0 {
			s := q.String()
			if e := p.errs[i]; e != "" {
				s += " (error: " + e + ")"
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (p *panelCheck) result(err error) panelReport {
	switch {
	case err != nil:
		return panelReport{Note: "panel check failed: " + err.Error()}
	case p.absent != "":
		return panelReport{Note: p.absent}
	}
	return panelReport{Checked: true, Total: len(p.queries), Never: p.never()}
}
