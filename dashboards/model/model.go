// Package model is the part of Grafana's dashboard JSON model that netcause's
// dashboards use, as Go types, so the generator cannot misspell a key or give
// a field the wrong type. Field order is the order keys are written in; the
// names and shapes follow @grafana/schema (Dashboard, Panel, RowPanel,
// VariableModel, DashboardLink and the panel plugins' Options and
// FieldConfig), which the schema check type-checks the output against.
package model

// SchemaVersion is the dashboard schema of Grafana 10.0; later versions
// migrate it forward when they load the dashboard.
const SchemaVersion = 38

// Dashboard is one dashboard file.
type Dashboard struct {
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Description   string      `json:"description,omitempty"`
	Tags          []string    `json:"tags"`
	Editable      bool        `json:"editable"`
	GraphTooltip  int         `json:"graphTooltip"`
	Time          TimeRange   `json:"time"`
	Refresh       string      `json:"refresh,omitempty"`
	SchemaVersion int         `json:"schemaVersion"`
	Version       int         `json:"version"`
	Links         []Link      `json:"links"`
	Annotations   Annotations `json:"annotations"`
	Templating    Templating  `json:"templating"`
	Panels        []Element   `json:"panels"`
	Timezone      string      `json:"timezone,omitempty"`
	Timepicker    *Timepicker `json:"timepicker,omitempty"`
}

// GraphTooltip values (DashboardCursorSync).
const (
	CursorSyncOff       = 0
	CursorSyncCrosshair = 1
)

// TimeRange is the default time range, e.g. now-1h to now.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Timepicker lists the refresh intervals offered.
type Timepicker struct {
	RefreshIntervals []string `json:"refresh_intervals,omitempty"`
}

// Link is a DashboardLink: at the top of a dashboard, or on a panel.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"` // LinkDashboards or LinkURL
	URL         string   `json:"url,omitempty"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	Icon        string   `json:"icon"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	TargetBlank bool     `json:"targetBlank"`
	Tooltip     string   `json:"tooltip"`
}

// Link types.
const (
	LinkDashboards = "dashboards"
	LinkURL        = "link"
)

// Annotations holds the dashboard's annotation queries.
type Annotations struct {
	List []Annotation `json:"list"`
}

// Annotation is an AnnotationQuery; netcause only keeps Grafana's built-in
// one (alerts and annotations saved in Grafana).
type Annotation struct {
	BuiltIn    int           `json:"builtIn"`
	Datasource DataSourceRef `json:"datasource"`
	Enable     bool          `json:"enable"`
	Hide       bool          `json:"hide"`
	IconColor  string        `json:"iconColor"`
	Name       string        `json:"name"`
	Type       string        `json:"type"`
}

// BuiltInAnnotation is the annotation every Grafana dashboard carries.
func BuiltInAnnotation() Annotation {
	return Annotation{
		BuiltIn:    1,
		Datasource: DataSourceRef{Type: "grafana", UID: "-- Grafana --"},
		Enable:     true,
		Hide:       true,
		IconColor:  "rgba(0, 211, 255, 1)",
		Name:       "Annotations & Alerts",
		Type:       "dashboard",
	}
}

// DataSourceRef points at a data source; netcause's always name the
// datasource variable, never a UID.
type DataSourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Templating holds the template variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a VariableModel of type datasource or query.
type Variable struct {
	Name        string         `json:"name"`
	Label       string         `json:"label,omitempty"`
	Description string         `json:"description,omitempty"`
	Type        string         `json:"type"`
	Datasource  *DataSourceRef `json:"datasource,omitempty"`
	// Query is the data source type for a datasource variable, and the
	// Prometheus variable query (label_values(...)) for a query variable.
	Query      string `json:"query"`
	Regex      string `json:"regex,omitempty"`
	Refresh    int    `json:"refresh"`
	Sort       int    `json:"sort"`
	Hide       int    `json:"hide"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue,omitempty"`
}

// Variable constants (VariableRefresh, VariableSort).
const (
	RefreshOnLoad      = 1
	RefreshOnTimeRange = 2
	SortAlphaAsc       = 1
	SortNaturalAsc     = 7
)

// Element is a top-level entry of Dashboard.Panels: a *Panel or a *Row.
type Element interface{ element() }

// Row is a RowPanel. netcause's rows are never collapsed, so their panels
// follow them at the top level and Panels stays empty.
type Row struct {
	Type      string   `json:"type"` // always "row"
	ID        int      `json:"id"`
	Title     string   `json:"title"`
	Collapsed bool     `json:"collapsed"`
	GridPos   GridPos  `json:"gridPos"`
	Panels    []*Panel `json:"panels"`
}

func (*Row) element() {}

// Panel is one visualisation.
type Panel struct {
	ID              int              `json:"id"`
	Type            string           `json:"type"`
	Title           string           `json:"title"`
	Description     string           `json:"description,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	Datasource      *DataSourceRef   `json:"datasource,omitempty"`
	Interval        string           `json:"interval,omitempty"`
	MaxDataPoints   int              `json:"maxDataPoints,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	FieldConfig     FieldConfig      `json:"fieldConfig"`
	Options         any              `json:"options"`
	Transformations []Transformation `json:"transformations,omitempty"`
	Links           []Link           `json:"links,omitempty"`
	// Evidence names the alerts whose dashboard_url opens this panel. It
	// is the generator's, not Grafana's, and stays out of the JSON.
	Evidence []string `json:"-"`
}

func (*Panel) element() {}

// Panel types used.
const (
	TypeTimeSeries    = "timeseries"
	TypeStat          = "stat"
	TypeTable         = "table"
	TypeHeatmap       = "heatmap"
	TypeStateTimeline = "state-timeline"
	TypeText          = "text"
	TypeRow           = "row"
)

// GridPos places a panel on the 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Target is a Prometheus query of a panel.
type Target struct {
	RefID        string         `json:"refId"`
	Datasource   *DataSourceRef `json:"datasource,omitempty"`
	EditorMode   string         `json:"editorMode"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat,omitempty"`
	Format       string         `json:"format"`
	Instant      bool           `json:"instant"`
	Range        bool           `json:"range"`
}

// Target formats.
const (
	FormatTimeSeries = "time_series"
	FormatTable      = "table"
	FormatHeatmap    = "heatmap"
)

// FieldConfig is a FieldConfigSource: defaults for every field plus
// overrides for the fields a matcher picks.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults is a FieldConfig.
type FieldDefaults struct {
	Unit        string      `json:"unit,omitempty"`
	Decimals    *int        `json:"decimals,omitempty"`
	Min         *float64    `json:"min,omitempty"`
	Max         *float64    `json:"max,omitempty"`
	NoValue     string      `json:"noValue,omitempty"`
	Color       *FieldColor `json:"color,omitempty"`
	Thresholds  *Thresholds `json:"thresholds,omitempty"`
	Mappings    []Mapping   `json:"mappings,omitempty"`
	Links       []DataLink  `json:"links,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Custom      any         `json:"custom,omitempty"`
}

// FieldColor is how values are coloured.
type FieldColor struct {
	Mode       string `json:"mode"`
	FixedColor string `json:"fixedColor,omitempty"`
}

// Color modes.
const (
	ColorPalette    = "palette-classic"
	ColorThresholds = "thresholds"
	ColorFixed      = "fixed"
)

// Thresholds colour values by the steps they pass.
type Thresholds struct {
	Mode  string `json:"mode"` // "absolute"
	Steps []Step `json:"steps"`
}

// Step is one threshold; the first has a nil value (from minus infinity).
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Mapping is a ValueMap: exact values to text and colour.
type Mapping struct {
	Type    string                   `json:"type"` // "value"
	Options map[string]MappingResult `json:"options"`
}

// MappingResult is what a mapped value shows.
type MappingResult struct {
	Text  string `json:"text,omitempty"`
	Color string `json:"color,omitempty"`
	Index int    `json:"index"`
}

// DataLink is a link on a field's values; ${__data.fields.NAME} and
// ${__field.labels.NAME} expand to the clicked row's values.
type DataLink struct {
	Title       string `json:"title"`
	URL         string `json:"url"`
	TargetBlank bool   `json:"targetBlank"`
}

// Override changes properties of the fields a matcher picks.
type Override struct {
	Matcher    Matcher    `json:"matcher"`
	Properties []Property `json:"properties"`
}

// Matcher picks fields, e.g. byName "MTU".
type Matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

// Property is one field config property, by its id (unit, links,
// custom.cellOptions, displayName …).
type Property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// Transformation is a DataTransformerConfig.
type Transformation struct {
	ID      string `json:"id"`
	Options any    `json:"options"`
}
