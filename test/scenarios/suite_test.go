//go:build scenarios

package scenarios

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Knobs for development runs; `make test-scenarios` uses the defaults.
const (
	envSelect   = "NETCAUSE_SCENARIOS"         // regexp on scenario ids; default all
	envParallel = "NETCAUSE_SCENARIO_PARALLEL" // scenarios at once; default 3
	envKeep     = "NETCAUSE_SCENARIO_KEEP"     // keep the run directory (logs, TSDB)
	envStrict   = "NETCAUSE_SCENARIOS_STRICT"  // fail on co-symptoms of known defects too
	envRev      = "NETCAUSE_SCENARIOS_REV"     // test this git revision instead of the working tree
)

func TestScenarios(t *testing.T) {
	suiteStart := time.Now()
	if err := requireTools(); err != nil {
		t.Fatal(err)
	}
	handleSignals()
	if err := startGuardian(); err != nil {
		t.Fatalf("guardian: %v", err)
	}
	for _, d := range sweep() {
		t.Logf("sweep of an earlier run: %s", d)
	}
	t.Cleanup(undos.runAll)

	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "netcause-scenarios-")
	if err != nil {
		t.Fatal(err)
	}
	removeDir, keepDir, err := markRunDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv(envKeep) != "" {
			keepDir()
			t.Logf("run directory kept: %s", dir)
			return
		}
		removeDir()
	})
	s := &stack{dir: dir, repo: repo, src: repo}
	if rev := os.Getenv(envRev); rev != "" {
		if err := s.snapshot(rev); err != nil {
			t.Fatal(err)
		}
		t.Logf("testing %s (%s), not the working tree", rev, s.src)
	}
	if err := s.build(); err != nil {
		t.Fatal(err)
	}
	t.Logf("built exporter and rules in %.0fs", time.Since(suiteStart).Seconds())
	if err := s.start(); err != nil {
		t.Fatal(err)
	}

	list := allScenarios()
	all := true
	if pat := os.Getenv(envSelect); pat != "" {
		re, err := regexp.Compile(pat)
		if err != nil {
			t.Fatalf("%s: %v", envSelect, err)
		}
		var sel []*scenario
		for _, sc := range list {
			if re.MatchString(sc.id) {
				sel = append(sel, sc)
			}
		}
		list, all = sel, false
	}
	parallel := 3
	if v := os.Getenv(envParallel); v != "" {
		if parallel, err = strconv.Atoi(v); err != nil || parallel < 1 {
			t.Fatalf("%s=%q: want a positive count", envParallel, v)
		}
	}
	panels, panelErr := newPanelCheck(s)

	results := runAll(s, list, parallel, panels, t.Logf)
	elapsed := time.Since(suiteStart)

	strict := os.Getenv(envStrict) != ""
	source := describeSource(repo, os.Getenv(envRev))
	rep := report{Results: results, Rules: s.rules, Scrape: scrapeInterval, Eval: evalInterval,
		Duration: elapsed, Started: suiteStart, Parallel: parallel, Panels: panels.result(panelErr), Complete: all, Strict: strict, Source: source}
	for _, r := range results {
		rep.Verdicts = append(rep.Verdicts, judge(r, s.rules, scrapeInterval, strict))
	}
	rep.Stray, rep.Machine = strayEvents(s.hook.events(""), results)
	md := rep.markdown()
	out := filepath.Join(dir, "scenarios.md")
	if all {
		out = filepath.Join(repo, "docs", "scenarios.md")
	}
	if err := os.WriteFile(out, md, 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("report: %s; suite took %s", out, elapsed.Round(time.Second))

	for i, r := range results {
		v := rep.Verdicts[i]
		t.Run(r.ID, func(t *testing.T) {
			for _, f := range v.Fired {
				if f.Got {
					t.Logf("%s (%s) after %.1fs (deadline %.0fs)", f.alertKey, f.Cause, f.Latency.Seconds(), f.Deadline.Seconds())
				}
			}
			for _, c := range v.Co {
				tag := ""
				if c.Defect != "" {
					tag = " [defect " + c.Defect + "]"
				}
				t.Logf("co-symptom %s (%s)%s: %s", c.Key, c.Cause, tag, c.Why)
			}
			for _, p := range v.Problems {
				t.Error(p)
			}
		})
	}
	for _, e := range rep.Stray {
		t.Errorf("alert outside any scenario's window: %s %s at %s", e.Status, e.Labels, e.At.Format(time.RFC3339))
	}
	for _, err := range s.hook.errors() {
		t.Errorf("webhook: %v", err)
	}
	if panelErr != nil {
		t.Errorf("panel check: %v", panelErr)
	} else if missing := panels.never(); len(missing) > 0 && all {
		for _, p := range missing {
			t.Errorf("dashboard panel never returned data in any scenario: %s", p)
		}
	}
}

// runAll runs the exclusive scenarios one by one, then the others
// parallel at a time.
func runAll(s *stack, list []*scenario, parallel int, panels *panelCheck, logf func(string, ...any)) []*scenarioResult {
	ctx := context.Background()
	results := make([]*scenarioResult, len(list))
	for i, sc := range list {
		if sc.exclusive {
			logf("%s: start (alone: it changes machine-wide state)", sc.id)
			results[i] = runScenario(ctx, s, sc, logf, panels)
		}
	}
	// Longest first, so the last to start are short: the suite ends soon
	// after its longest scenario.
	order := make([]int, 0, len(list))
	for i, sc := range list {
		if !sc.exclusive {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return estimate(s, list[order[a]]) > estimate(s, list[order[b]]) })
	queue := make(chan int, len(order))
	for _, i := range order {
		queue <- i
	}
	close(queue)
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range queue {
				logf("%s: start", list[i].id)
				results[i] = runScenario(ctx, s, list[i], logf, panels)
			}
		}()
	}
	wg.Wait()
	return results
}

// estimate is a rough length of a scenario: its warmup, each step's
// longest deadline, and the time alerts take to resolve.
func estimate(s *stack, sc *scenario) time.Duration {
	d := max(sc.warmup, warmupMin)
	for _, st := range sc.steps {
		longest := st.hold
		for _, f := range st.Fire {
			longest = max(longest, s.rules[f.Alert].For*2)
		}
		if st.ClearAll || len(st.Clear) > 0 {
			longest = max(longest, 40*time.Second)
		}
		d += longest
	}
	return d
}

// strayEvents are notifications of no scenario, or of a scenario after it
// ended: they would go unjudged otherwise. The machine exporter's are
// returned apart: they are reported, not judged.
func strayEvents(evs []event, results []*scenarioResult) (stray, machine []event) {
	end := map[string]time.Time{}
	for _, r := range results {
		end[r.ID] = r.End
	}
	for _, e := range evs {
		if e.Labels["instance"] == machineInstance {
			machine = append(machine, e)
			continue
		}
		t, ok := end[e.scenario()]
		if !ok || (e.Status == "firing" && e.At.After(t)) {
			stray = append(stray, e)
		}
	}
	return stray, machine
}

// describeSource names what was tested, for the report.
func describeSource(repo, rev string) string {
	if rev == "" {
		rev = "HEAD"
		// The report a previous run rewrote is not a change to what is tested.
		if out, _ := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/scenarios.md").Output(); len(out) > 0 {
			head, _ := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
			return "the working tree at " + strings.TrimSpace(string(head)) + " with uncommitted changes"
		}
	}
	head, _ := exec.Command("git", "-C", repo, "rev-parse", "--short", rev).Output()
	return "revision " + strings.TrimSpace(string(head))
}
