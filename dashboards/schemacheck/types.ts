// Types the schema check assigns netcause's dashboards to. Everything here
// is Grafana's published types (@grafana/schema) except PrometheusQuery,
// which @grafana/schema does not publish (see below).
//
// Dashboard JSON writes enum values as plain strings ("palette-classic"),
// which TypeScript does not accept for a string enum: JSONOf turns each
// string enum into the union of its values and leaves everything else as
// it is, so unknown keys, missing required keys and wrong types are still
// errors.
import type { DataQuery, Dashboard, FieldConfig, Panel, RowPanel } from '@grafana/schema';
import type * as heatmap from '@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen';
import type * as stat from '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen';
import type * as statetimeline from '@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen';
import type * as table from '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen';
import type * as text from '@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen';
import type * as timeseries from '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen';

export type JSONOf<T> = T extends string
  ? `${T}`
  : T extends readonly (infer U)[]
    ? JSONOf<U>[]
    : T extends object
      ? { [K in keyof T]: JSONOf<T[K]> }
      : T;

// A dashboard as Grafana's own Dashboard type describes it. Its panels'
// options and targets are loosely typed there (Record<string, unknown>), so
// NetcausePanel checks them again.
export type GrafanaDashboard = JSONOf<Dashboard>;

// The Prometheus query of a panel target: DataQuery plus the Prometheus
// data source's fields, as Grafana's Prometheus plugin declares them
// (public/app/plugins/datasource/prometheus dataquery: expr, format,
// instant, range, legendFormat, editorMode …). @grafana/schema 13.2.3 has no
// Prometheus query type, so this is the one type written here.
export interface PrometheusQuery extends DataQuery {
  expr: string;
  format?: 'time_series' | 'table' | 'heatmap';
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  legendFormat?: string;
  editorMode?: 'code' | 'builder';
  interval?: string;
  intervalFactor?: number;
}

// A panel of plugin T with the plugin's own options and custom field
// config types.
type PluginPanel<T extends string, O, C> = Omit<Panel, 'type' | 'options' | 'fieldConfig' | 'targets'> & {
  type: T;
  options: O;
  fieldConfig: {
    defaults: Omit<FieldConfig, 'custom'> & { custom?: C };
    overrides: Panel['fieldConfig'] extends infer F ? (F extends { overrides: infer V } ? V : never) : never;
  };
  targets?: PrometheusQuery[];
};

// Every kind of panel netcause's dashboards use, each checked against its
// plugin's types; a row holds no panels of its own (never collapsed).
export type NetcausePanel = JSONOf<
  | PluginPanel<'timeseries', timeseries.Options, timeseries.FieldConfig>
  | PluginPanel<'stat', stat.Options, Record<string, never>>
  | PluginPanel<'table', table.Options, table.FieldConfig>
  | PluginPanel<'heatmap', heatmap.Options, heatmap.FieldConfig>
  | PluginPanel<'state-timeline', statetimeline.Options, statetimeline.FieldConfig>
  | PluginPanel<'text', text.Options, Record<string, never>>
  | (Omit<RowPanel, 'panels'> & { panels: [] })
>;
