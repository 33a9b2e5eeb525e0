{{/* Chart name, cut to the 63 characters of a label value. */}}
{{- define "netcause.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of the release's objects: the release name, prefixed with the
chart name unless it already contains it. */}}
{{- define "netcause.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "netcause.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netcause.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "netcause.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "netcause.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netcause
{{- end }}

{{- define "netcause.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "netcause.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "netcause.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Object name from a synced file name (already DNS-safe, see
deploy/sync.sh): fullname-prefix-base, without the extension. */}}
{{- define "netcause.fileObjectName" -}}
{{- $base := base .path | trimSuffix (ext .path) }}
{{- printf "%s-%s-%s" (include "netcause.fullname" .root) .prefix $base | trunc 253 | trimSuffix "-" }}
{{- end }}
