// Package collector reads the kernel's network counters, one collector per
// file, each for one network namespace at a time.
//
// A collector is registered by name with a factory; the exporter builds the
// enabled ones, enters every target namespace and calls Update inside it.
// Readers open netlink sockets and netns.ProcNet files from the calling
// thread, which the exporter has moved into the target namespace. Parsing is
// kept in pure functions so fixtures can test it without a kernel.
package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// Collector sends the metrics of one network namespace.
type Collector interface {
	// Update runs with the calling thread inside t. Every metric it sends
	// carries t.Name as its first label, netns.
	Update(t netns.Target, ch chan<- prometheus.Metric) error
}

// Scope says which namespaces a collector reads.
type Scope int

const (
	// PerNamespace collectors read every target namespace.
	PerNamespace Scope = iota
	// HostOnly collectors read state the kernel keeps once per machine
	// (softnet, per-CPU); reading it in every namespace would repeat it.
	HostOnly
)

// Factory builds a collector from its parsed flags.
type Factory func(logger *slog.Logger) (Collector, error)

type registration struct {
	scope   Scope
	factory Factory
	enabled *bool
}

var registry = map[string]*registration{}

// Register adds a collector and its --collector.NAME flag. Collectors call
// it from init, so the flag exists before kingpin parses the command line.
func Register(name string, enabledByDefault bool, scope Scope, f Factory) {
	if _, dup := registry[name]; dup {
		panic("collector registered twice: " + name)
	}
	def := "false"
	if enabledByDefault {
		def = "true"
	}
	help := fmt.Sprintf("Enable the %s collector (default: %s).", name, map[bool]string{true: "enabled", false: "disabled"}[enabledByDefault])
	registry[name] = &registration{
		scope:   scope,
		factory: f,
		enabled: kingpin.Flag("collector."+name, help).Default(def).Bool(),
	}
}

// Names returns every registered collector name, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Enabled is a built collector with its name and scope.
type Enabled struct {
	Name      string
	Scope     Scope
	Collector Collector
}

// Build constructs the collectors enabled by flags. only, when non-empty,
// overrides the flags (tests and benchmarks pick collectors by name).
func Build(logger *slog.Logger, only ...string) ([]Enabled, error) {
	want := map[string]bool{}
	for _, n := range only {
		if _, ok := registry[n]; !ok {
			return nil, fmt.Errorf("unknown collector %q", n)
		}
		want[n] = true
	}
	var out []Enabled
	for _, name := range Names() {
		r := registry[name]
		if len(only) > 0 && !want[name] || len(only) == 0 && !*r.enabled {
			continue
		}
		c, err := r.factory(logger.With("collector", name))
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", name, err)
		}
		out = append(out, Enabled{Name: name, Scope: r.scope, Collector: c})
	}
	return out, nil
}

// Reasons a collector cannot see what it reads; the values of the reason
// label of netcause_collector_unavailable. The set is fixed so the label
// stays bounded.
const (
	ReasonNotFound         = "not_found"         // file, module or table absent
	ReasonNotSupported     = "not_supported"     // kernel or driver lacks the feature
	ReasonPermissionDenied = "permission_denied" // missing capability
	ReasonError            = "error"             // anything else
)

// Reason classifies a collector error into one of the Reason constants.
func Reason(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT),
		errors.Is(err, syscall.EPROTONOSUPPORT), errors.Is(err, syscall.EAFNOSUPPORT):
		// A netlink family that is not registered (module not loaded)
		// answers with ENOENT or EPROTONOSUPPORT.
		return ReasonNotFound
	case errors.Is(err, syscall.EOPNOTSUPP), errors.Is(err, syscall.ENOTSUP),
		errors.Is(err, syscall.ENODEV), errors.Is(err, syscall.EINVAL):
		return ReasonNotSupported
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return ReasonPermissionDenied
	default:
		return ReasonError
	}
}

// metric declares a collector metric; netns is always its first label.
func metric(subsystem, name string, typ prometheus.ValueType, help string, labels ...string) *catalog.Def {
	return catalog.New(subsystem, name, typ, help, append([]string{"netns"}, labels...)...)
}

func counter(subsystem, name, help string, labels ...string) *catalog.Def {
	return metric(subsystem, name, prometheus.CounterValue, help, labels...)
}

func gauge(subsystem, name, help string, labels ...string) *catalog.Def {
	return metric(subsystem, name, prometheus.GaugeValue, help, labels...)
}
