// Package rules is the source of netcause's alert pack: every alerting rule,
// recording rule and Alertmanager inhibition, with the thresholds and
// selectors a deployment may change.
//
// Definitions are Go values rather than YAML so that each threshold sits
// next to the reason it was chosen, and so that other generators (the
// dashboards) import the recording rules' names and expressions instead of
// copying them. Expressions are text/template strings with << >> delimiters
// (PromQL and Prometheus' own annotation templates use braces); Build
// expands them for one Config. alerts/gen writes the files Prometheus,
// prometheus-operator and Alertmanager load.
package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/netcause/netcause/internal/catalog"
)

// Layer is where along the path a cause sits; the alert label layer.
type Layer string

// The layers the alert label layer takes, from the wire up, plus meta for
// alerts about netcause itself.
const (
	Link        Layer = "link"
	Network     Layer = "network"
	Transport   Layer = "transport"
	Netfilter   Layer = "netfilter"
	Application Layer = "application"
	Meta        Layer = "meta"
)

// Symptom and meta values of the cause label, next to catalog's causes.
const (
	// SYNUnanswered: SYNs get no answer and nothing this node sees says
	// why: a firewall or security group elsewhere, the peer host down, a
	// route or NAT on the path. The stronger alerts inhibit it.
	SYNUnanswered catalog.Cause = "syn_unanswered"
	// BlindSpot: netcause cannot see part of what it should watch.
	BlindSpot catalog.Cause = "blind_spot"
)

// Causes lists every value the cause label may take, documented causes
// first.
var Causes = []catalog.Cause{
	catalog.FirewallDrop, catalog.NoRoute, catalog.PeerDown, catalog.NATMismatch,
	catalog.Congestion, catalog.AppHang, catalog.AppCrash, catalog.ConntrackFull,
	catalog.MTU, catalog.NICOverflow, SYNUnanswered, BlindSpot,
}

// CauseHelp says what breaks, per cause, for docs/alerts.md.
var CauseHelp = map[catalog.Cause]string{
	catalog.FirewallDrop:  "a DROP/REJECT rule or a security group discards the SYNs or the data",
	catalog.NoRoute:       "a route is missing: SYNs never leave, or come back as net/host-unreachable",
	catalog.PeerDown:      "the peer host or its interface is down, or nothing listens on the port",
	catalog.NATMismatch:   "replies do not map back through the NAT, or two flows clash on one mapping",
	catalog.Congestion:    "packets lost on the path: full queues, shapers, bad links",
	catalog.AppHang:       "the handshake and the request pass; the reply does not come, or comes late",
	catalog.AppCrash:      "established connections reset: the process died (OOM, crash) or aborted them",
	catalog.ConntrackFull: "conntrack's table is full; new flows are dropped at random",
	catalog.MTU:           "small packets pass, large ones vanish; tiny MSS in the handshake",
	catalog.NICOverflow:   "drops with no rule to blame: NIC rings, CPU backlog, listen or socket queues",
	SYNUnanswered:         "symptom: SYNs unanswered and nothing on this node says why; the cause is elsewhere (a security group, a remote firewall, a host down in a silent network)",
	BlindSpot:             "meta: netcause cannot see part of what it should",
}

// Severity is the alert label severity.
type Severity string

// Critical means traffic between services is failing now; Warning means it
// is degraded, at risk, or netcause cannot see part of it.
const (
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Param is a tunable of one alert: a threshold, a duration or extra label
// matchers. Values are kept as the strings PromQL will contain.
type Param struct {
	Name    string
	Default string
	Kind    ParamKind
	Help    string
}

// ParamKind says how a parameter value is checked.
type ParamKind int

// Parameter kinds.
const (
	Number   ParamKind = iota // a float, e.g. 0.05
	Duration                  // a Prometheus duration, e.g. 1h
	Matchers                  // label matchers without braces, e.g. device!~"lo"
	Regexp                    // an RE2 regular expression, e.g. (?i).*invalid.*
)

func (k ParamKind) String() string {
	return [...]string{"number", "duration", "matchers", "regexp"}[k]
}

// Alert is one alerting rule before a Config is applied.
type Alert struct {
	Name     string
	Cause    catalog.Cause
	Layer    Layer
	Severity Severity
	// For is the default pending duration; Config.ForScale and per-alert
	// overrides change it.
	For time.Duration
	// Burst marks alerts on events (a crash's resets) that show in a
	// rate only for one window: their For must stay below the window.
	Burst bool
	// Expr, Summary and Description are << >> templates (see Ctx);
	// Summary and Description are then Prometheus templates.
	Expr        string
	Summary     string
	Description string
	Params      []Param
	// PintDisable names pint checks this rule is exempt from, each with
	// the reason, rendered as "# pint disable CHECK" comments.
	PintDisable map[string]string
}

// Recording is one recording rule. Its name carries no rate window:
// deployments change the window, dashboards keep the name.
type Recording struct {
	Name string
	Expr string
	Help string
}

// Inhibition says that while Source fires, Targets are muted for the same
// values of Equal (plus the node labels). Source is the stronger evidence
// for a cause that also explains the targets' signal.
type Inhibition struct {
	Source  string
	Targets []string
	// Equal lists labels beyond Config.NodeLabels that must match.
	Equal []string
	Why   string
}

// Ctx is what an expression or annotation template sees.
type Ctx struct {
	cfg    *Config
	params map[string]string
	// window, when set, replaces the configured rate window (see
	// RecordingExprWindow).
	window string
}

// M renders a selector for metric name with the global selector and any
// extra matchers, e.g. `<<m "netcause_network_up" `device!="lo"`>>`.
func (c Ctx) M(name string, extra ...string) string {
	var ms []string
	if s := strings.TrimSpace(c.cfg.Selector); s != "" {
		ms = append(ms, s)
	}
	for _, e := range extra {
		if e = strings.TrimSpace(e); e != "" {
			ms = append(ms, e)
		}
	}
	if len(ms) == 0 {
		return name
	}
	return name + "{" + strings.Join(ms, ", ") + "}"
}

// P returns a parameter's value; an unknown name is a programming error
// reported by Build.
func (c Ctx) P(name string) (string, error) {
	v, ok := c.params[name]
	if !ok {
		return "", fmt.Errorf("unknown parameter %q", name)
	}
	return v, nil
}

// Window is the rate window, e.g. 5m.
func (c Ctx) Window() string {
	if c.window != "" {
		return c.window
	}
	return c.cfg.RateWindow.String()
}

// Node is the comma-separated node labels, e.g. instance.
func (c Ctx) Node() string { return strings.Join(c.cfg.NodeLabels, ", ") }
