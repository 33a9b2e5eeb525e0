//go:build scenarios

package scenarios

import (
	"path/filepath"
	"testing"
)

// TestCatalog checks the scenarios against the shipped rule file without
// running them: ids unique, every expected alert exists with the cause the
// scenario expects, every co-symptom names a shipped alert and a known
// finding.
func TestCatalog(t *testing.T) {
	repo, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := loadRulePack(filepath.Join(repo, "alerts", "netcause.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, sc := range allScenarios() {
		if ids[sc.id] {
			t.Errorf("scenario id %q twice", sc.id)
		}
		ids[sc.id] = true
		if len(sc.steps) == 0 {
			t.Errorf("%s: no step", sc.id)
		}
		for _, st := range sc.steps {
			for _, f := range st.Fire {
				r, ok := rules[f.Alert]
				switch {
				case !ok:
					t.Errorf("%s: expects %s, which the pack does not ship", sc.id, f.Alert)
				case r.Cause != f.Cause:
					t.Errorf("%s: expects %s with cause %s; the pack says %s", sc.id, f.Alert, f.Cause, r.Cause)
				}
			}
		}
		if len(sc.steps) > 1 && !sc.steps[len(sc.steps)-1].ClearAll {
			t.Errorf("%s: the last step must be the undo (ClearAll)", sc.id)
		}
		for _, c := range sc.co {
			if _, ok := rules[c.Alert]; !ok {
				t.Errorf("%s: co-symptom %s is not a shipped alert", sc.id, c.Alert)
			}
			if c.Defect != "" {
				if _, ok := findingByID(c.Defect); !ok {
					t.Errorf("%s: co-symptom %s names unknown finding %s", sc.id, c.Alert, c.Defect)
				}
			}
			if c.Why == "" {
				t.Errorf("%s: co-symptom %s has no reason", sc.id, c.Alert)
			}
		}
	}
}
