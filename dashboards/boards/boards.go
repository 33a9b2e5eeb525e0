// Package boards defines netcause's Grafana dashboards: which panels each
// has, what they query and where they link. dashboards/gen writes them to
// dashboards/*.json. Query expressions that the alert pack also records are
// taken from alerts/rules, never retyped, and alert thresholds drawn on
// panels are the alert parameters' defaults.
package boards

import (
	"fmt"
	"slices"
	"strings"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

// Dashboard UIDs: stable, so links and bookmarks survive regeneration.
const (
	UIDOverview   = "netcause-overview"
	UIDInterfaces = "netcause-interfaces"
	UIDNetfilter  = "netcause-netfilter"
	UIDTCP        = "netcause-tcp"
	UIDHealth     = "netcause-health"
)

// Tag marks every netcause dashboard; the dashboard links list by it.
const Tag = "netcause"

// LayerBoard is the dashboard that shows each alert layer's evidence; the
// overview's alert table links an alert there.
var LayerBoard = map[rules.Layer]string{
	rules.Link:        UIDInterfaces,
	rules.Network:     UIDTCP,
	rules.Transport:   UIDTCP,
	rules.Application: UIDTCP,
	rules.Netfilter:   UIDNetfilter,
	rules.Meta:        UIDHealth,
}

// Needs says, for the panels that return data only while something
// particular is true, what that is, by dashboard uid and panel title. The
// other panels return data wherever the exporter runs. The fault-scenario
// suite reads it (through dashboards.Query.Needs) to say why a panel stayed
// empty and which scenario should fill it.
var Needs = map[string]map[string]string{
	UIDOverview: {
		"Firing netcause alerts":        "a netcause alert firing",
		"Firing alerts and their cause": "a netcause alert firing",
		"Blind spots":                   "a collector failing in a namespace (netcause_collector_unavailable)",
		"Exporters down":                "an exporter Prometheus cannot scrape",
		"Application: unanswered requests and resets (sampler)": "the sampler enabled (--sampler.enabled) and TCP traffic",
	},
	UIDNetfilter: {
		"Discarding rules ranked by drop rate": "a DROP/REJECT rule or DROP policy in a watched namespace",
		"Top discarding rules":                 "a DROP/REJECT rule or DROP policy in a watched namespace",
		"Top discarding rules by bytes":        "a DROP/REJECT rule or DROP policy in a watched namespace",
		"Discarding rules that count nothing":  "an nftables DROP/REJECT rule without a counter, or a base chain without counters",
	},
	UIDInterfaces: {
		"NIC receive overflows (driver statistics)":     "a NIC whose driver reports receive overflow statistics (not veth)",
		"Driver drop and error statistics (ethtool -S)": "a NIC whose driver reports drop, miss or error statistics",
		"Ring sizes: current against the maximum":       "a NIC that reports ring parameters (ethtool -g)",
		"Ring size": "a NIC that reports ring parameters (ethtool -g)",
	},
	UIDTCP: {
		"Routes that discard":                "a blackhole, unreachable or prohibit route in a watched namespace",
		"Namespaces without a default route": "a watched namespace without a default route",
		"Peers now":                          "the sampler enabled and TCP traffic", "Handshake latency (as client: SYN → SYN-ACK)": "the sampler enabled and TCP traffic",
		"Response latency (request → first reply byte)": "the sampler enabled and TCP traffic with requests and replies",
		"Handshake latency percentiles":                 "the sampler enabled and TCP traffic",
		"Response latency percentiles":                  "the sampler enabled and TCP traffic with requests and replies",
		"Unanswered SYNs":                               "the sampler enabled and TCP traffic",
		"Refused (SYN answered by RST)":                 "the sampler enabled and TCP traffic",
		"Resets of established connections":             "the sampler enabled and TCP traffic",
		"Unanswered requests":                           "the sampler enabled and TCP traffic",
		"ICMP errors about the peer":                    "the sampler enabled and TCP traffic",
		"Retransmits and zero windows":                  "the sampler enabled and TCP traffic",
		"Smallest MSS advertised":                       "the sampler enabled and TCP handshakes within the last minutes",
		"Small-MSS handshakes":                          "the sampler enabled and TCP traffic",
		"Connections and packets":                       "the sampler enabled and TCP traffic",
	},
	UIDHealth: {
		"Blind spots now":             "a collector failing in a namespace (netcause_collector_unavailable)",
		"Capture losses":              "the sampler enabled (--sampler.enabled)",
		"Packets":                     "the sampler enabled (--sampler.enabled)",
		"Tracked connections":         "the sampler enabled (--sampler.enabled)",
		"Peers with their own series": "the sampler enabled (--sampler.enabled)",
		"Sample ratio":                "the sampler enabled (--sampler.enabled)",
	},
}

// Board is one generated dashboard and the file it is written to.
type Board struct {
	File      string // e.g. overview.json
	Dashboard *model.Dashboard
}

// All builds every dashboard. A definition error (an unknown recording
// rule, alert or parameter) is returned rather than written.
func All() (boards []Board, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(defError)
			if !ok {
				panic(r)
			}
			boards, err = nil, e
		}
	}()
	return []Board{
		{"overview.json", overview()},
		{"interfaces.json", interfaces()},
		{"netfilter.json", netfilter()},
		{"tcp.json", tcp()},
		{"health.json", health()},
	}, nil
}

// defError is a mistake in a definition; All turns it into its error.
type defError struct{ error }

func fail(format string, args ...any) {
	panic(defError{fmt.Errorf(format, args...)})
}

// builder lays panels out left to right on Grafana's 24-column grid,
// starting a new line when a panel does not fit.
type builder struct {
	d      *model.Dashboard
	x, y   int
	lineH  int
	nextID int
}

func newBoard(uid, title, description string, vars ...model.Variable) *builder {
	d := &model.Dashboard{
		UID:           uid,
		Title:         title,
		Description:   description,
		Tags:          []string{Tag},
		Editable:      true,
		GraphTooltip:  model.CursorSyncCrosshair,
		Time:          model.TimeRange{From: "now-1h", To: "now"},
		Refresh:       "30s",
		SchemaVersion: model.SchemaVersion,
		Version:       1,
		Links:         boardLinks(),
		Annotations:   model.Annotations{List: []model.Annotation{model.BuiltInAnnotation()}},
		Templating:    model.Templating{List: vars},
		Panels:        []model.Element{},
	}
	return &builder{d: d, nextID: 1}
}

// row starts a new row of panels.
func (b *builder) row(title string) {
	b.newline()
	b.d.Panels = append(b.d.Panels, &model.Row{
		Type: model.TypeRow, ID: b.id(), Title: title,
		GridPos: model.GridPos{H: 1, W: 24, X: 0, Y: b.y}, Panels: []*model.Panel{},
	})
	b.y++
}

// add places p, w columns wide and h rows high.
func (b *builder) add(w, h int, p *model.Panel) {
	if b.x+w > 24 {
		b.newline()
	}
	p.ID = b.id()
	p.GridPos = model.GridPos{H: h, W: w, X: b.x, Y: b.y}
	b.x += w
	b.lineH = max(b.lineH, h)
	b.d.Panels = append(b.d.Panels, p)
}

// stack places panels one above the other in one column, each h high.
func (b *builder) stack(w, h int, ps ...*model.Panel) {
	if b.x+w > 24 {
		b.newline()
	}
	for i, p := range ps {
		p.ID = b.id()
		p.GridPos = model.GridPos{H: h, W: w, X: b.x, Y: b.y + i*h}
		b.d.Panels = append(b.d.Panels, p)
	}
	b.x += w
	b.lineH = max(b.lineH, h*len(ps))
}

func (b *builder) newline() {
	b.y += b.lineH
	b.x, b.lineH = 0, 0
}

func (b *builder) id() int {
	b.nextID++
	return b.nextID - 1
}

// boardLinks are the links at the top of every dashboard: the other netcause
// dashboards (keeping time range and variables) and the runbooks.
func boardLinks() []model.Link {
	return []model.Link{
		{Title: "netcause", Type: model.LinkDashboards, Tags: []string{Tag}, AsDropdown: true,
			Icon: "external link", IncludeVars: true, KeepTime: true,
			Tooltip: "The other netcause dashboards, with the same time range and variables"},
		{Title: "Runbooks", Type: model.LinkURL, URL: strings.TrimSuffix(rules.DefaultRunbookBaseURL, "/") + "/README.md",
			Tags: []string{}, Icon: "doc", TargetBlank: true,
			Tooltip: "What each netcause alert means, how to confirm it and how to fix it"},
	}
}

// datasourceRef is what every panel and query points at: the datasource
// variable, so no installation's UID is baked in.
var datasourceRef = &model.DataSourceRef{Type: "prometheus", UID: "${datasource}"}

// Template variables.

func datasourceVar() model.Variable {
	return model.Variable{Name: "datasource", Label: "Data source", Type: "datasource",
		Query: "prometheus", Refresh: model.RefreshOnLoad,
		Description: "The Prometheus that scrapes netcause_exporter."}
}

// queryVar is a multi-value variable whose All is the regexp .*: a
// selection of hundreds of namespaces would otherwise become a
// regexp listing each.
func queryVar(name, label, description, query string) model.Variable {
	return model.Variable{Name: name, Label: label, Description: description, Type: "query",
		Datasource: datasourceRef, Query: query, Refresh: model.RefreshOnTimeRange,
		Sort: model.SortAlphaAsc, Multi: true, IncludeAll: true, AllValue: ".*"}
}

func instanceVar() model.Variable {
	return queryVar("instance", "Node", "The exporter (one per node), by its Prometheus instance label.",
		`label_values(netcause_scrape_collector_success, instance)`)
}

func netnsVar() model.Variable {
	return queryVar("netns", "Namespace", `Network namespace as netcause names it: "host", a named namespace or a container's.`,
		`label_values(netcause_network_up{instance=~"$instance"}, netns)`)
}

func interfaceVar() model.Variable {
	return queryVar("interface", "Interface", "Network interface (the device label).",
		`label_values(netcause_network_up{instance=~"$instance", netns=~"$netns"}, device)`)
}

func peerVar() model.Variable {
	return queryVar("peer", "Peer", `Remote address the sampler keeps series for ("other" sums the rest).`,
		`label_values(netcause_peer_connections_total{instance=~"$instance", netns=~"$netns"}, peer)`)
}

// drillURL opens another netcause dashboard with this one's time range and
// variables.
func drillURL(uid string) string {
	return "/d/" + uid + "?${__url_time_range}&${__all_variables}"
}

// PanelRef is one panel of a generated dashboard.
type PanelRef struct {
	UID     string // the dashboard's
	File    string
	PanelID int
	Title   string
	// Main marks the panel an alert's dashboard_url opens (see
	// EvidencePanels).
	Main bool
}

// AlertPanels lists, per alert name, the detail panels that show the
// alert's evidence and link to its runbook (the overview's layer graphs,
// which link every alert of their layer, left out): what an alert's
// annotation or runbook would link to, e.g.
// <grafana>/d/UID?var-instance=…&viewPanel=PanelID.
func AlertPanels() (map[string][]PanelRef, error) {
	bs, err := All()
	if err != nil {
		return nil, err
	}
	out := map[string][]PanelRef{}
	for _, b := range bs {
		for _, e := range b.Dashboard.Panels {
			p, ok := e.(*model.Panel)
			if !ok || (b.Dashboard.UID == UIDOverview && p.Type != model.TypeStat) {
				continue
			}
			for _, l := range p.Links {
				if name, ok := strings.CutPrefix(l.Title, runbookLinkPrefix); ok {
					out[name] = append(out[name], PanelRef{UID: b.Dashboard.UID, File: b.File, PanelID: p.ID, Title: p.Title,
						Main: slices.Contains(p.Evidence, name)})
				}
			}
		}
	}
	return out, nil
}

// EvidencePanels picks, per alert, the one panel of AlertPanels that the
// alert's dashboard_url and runbook lead to: the panel marked with
// evidence(), else the first. Two marked panels are an error.
func EvidencePanels() (map[string]PanelRef, error) {
	all, err := AlertPanels()
	if err != nil {
		return nil, err
	}
	out := map[string]PanelRef{}
	for name, refs := range all {
		out[name] = refs[0]
		marked := 0
		for _, r := range refs {
			if r.Main {
				out[name] = r
				marked++
			}
		}
		if marked > 1 {
			return nil, fmt.Errorf("alert %s: %d panels are marked as its evidence; mark one", name, marked)
		}
	}
	return out, nil
}
