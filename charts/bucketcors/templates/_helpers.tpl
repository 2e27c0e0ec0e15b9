{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "bucketcors.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full object name: the release name, with the chart name unless already contained. */}}
{{- define "bucketcors.fullname" -}}
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

{{- define "bucketcors.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the controller pods; never change them between versions. */}}
{{- define "bucketcors.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bucketcors.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "bucketcors.labels" -}}
helm.sh/chart: {{ include "bucketcors.chart" . }}
{{ include "bucketcors.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/part-of: bucketcors
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "bucketcors.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bucketcors.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bucketcors.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespaces where the controller reads Secrets through Roles, one per line; empty when Secret
access is cluster-wide (no watchNamespace and no rbac.secretNamespaces).
*/}}
{{- define "bucketcors.secretNamespaces" -}}
{{- $nss := list }}
{{- if .Values.watchNamespace }}
{{- $nss = append $nss .Values.watchNamespace }}
{{- end }}
{{- range .Values.rbac.secretNamespaces }}
{{- $nss = append $nss . }}
{{- end }}
{{- range (uniq $nss) }}
{{ . }}
{{- end }}
{{- end }}

{{/*
The rules the controller needs on its own objects, in one namespace or cluster-wide. Each verb is
one the controller calls (tests/chart_rbac.rs removes each and watches the controller fail):
policies get (fresh status before a Restore capture), list/watch (cache), patch (finalizer);
status patch (server-side apply); S3Endpoints list/watch (cache); Events create, patch (a
repeated event becomes a series).
*/}}
{{- define "bucketcors.policyRules" -}}
- apiGroups: ["bucketcors.dev"]
  resources: ["bucketcorspolicies"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["bucketcors.dev"]
  resources: ["bucketcorspolicies/status"]
  verbs: ["patch"]
- apiGroups: ["bucketcors.dev"]
  resources: ["s3endpoints"]
  verbs: ["list", "watch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Secrets: get (credentials and CA bundles an endpoint names), list/watch (metadata, to notice changes). */}}
{{- define "bucketcors.secretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
{{- end }}
