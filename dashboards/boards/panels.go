package boards

import (
	"slices"

	"github.com/netcause/netcause/alerts/rules"
	"github.com/netcause/netcause/dashboards/model"
)

// Units, as Grafana's unit ids.
const (
	unitPPS     = "pps"         // packets per second
	unitEvents  = "cps"         // events (segments, connections, resets) per second
	unitBps     = "Bps"         // bytes per second
	unitBytes   = "bytes"       // bytes, 1024-based
	unitSeconds = "s"           // seconds
	unitRatio   = "percentunit" // 0–1 shown as a percentage
	unitCount   = "short"       // a count, SI-abbreviated
	unitPlain   = "none"        // a number shown as it is: MTUs, ring sizes, 0/1 states
)

// Units lists the unit ids the boards use; a test keeps panels to these so a
// typo cannot leave a panel unit-less in Grafana.
var Units = []string{unitPPS, unitEvents, unitBps, unitBytes, unitSeconds, unitRatio, unitCount, unitPlain}

// opt changes a panel under construction.
type opt func(*model.Panel)

// q is a range query drawn over time; legend is a Grafana legend format.
func q(expr, legend string) model.Target {
	return model.Target{Expr: expr, LegendFormat: legend, Format: model.FormatTimeSeries, Range: true}
}

// qt is an instant query shown as a table, one row per series.
func qt(expr string) model.Target {
	return model.Target{Expr: expr, Format: model.FormatTable, Instant: true}
}

// qh is a histogram's buckets for a heatmap.
func qh(expr string) model.Target {
	return model.Target{Expr: expr, LegendFormat: "{{le}}", Format: model.FormatHeatmap, Range: true}
}

func qs(ts ...model.Target) []model.Target { return ts }

func newPanel(typ, title, unit, description string, targets []model.Target, options, custom any, opts []opt) *model.Panel {
	for i := range targets {
		targets[i].RefID = string(rune('A' + i))
		targets[i].Datasource = datasourceRef
		targets[i].EditorMode = "code"
	}
	p := &model.Panel{
		Type: typ, Title: title, Description: description, Datasource: datasourceRef, Targets: targets,
		FieldConfig: model.FieldConfig{
			Defaults:  model.FieldDefaults{Unit: unit, Custom: custom},
			Overrides: []model.Override{},
		},
		Options: options,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func legend() model.Legend {
	return model.Legend{ShowLegend: true, DisplayMode: "list", Placement: "bottom", Calcs: []string{}}
}

// timeseries is a graph over time, from zero.
func timeseries(title, unit, description string, targets []model.Target, opts ...opt) *model.Panel {
	zero := 0.0
	custom := &model.TimeSeriesCustom{
		DrawStyle: "line", LineInterpolation: "linear", LineWidth: 1, FillOpacity: 10,
		GradientMode: "none", ShowPoints: "never", PointSize: 4, AxisPlacement: "auto",
		AxisSoftMin: &zero, Stacking: model.Stacking{Mode: "none", Group: "A"},
		ThresholdsStyle: model.ThresholdsStyle{Mode: "off"},
	}
	options := &model.TimeSeriesOptions{Legend: legend(), Tooltip: model.Tooltip{Mode: "multi", Sort: "desc"}}
	p := newPanel(model.TypeTimeSeries, title, unit, description, targets, options, custom, nil)
	p.FieldConfig.Defaults.Color = &model.FieldColor{Mode: model.ColorPalette}
	for _, o := range opts {
		o(p)
	}
	return p
}

// stat is a single number per series, coloured by its thresholds.
func stat(title, unit, description string, targets []model.Target, opts ...opt) *model.Panel {
	options := &model.StatOptions{
		ReduceOptions: model.ReduceOptions{Calcs: []string{"lastNotNull"}, Fields: ""},
		Orientation:   "auto", TextMode: "value_and_name", ColorMode: "background", GraphMode: "none",
		JustifyMode: "auto", WideLayout: true, PercentChangeColorMode: "standard",
	}
	p := newPanel(model.TypeStat, title, unit, description, targets, options, nil, nil)
	p.FieldConfig.Defaults.Color = &model.FieldColor{Mode: model.ColorThresholds}
	for _, o := range opts {
		o(p)
	}
	return p
}

// table lists instant query results; several queries are merged into one
// row per label set, their values in columns "Value #A", "Value #B" …
func table(title, unit, description string, targets []model.Target, opts ...opt) *model.Panel {
	custom := &model.TableCustom{Align: "auto", CellOptions: model.CellOptions{Type: "auto"}, Filterable: true}
	options := &model.TableOptions{ShowHeader: true, CellHeight: "sm"}
	p := newPanel(model.TypeTable, title, unit, description, targets, options, custom, nil)
	if len(targets) > 1 {
		p.Transformations = append(p.Transformations, model.Transformation{ID: "merge", Options: struct{}{}})
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// heatmap draws a Prometheus histogram's buckets over time.
func heatmap(title, unit, description string, target model.Target, opts ...opt) *model.Panel {
	options := &model.HeatmapOptions{
		Calculate: false, CellGap: 1, CellValues: model.CellValues{Unit: unitEvents},
		Color: model.HeatmapColor{Mode: "scheme", Scheme: "Oranges", Fill: "dark-orange",
			Scale: "exponential", Exponent: 0.5, Steps: 64},
		Exemplars: model.HeatmapExemplars{Color: "rgba(255,0,255,0.7)"},
		Legend:    model.HeatmapLegend{Show: true},
		RowsFrame: model.HeatmapRowsFrame{Layout: "le"},
		ShowValue: "never",
		Tooltip:   model.HeatmapTooltip{Mode: "single", YHistogram: true},
		YAxis:     model.HeatmapYAxis{AxisPlacement: "left", Unit: unit},
	}
	custom := &model.HeatmapCustom{ScaleDistribution: model.ScaleDistribution{Type: "linear"}}
	return newPanel(model.TypeHeatmap, title, unit, description, []model.Target{target}, options, custom, opts)
}

// timeline shows 0/1 states over time with their mapped names.
func timeline(title, description string, targets []model.Target, mappings []model.Mapping, opts ...opt) *model.Panel {
	options := &model.StateTimelineOptions{Legend: legend(), Tooltip: model.Tooltip{Mode: "single", Sort: "none"},
		RowHeight: 0.9, ShowValue: "auto", MergeValues: true, AlignValue: "left"}
	custom := &model.StateTimelineCustom{FillOpacity: 70, LineWidth: 0}
	p := newPanel(model.TypeStateTimeline, title, unitPlain, description, targets, options, custom, nil)
	p.FieldConfig.Defaults.Color = &model.FieldColor{Mode: model.ColorThresholds}
	p.FieldConfig.Defaults.Mappings = mappings
	for _, o := range opts {
		o(p)
	}
	return p
}

// text is a markdown panel; it queries nothing and has no unit.
func text(title, markdown string) *model.Panel {
	return &model.Panel{Type: model.TypeText, Title: title,
		FieldConfig: model.FieldConfig{Defaults: model.FieldDefaults{}, Overrides: []model.Override{}},
		Options:     &model.TextOptions{Mode: "markdown", Content: markdown}}
}

// Options.

func f(v float64) *float64 { return &v }

func step(color string, from float64) model.Step { return model.Step{Color: color, Value: f(from)} }

// thresholds colours values from base upwards through the steps; a
// timeseries also draws them as dashed lines.
func thresholds(base string, steps ...model.Step) opt {
	return func(p *model.Panel) {
		p.FieldConfig.Defaults.Thresholds = &model.Thresholds{Mode: "absolute",
			Steps: append([]model.Step{{Color: base, Value: nil}}, steps...)}
		if c, ok := p.FieldConfig.Defaults.Custom.(*model.TimeSeriesCustom); ok {
			c.ThresholdsStyle.Mode = "dashed"
		}
	}
}

func minMax(lo, hi float64) opt {
	return func(p *model.Panel) { p.FieldConfig.Defaults.Min, p.FieldConfig.Defaults.Max = f(lo), f(hi) }
}

func noValue(s string) opt { return func(p *model.Panel) { p.FieldConfig.Defaults.NoValue = s } }

func stacked(p *model.Panel) {
	if c, ok := p.FieldConfig.Defaults.Custom.(*model.TimeSeriesCustom); ok {
		c.Stacking.Mode = "normal"
	}
}

// legendTable shows the legend as a table with the last and max values,
// for panels with many series.
func legendTable(p *model.Panel) {
	if o, ok := p.Options.(*model.TimeSeriesOptions); ok {
		o.Legend = model.Legend{ShowLegend: true, DisplayMode: "table", Placement: "bottom",
			Calcs: []string{"lastNotNull", "max"}, SortBy: "Max", SortDesc: true}
	}
}

// column sets the name, unit and further properties of a table column
// (a query's "Value #X" field, or a label).
func column(field, name string, props ...model.Property) opt {
	return func(p *model.Panel) {
		ps := []model.Property{{ID: "displayName", Value: name}}
		p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, model.Override{
			Matcher: model.Matcher{ID: "byName", Options: field}, Properties: append(ps, props...)})
	}
}

func unitProp(u string) model.Property { return model.Property{ID: "unit", Value: u} }

func thresholdsProp(base string, steps ...model.Step) model.Property {
	return model.Property{ID: "thresholds", Value: model.Thresholds{Mode: "absolute",
		Steps: append([]model.Step{{Color: base, Value: nil}}, steps...)}}
}

// colored fills the column's cells with its threshold colour.
func colored() model.Property {
	return model.Property{ID: "custom.cellOptions", Value: model.CellOptions{Type: "color-background", Mode: "basic"}}
}

func linksProp(links ...model.DataLink) model.Property {
	return model.Property{ID: "links", Value: links}
}

func widthProp(px int) model.Property { return model.Property{ID: "custom.width", Value: px} }

// organize hides columns and orders the rest.
func organize(hide []string, order []string) opt {
	return func(p *model.Panel) {
		ex := map[string]bool{}
		for _, h := range hide {
			ex[h] = true
		}
		idx := map[string]int{}
		for i, o := range order {
			idx[o] = i
		}
		p.Transformations = append(p.Transformations, model.Transformation{ID: "organize",
			Options: map[string]any{"excludeByName": ex, "indexByName": idx, "renameByName": map[string]string{}}})
	}
}

// sortBy sorts a table by a column's display name, largest first.
func sortBy(name string) opt {
	return func(p *model.Panel) {
		if o, ok := p.Options.(*model.TableOptions); ok {
			o.SortBy = []model.SortBy{{DisplayName: name, Desc: true}}
		}
	}
}

// valueMap names exact values, e.g. 1 → up.
func valueMap(pairs ...[3]string) []model.Mapping {
	opts := map[string]model.MappingResult{}
	for i, p := range pairs {
		opts[p[0]] = model.MappingResult{Text: p[1], Color: p[2], Index: i}
	}
	return []model.Mapping{{Type: "value", Options: opts}}
}

// Links.

var builtPack *rules.Pack

func pack() *rules.Pack {
	if builtPack == nil {
		p, err := rules.Build(rules.DefaultConfig())
		if err != nil {
			fail("alert pack: %v", err)
		}
		builtPack = p
	}
	return builtPack
}

// runbookLinkPrefix starts the title of a panel's link to a runbook; the
// alert's name follows.
const runbookLinkPrefix = "Runbook: "

// runbooks links the panel to the runbooks of the alerts that fire on what
// it shows.
func runbooks(alerts ...string) opt {
	return func(p *model.Panel) {
		for _, name := range alerts {
			i := slices.IndexFunc(pack().Alerts, func(a rules.BuiltAlert) bool { return a.Def.Name == name })
			if i < 0 {
				fail("panel %q: no alert %s", p.Title, name)
			}
			a := pack().Alerts[i]
			p.Links = append(p.Links, model.Link{Title: runbookLinkPrefix + name, Type: model.LinkURL, URL: a.RunbookURL,
				Tags: []string{}, Icon: "doc", TargetBlank: true,
				Tooltip: "cause " + string(a.Def.Cause) + ", " + string(a.Severity)})
		}
	}
}

// evidence is runbooks for alerts whose evidence this panel shows best:
// their dashboard_url opens it. An alert without one opens the first detail
// panel that links its runbook.
func evidence(alerts ...string) opt {
	return func(p *model.Panel) {
		runbooks(alerts...)(p)
		p.Evidence = append(p.Evidence, alerts...)
	}
}

// alertsOfLayer names the alerts of one layer, in the pack's order.
func alertsOfLayer(l rules.Layer) []string {
	var out []string
	for _, a := range rules.Alerts() {
		if a.Layer == l {
			out = append(out, a.Name)
		}
	}
	return out
}

// drill links the panel to the dashboard uid, titled title.
func drill(uid, title string) opt {
	return func(p *model.Panel) {
		p.Links = append(p.Links, model.Link{Title: title, Type: model.LinkURL, URL: drillURL(uid),
			Tags: []string{}, Icon: "dashboard", Tooltip: "Same time range and variables"})
	}
}
