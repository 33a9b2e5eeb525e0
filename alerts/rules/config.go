package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Config is what a deployment (or the fault-scenario suite) changes without
// touching the shipped files: `go run ./alerts/gen -config FILE -out DIR`.
// A config file is an overlay: keys it leaves out keep their defaults.
type Config struct {
	// RunbookBaseURL prefixes every runbook_url; the alert name and .md
	// follow.
	RunbookBaseURL string `yaml:"runbook_base_url"`
	// GrafanaBaseURL prefixes every dashboard_url (/d/UID?viewPanel=…
	// follows), e.g. https://grafana.example.com. Empty leaves the link
	// relative to Grafana's root: right for Grafana's own alert views and
	// for notification templates that prepend the address.
	GrafanaBaseURL string `yaml:"grafana_base_url"`
	// Selector holds label matchers added to every exporter metric the
	// rules read, e.g. job="netcause", so the pack ignores other jobs.
	Selector string `yaml:"selector"`
	// NodeLabels identify one exporter across the pack: aggregations keep
	// them, joins match on them and inhibitions require them equal. Add
	// cluster here when one Prometheus watches several clusters.
	NodeLabels []string `yaml:"node_labels"`
	// RateWindow is the range of every rate() and increase() of the pack.
	// Shorter windows react and recover faster and are noisier; keep it at
	// least four scrape intervals.
	RateWindow model.Duration `yaml:"rate_window"`
	// ForScale multiplies every alert's default for duration (0.05 turns
	// 2m into 6s for tests). Ratios between alerts are kept, so a weaker
	// alert still waits at least as long as the one that inhibits it.
	ForScale float64 `yaml:"for_scale"`
	// InhibitionHold keeps an alert that mutes others firing after its
	// condition clears (keep_firing_for): rate_window plus this much per
	// level of muted alerts below it. A source on a gauge (an MTU) clears
	// the instant the fault is fixed, while the alerts it mutes still hold
	// the fault in their rate windows and, past their for, would be sent
	// the moment it resolves. The extra per level covers the sampler's
	// timeouts (a SYN counts as unanswered seconds after it was sent) and
	// the muted alerts' own hold. 0, the default, turns keep_firing_for
	// off: a source whose evidence is sparse (rate-limited ICMP) can clear
	// a whole window before what it mutes, which no short step covers, and
	// every resolution comes that much later (docs/alerts.md).
	InhibitionHold model.Duration `yaml:"inhibition_hold"`
	// Interval, when set, is the evaluation interval of every group.
	Interval model.Duration `yaml:"interval"`
	// PrometheusRule names the prometheus-operator object.
	PrometheusRule PrometheusRuleConfig `yaml:"prometheus_rule"`
	// Alerts holds per-alert overrides by alert name.
	Alerts map[string]AlertConfig `yaml:"alerts"`
}

// PrometheusRuleConfig is the metadata of the rendered PrometheusRule.
type PrometheusRuleConfig struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// AlertConfig overrides one alert.
type AlertConfig struct {
	Disabled bool            `yaml:"disabled"`
	For      *model.Duration `yaml:"for"`
	Severity Severity        `yaml:"severity"`
	// Params overrides the alert's parameters by name.
	Params map[string]string `yaml:"params"`
}

// DefaultRunbookBaseURL is where the runbooks live in the repository.
const DefaultRunbookBaseURL = "https://github.com/netcause/netcause/blob/main/docs/runbooks/"

// DefaultConfig is the shipped configuration.
func DefaultConfig() *Config {
	return &Config{
		RunbookBaseURL: DefaultRunbookBaseURL,
		NodeLabels:     []string{"instance"},
		RateWindow:     model.Duration(5 * time.Minute),
		ForScale:       1,
		InhibitionHold: 0,
		PrometheusRule: PrometheusRuleConfig{
			Name:   "netcause",
			Labels: map[string]string{"app.kubernetes.io/name": "netcause", "app.kubernetes.io/component": "alert-rules"},
		},
		Alerts: map[string]AlertConfig{},
	}
}

// LoadConfig reads an overlay file on top of DefaultConfig. Unknown keys are
// errors, so a misspelt threshold cannot be silently ignored.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig applies a YAML overlay to DefaultConfig.
func ParseConfig(raw []byte) (*Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if cfg.Alerts == nil {
		cfg.Alerts = map[string]AlertConfig{}
	}
	return cfg, nil
}

func (c *Config) validate() error {
	if c.RateWindow <= 0 {
		return errors.New("rate_window must be positive")
	}
	if c.InhibitionHold < 0 {
		return errors.New("inhibition_hold must not be negative")
	}
	if c.ForScale < 0 {
		return errors.New("for_scale must not be negative")
	}
	if len(c.NodeLabels) == 0 {
		return errors.New("node_labels must name at least one label (instance)")
	}
	for _, l := range c.NodeLabels {
		if !model.LabelName(l).IsValidLegacy() {
			return fmt.Errorf("node_labels: %q is not a label name", l)
		}
	}
	if c.RunbookBaseURL == "" {
		return errors.New("runbook_base_url must not be empty")
	}
	if g := c.GrafanaBaseURL; g != "" {
		u, err := url.Parse(g)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("grafana_base_url %q: want http(s)://host[/path] without query or fragment, or empty", g)
		}
	}
	return nil
}
