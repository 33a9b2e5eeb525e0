package exporter

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// DefaultListenAddress is netcause's port. The Prometheus wiki's default
// port list has no free number left in 9100-9999 and new exporters take
// numbers above 10000; 10717 was not on that list nor used by Kubernetes
// components (10248-10259) when we chose it.
const DefaultListenAddress = ":10717"

// NewRegistry returns a registry with the exporter, build info, and the Go
// and process collectors.
func NewRegistry(e *Exporter) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		e,
		versioncollector.NewCollector("netcause"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves /metrics and the landing page. A metric that fails to
// build is logged and left out; the rest of the scrape is still served.
func Handler(reg prometheus.Gatherer, metricsPath string, maxRequests int, logger *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.Handle(metricsPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxRequests,
	}))
	if metricsPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "netcause exporter",
			Description: "Why packets between two services go missing or arrive late",
			Version:     version.Info(),
			Links:       []web.LandingLinks{{Address: metricsPath, Text: "Metrics"}},
		})
		if err != nil {
			return nil, err
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}
