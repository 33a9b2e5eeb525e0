package model

// The options and custom field config of each panel plugin netcause uses,
// as the plugins' published types (@grafana/schema
// raw/composable/<plugin>/panelcfg) define them. Only the fields we set;
// the schema check rejects any key a plugin does not know.

// Legend is VizLegendOptions.
type Legend struct {
	ShowLegend  bool     `json:"showLegend"`
	DisplayMode string   `json:"displayMode"` // list, table
	Placement   string   `json:"placement"`   // bottom, right
	Calcs       []string `json:"calcs"`
	SortBy      string   `json:"sortBy,omitempty"`
	SortDesc    bool     `json:"sortDesc,omitempty"`
}

// Tooltip is VizTooltipOptions.
type Tooltip struct {
	Mode string `json:"mode"` // single, multi, none
	Sort string `json:"sort"` // none, asc, desc
}

// TimeSeriesOptions are the timeseries panel's options.
type TimeSeriesOptions struct {
	Legend  Legend  `json:"legend"`
	Tooltip Tooltip `json:"tooltip"`
}

// Stacking is StackingConfig.
type Stacking struct {
	Mode  string `json:"mode"` // none, normal
	Group string `json:"group"`
}

// TimeSeriesCustom is the timeseries panel's GraphFieldConfig.
type TimeSeriesCustom struct {
	DrawStyle         string          `json:"drawStyle"`
	LineInterpolation string          `json:"lineInterpolation"`
	LineWidth         int             `json:"lineWidth"`
	FillOpacity       int             `json:"fillOpacity"`
	GradientMode      string          `json:"gradientMode"`
	ShowPoints        string          `json:"showPoints"`
	PointSize         int             `json:"pointSize"`
	SpanNulls         bool            `json:"spanNulls"`
	AxisPlacement     string          `json:"axisPlacement"`
	AxisSoftMin       *float64        `json:"axisSoftMin,omitempty"`
	Stacking          Stacking        `json:"stacking"`
	ThresholdsStyle   ThresholdsStyle `json:"thresholdsStyle"`
}

// ThresholdsStyle is GraphThresholdsStyleConfig: whether thresholds are
// drawn on the graph.
type ThresholdsStyle struct {
	Mode string `json:"mode"` // off, line, dashed, area
}

// ReduceOptions is ReduceDataOptions: how a stat reduces a series.
type ReduceOptions struct {
	Calcs  []string `json:"calcs"`
	Fields string   `json:"fields"`
	Values bool     `json:"values"`
}

// StatOptions are the stat panel's options.
type StatOptions struct {
	ReduceOptions          ReduceOptions `json:"reduceOptions"`
	Orientation            string        `json:"orientation"`
	TextMode               string        `json:"textMode"`
	ColorMode              string        `json:"colorMode"`
	GraphMode              string        `json:"graphMode"`
	JustifyMode            string        `json:"justifyMode"`
	WideLayout             bool          `json:"wideLayout"`
	ShowPercentChange      bool          `json:"showPercentChange"`
	PercentChangeColorMode string        `json:"percentChangeColorMode"`
}

// SortBy is TableSortByFieldState.
type SortBy struct {
	DisplayName string `json:"displayName"`
	Desc        bool   `json:"desc"`
}

// TableOptions are the table panel's options.
type TableOptions struct {
	ShowHeader bool     `json:"showHeader"`
	FrameIndex int      `json:"frameIndex"`
	CellHeight string   `json:"cellHeight"` // sm, md, lg
	SortBy     []SortBy `json:"sortBy,omitempty"`
}

// CellOptions is TableCellOptions: auto, color-background, color-text …
type CellOptions struct {
	Type string `json:"type"`
	Mode string `json:"mode,omitempty"` // basic, gradient (color-background)
}

// TableCustom is the table panel's TableFieldOptions.
type TableCustom struct {
	Align       string      `json:"align"` // auto, left, right, center
	CellOptions CellOptions `json:"cellOptions"`
	Inspect     bool        `json:"inspect"`
	Filterable  bool        `json:"filterable"`
}

// HeatmapColor is HeatmapColorOptions.
type HeatmapColor struct {
	Mode     string  `json:"mode"` // scheme, opacity
	Scheme   string  `json:"scheme"`
	Fill     string  `json:"fill"`
	Scale    string  `json:"scale"`
	Exponent float64 `json:"exponent"`
	Steps    int     `json:"steps"`
	Reverse  bool    `json:"reverse"`
}

// HeatmapYAxis is the heatmap's YAxisConfig.
type HeatmapYAxis struct {
	AxisPlacement string `json:"axisPlacement"`
	Unit          string `json:"unit"`
	Reverse       bool   `json:"reverse"`
}

// HeatmapRowsFrame is RowsHeatmapOptions: how pre-bucketed data (a
// Prometheus histogram) is laid out.
type HeatmapRowsFrame struct {
	Layout string `json:"layout"` // le, ge, unknown, auto
}

// HeatmapTooltip is the heatmap's tooltip.
type HeatmapTooltip struct {
	Mode       string `json:"mode"`
	YHistogram bool   `json:"yHistogram"`
}

// HeatmapLegend is the heatmap's colour legend.
type HeatmapLegend struct {
	Show bool `json:"show"`
}

// HeatmapExemplars is the heatmap's ExemplarConfig.
type HeatmapExemplars struct {
	Color string `json:"color"`
}

// CellValues is the heatmap's cell value display.
type CellValues struct {
	Unit string `json:"unit,omitempty"`
}

// HeatmapOptions are the heatmap panel's options.
type HeatmapOptions struct {
	Calculate  bool             `json:"calculate"`
	CellGap    int              `json:"cellGap"`
	CellValues CellValues       `json:"cellValues"`
	Color      HeatmapColor     `json:"color"`
	Exemplars  HeatmapExemplars `json:"exemplars"`
	Legend     HeatmapLegend    `json:"legend"`
	RowsFrame  HeatmapRowsFrame `json:"rowsFrame"`
	ShowValue  string           `json:"showValue"` // auto, never, always
	Tooltip    HeatmapTooltip   `json:"tooltip"`
	YAxis      HeatmapYAxis     `json:"yAxis"`
}

// ScaleDistribution is ScaleDistributionConfig.
type ScaleDistribution struct {
	Type string `json:"type"` // linear, log
}

// HeatmapCustom is the heatmap panel's FieldConfig.
type HeatmapCustom struct {
	ScaleDistribution ScaleDistribution `json:"scaleDistribution"`
}

// StateTimelineOptions are the state-timeline panel's options.
type StateTimelineOptions struct {
	Legend      Legend  `json:"legend"`
	Tooltip     Tooltip `json:"tooltip"`
	RowHeight   float64 `json:"rowHeight"`
	ShowValue   string  `json:"showValue"`
	MergeValues bool    `json:"mergeValues"`
	AlignValue  string  `json:"alignValue"`
}

// StateTimelineCustom is the state-timeline panel's FieldConfig.
type StateTimelineCustom struct {
	FillOpacity int `json:"fillOpacity"`
	LineWidth   int `json:"lineWidth"`
}

// TextOptions are the text panel's options.
type TextOptions struct {
	Mode    string `json:"mode"` // markdown
	Content string `json:"content"`
}
