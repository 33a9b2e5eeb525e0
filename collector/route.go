package collector

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The route collector counts each namespace's routes by type and says
// whether it has a default route. It exists for the routes no counter
// sees: a packet that matches a blackhole, unreachable or prohibit route is
// counted by neither OutNoRoutes nor InNoRoutes (a local connect fails at
// once with EINVAL, EHOSTUNREACH or EACCES and counts nowhere; a forwarded
// packet only in the machine-wide route_cache statistics), so the route's
// presence is the evidence. It reads an rtnetlink route dump of every
// table from inside the namespace.

func init() {
	Register("route", true, PerNamespace, func(*slog.Logger) (Collector, error) { return routeCollector{}, nil })
}

var (
	ipRoutes = gauge("ip", "routes",
		"Routes in all routing tables of the namespace, by family and route type: unicast, local, broadcast, anycast, multicast, "+
			"blackhole, unreachable, prohibit, throw, nat or other (a fixed set). Blackhole, unreachable and prohibit routes discard "+
			"what they match without counting it in OutNoRoutes/InNoRoutes; they are always exported, 0 when absent. "+
			"Cached clones (IPv6 route exceptions) are not counted.",
		"family", "type").Reveals(catalog.NoRoute)
	ipDefaultRoute = gauge("ip", "default_route",
		"1 if some routing table of the namespace holds a unicast default route (prefix length 0) for the family, else 0. "+
			"A blackhole or unreachable default does not count.",
		"family").Reveals(catalog.NoRoute)
)

type routeCollector struct{}

func (routeCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	msgs, err := dumpRouteMessages()
	if err != nil {
		return err
	}
	s, err := parseRouteMessages(msgs)
	emitRoutes(t.Name, s, ch)
	return err
}

func emitRoutes(ns string, s routeSummary, ch chan<- prometheus.Metric) {
	for _, f := range routeFamilies {
		fs := s[f.af]
		if fs == nil {
			continue
		}
		for _, typ := range discardRouteTypes {
			if _, ok := fs.byType[typ]; !ok {
				ipRoutes.Emit(ch, 0, ns, f.name, routeTypeName(typ))
			}
		}
		// Unknown types share "other": add them up before emitting, or
		// two of them would be a duplicate series.
		byName := map[string]int{}
		for typ, n := range fs.byType {
			byName[routeTypeName(typ)] += n
		}
		for name, n := range byName {
			ipRoutes.Emit(ch, float64(n), ns, f.name, name)
		}
		def := 0.0
		if fs.defaultRoute {
			def = 1
		}
		ipDefaultRoute.Emit(ch, def, ns, f.name)
	}
}
