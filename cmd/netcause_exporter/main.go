// Command netcause_exporter serves netcause's kernel network counters to
// Prometheus.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
)

func main() {
	var (
		metricsPath = kingpin.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
		maxRequests = kingpin.Flag("web.max-requests", "Maximum number of parallel scrape requests; 0 disables the limit.").Default("10").Int()
		selfName    = kingpin.Flag("netns.self-name", "netns label of the exporter's own network namespace.").Default("host").String()
		named       = kingpin.Flag("netns.named", "Also read every named network namespace in /run/netns (ip netns add).").Default("false").Bool()
		processes   = kingpin.Flag("netns.processes", "Also read the network namespace of every running process (containers), deduplicated.").Default("false").Bool()
		maxNetns    = kingpin.Flag("netns.max", "Most network namespaces read per scrape, the exporter's own included; the rest are counted in netcause_netns_skipped.").Default("64").Int()
		toolkit     = kingpinflag.AddFlags(kingpin.CommandLine, exporter.DefaultListenAddress)
		samplerOpts = exporter.AddSamplerFlags(kingpin.CommandLine)
	)
	logConfig := &promslog.Config{}
	flag.AddFlags(kingpin.CommandLine, logConfig)
	kingpin.Version(version.Print("netcause_exporter"))
	kingpin.HelpFlag.Short('h')
	kingpin.Parse()

	logger := promslog.New(logConfig)
	logger.Info("starting netcause_exporter", "version", version.Info())

	collectors, err := collector.Build(logger)
	if err != nil {
		logger.Error("cannot build collectors", "err", err)
		os.Exit(1)
	}
	for _, c := range collectors {
		logger.Info("collector enabled", "collector", c.Name)
	}
	targets := netns.Options{SelfName: *selfName, Named: *named, Processes: *processes, Max: *maxNetns}
	e := exporter.New(collectors, targets, logger)
	reg := exporter.NewRegistry(e)
	if *samplerOpts.Enabled {
		cfg, err := samplerOpts.LiveConfig()
		if err != nil {
			logger.Error("invalid sampler flags", "err", err)
			os.Exit(1)
		}
		reg.MustRegister(exporter.NewSampler(cfg, targets, logger))
	}
	handler, err := exporter.Handler(reg, *metricsPath, *maxRequests, logger)
	if err != nil {
		logger.Error("cannot build HTTP handler", "err", err)
		os.Exit(1)
	}
	server := &http.Server{Handler: handler}
	if err := web.ListenAndServe(server, toolkit, logger); err != nil {
		logger.Error("server stopped", "err", err)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
