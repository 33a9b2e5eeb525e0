package scenarios

import (
	"fmt"
	"sort"
	"time"
)

// ruleInfo is what the verdict needs of one alert of the generated pack.
type ruleInfo struct {
	For   time.Duration
	Cause string
	Expr  string
}

// alertKey names an alert on one node of a scenario.
type alertKey struct{ Alert, Node string }

func (k alertKey) String() string { return k.Alert + "@" + k.Node }

func keyOf(e event) alertKey { return alertKey{e.alert(), e.node()} }

func key(alert, node string) alertKey { return alertKey{alert, node} }

func fire(alert, node, cause string) expectAlert {
	return expectAlert{alertKey{alert, node}, cause}
}

// expectAlert is an alert a step must get delivered, with the cause it
// must name.
type expectAlert struct {
	alertKey
	Cause string
}

// coSymptom is an alert of another cause a scenario may deliver, and why.
// Node "" matches every node. Defect, when set, names the finding (see
// findings) that makes the pack deliver it: the alert is tolerated but
// wrong, and strict runs count it as a failure.
type coSymptom struct {
	Alert, Node, Why string
	Defect           string
}

func (c coSymptom) matches(k alertKey) bool {
	return c.Alert == k.Alert && (c.Node == "" || c.Node == k.Node)
}

// stepSpec is one action of a scenario (an injection, a partial fix, the
// undo) and what must follow it.
type stepSpec struct {
	Name     string
	Fire     []expectAlert // delivered within the deadline of the step's start
	Clear    []alertKey    // resolved before the step ends
	Keep     []alertKey    // still firing when the step ends
	ClearAll bool          // nothing of the scenario active when it ends
}

// stepResult is what the runner saw during one step.
type stepResult struct {
	Spec      stepSpec
	Start     time.Time // the action (injection) started
	End       time.Time
	ActionErr string
	// From Prometheus, polled by the runner.
	ClearedAt   map[alertKey]time.Time // no alert of the key active any more
	KeptLost    map[alertKey]time.Time // a Keep key that stopped being active
	StillActive []string               // at the end of a ClearAll step
}

// scenarioResult is one scenario's run, everything the verdict and the
// report need.
type scenarioResult struct {
	ID, Num, Title, Cause string
	Fault, Undo           string
	Co                    []coSymptom
	Steps                 []stepResult
	Events                []event                // webhook, this scenario's instances
	PromFiring            map[alertKey]time.Time // first seen firing in Prometheus
	PromLast              map[alertKey]time.Time // last seen firing in Prometheus
	SetupErr              string
	Start, End            time.Time
	Load                  string
}

// firedResult is one expected alert's delivery.
type firedResult struct {
	expectAlert
	Step     string
	Got      bool
	Latency  time.Duration
	Deadline time.Duration
	GotCause string
}

// coResult is a co-symptom that was delivered.
type coResult struct {
	coSymptom
	Key        alertKey
	Cause      string
	Latency    time.Duration // after the first step's start
	AfterUndo  bool          // first delivered after the last step began
	DuringStep string
}

// verdict is the judgement of one scenario.
type verdict struct {
	Fired      []firedResult
	Co         []coResult
	Unexpected []coResult // Why empty
	Muted      []alertKey // fired in Prometheus, never delivered
	Resolved   map[string]time.Duration
	Problems   []string
}

func (v *verdict) ok() bool { return len(v.Problems) == 0 }

func (v *verdict) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}

// deadline is the acceptance bound: twice the alert's for plus one scrape
// interval.
func deadline(r ruleInfo, scrape time.Duration) time.Duration { return 2 * (r.For + scrape) }

// sameCause is the reason of an unlisted alert that names the scenario's
// own cause.
const sameCause = "names the scenario's own cause"

// judge decides a scenario from what was recorded. strict counts
// co-symptoms that come from a known defect as failures.
func judge(r *scenarioResult, rules map[string]ruleInfo, scrape time.Duration, strict bool) verdict {
	v := verdict{Resolved: map[string]time.Duration{}}
	if r.SetupErr != "" {
		v.problem("setup: %s", r.SetupErr)
	}
	if len(r.Steps) == 0 {
		v.problem("no step ran")
		return v
	}
	first := r.Steps[0].Start
	expected := map[alertKey]bool{}
	causes := map[string]bool{}
	for _, st := range r.Steps {
		for _, f := range st.Spec.Fire {
			causes[f.Cause] = true
		}
	}
	for _, st := range r.Steps {
		if st.ActionErr != "" {
			v.problem("step %q: %s", st.Spec.Name, st.ActionErr)
		}
		for _, f := range st.Spec.Fire {
			expected[f.alertKey] = true
			fr := firedResult{expectAlert: f, Step: st.Spec.Name}
			rule, ok := rules[f.Alert]
			if !ok {
				v.problem("%s: no such alert in the generated rule file", f.Alert)
			} else {
				fr.Deadline = deadline(rule, scrape)
				if rule.Cause != f.Cause {
					v.problem("%s: the rule's cause is %q, the scenario expects %q", f.Alert, rule.Cause, f.Cause)
				}
			}
			for _, e := range r.Events {
				if e.Status == "firing" && keyOf(e) == f.alertKey && !e.At.Before(st.Start) {
					fr.Got, fr.Latency, fr.GotCause = true, e.At.Sub(st.Start), e.Labels["cause"]
					break
				}
			}
			switch {
			case !fr.Got:
				v.problem("%s (%s) never reached the webhook after %q", f.alertKey, f.Cause, st.Spec.Name)
			case fr.Latency > fr.Deadline && fr.Deadline > 0:
				v.problem("%s reached the webhook %.1fs after %q, later than 2×(for+scrape) = %.0fs", f.alertKey, fr.Latency.Seconds(), st.Spec.Name, fr.Deadline.Seconds())
			}
			if fr.Got && fr.GotCause != f.Cause {
				v.problem("%s was delivered with cause %q, want %q", f.alertKey, fr.GotCause, f.Cause)
			}
			v.Fired = append(v.Fired, fr)
		}
	}

	// Every delivered alert is expected, a listed co-symptom, or a fault.
	seen := map[alertKey]bool{}
	for _, e := range r.Events {
		k := keyOf(e)
		if e.Status != "firing" || seen[k] {
			continue
		}
		seen[k] = true
		if e.At.Before(first) {
			v.problem("%s fired before the fault was injected (healthy warmup must be silent)", k)
		}
		if expected[k] {
			continue
		}
		cr := coResult{Key: k, Cause: e.Labels["cause"], Latency: e.At.Sub(first)}
		for _, st := range r.Steps {
			if !e.At.Before(st.Start) {
				cr.DuringStep = st.Spec.Name
			}
		}
		cr.AfterUndo = len(r.Steps) > 1 && !e.At.Before(r.Steps[len(r.Steps)-1].Start)
		if causes[cr.Cause] {
			cr.Why = sameCause
			v.Co = append(v.Co, cr)
			continue
		}
		matched := false
		for _, c := range r.Co {
			if c.matches(k) {
				cr.coSymptom, matched = c, true
				break
			}
		}
		if matched {
			v.Co = append(v.Co, cr)
			if strict && cr.Defect != "" {
				v.problem("%s (cause %s) delivered because of defect %s (strict run)", k, cr.Cause, cr.Defect)
			}
			continue
		}
		v.Unexpected = append(v.Unexpected, cr)
		v.problem("unexpected alert %s (cause %s) %.1fs after the injection", k, cr.Cause, cr.Latency.Seconds())
	}
	for k := range r.PromFiring {
		if !seen[k] {
			v.Muted = append(v.Muted, k)
		}
	}
	sort.Slice(v.Muted, func(i, j int) bool { return v.Muted[i].String() < v.Muted[j].String() })

	for _, st := range r.Steps {
		for _, k := range st.Spec.Clear {
			at, ok := st.ClearedAt[k]
			if !ok {
				v.problem("%s still active at the end of %q", k, st.Spec.Name)
				continue
			}
			v.Resolved[k.String()] = at.Sub(st.Start)
			if last := lastStatus(r.Events, k, st.End); last == "firing" {
				v.problem("%s: Alertmanager never sent its resolution during %q", k, st.Spec.Name)
			}
		}
		for _, k := range st.Spec.Keep {
			if at, lost := st.KeptLost[k]; lost {
				v.problem("%s resolved %.1fs into %q although its cause remained", k, at.Sub(st.Start).Seconds(), st.Spec.Name)
			}
			for _, e := range r.Events {
				if keyOf(e) == k && e.Status == "resolved" && e.At.After(st.Start) && e.At.Before(st.End) {
					v.problem("%s: Alertmanager sent a resolution during %q although its cause remained", k, st.Spec.Name)
					break
				}
			}
		}
		if st.Spec.ClearAll {
			for _, a := range st.StillActive {
				v.problem("%s still active at the end of %q", a, st.Spec.Name)
			}
			for k := range seen {
				if lastStatus(r.Events, k, st.End) == "firing" {
					v.problem("%s: Alertmanager never sent its resolution after %q", k, st.Spec.Name)
				}
			}
		}
	}
	return v
}

// lastStatus is the status of the last notification of key up to until:
// "firing" if any fingerprint of it was last seen firing, else "resolved"
// or "" when none was sent.
func lastStatus(evs []event, k alertKey, until time.Time) string {
	last := map[string]string{}
	for _, e := range evs {
		if keyOf(e) == k && !e.At.After(until) {
			last[e.Fingerprint] = e.Status
		}
	}
	out := ""
	for _, s := range last {
		if s == "firing" {
			return "firing"
		}
		out = s
	}
	return out
}
