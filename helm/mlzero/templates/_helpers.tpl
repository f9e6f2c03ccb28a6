{{/* The chart's name, or nameOverride. */}}
{{- define "mlzero.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<name>, or the release alone when it already contains the name; fullnameOverride wins. */}}
{{- define "mlzero.fullname" -}}
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

{{/* A component's object name: <fullname>-<component>. Takes (dict "root" $ "component" name). */}}
{{- define "mlzero.componentName" -}}
{{- printf "%s-%s" (include "mlzero.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select a component's pods; never change them on upgrade. Takes (dict "root" $ "component" name). */}}
{{- define "mlzero.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlzero.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Every object's labels. Takes (dict "root" $ "component" name). */}}
{{- define "mlzero.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "mlzero.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: mlzero
{{- end }}

{{/* The six services and their gRPC ports (the services' own defaults). */}}
{{- define "mlzero.servicePorts" -}}
gateway: 50051
perception: 50052
memory: 50053
coder: 50054
executor: 50055
analyzer: 50056
{{- end }}

{{/*
Who calls each service's gRPC API, from the code: perception and the coder
look up memory, and so does the analyzer (lessons). Clients outside the
release call the gateway; nobody calls the others (the pipeline is Kafka).
*/}}
{{- define "mlzero.grpcCallers" -}}
memory: [perception, coder, analyzer]
{{- end }}

{{/* The services that use the LLM agents (MLZERO_LLM_*). */}}
{{- define "mlzero.llmServices" -}}
[perception, coder, analyzer]
{{- end }}

{{/* The services that mount the task workspace. */}}
{{- define "mlzero.workspaceServices" -}}
[gateway, perception, executor, analyzer]
{{- end }}

{{/* A service's values: the shared defaults, overridden by its own block. Takes (dict "root" $ "component" name); YAML. */}}
{{- define "mlzero.serviceValues" -}}
{{- toYaml (mustMergeOverwrite (deepCopy .root.Values.defaults) (deepCopy (index .root.Values .component))) }}
{{- end }}

{{/* An image reference; the tag defaults to the chart's appVersion. Takes (dict "root" $ "image" .image). */}}
{{- define "mlzero.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* Where Jobs run: executor.job.namespace, or the release namespace. */}}
{{- define "mlzero.jobsNamespace" -}}
{{- default .Release.Namespace .Values.executor.job.namespace }}
{{- end }}

{{/* The workspace claim's name, in the release namespace and the Jobs namespace alike. */}}
{{- define "mlzero.workspaceClaim" -}}
{{- default (include "mlzero.componentName" (dict "root" . "component" "workspace")) .Values.workspace.existingClaim }}
{{- end }}

{{/* The Kafka bootstrap addresses: the in-chart broker, or kafka.brokers. */}}
{{- define "mlzero.kafkaBrokers" -}}
{{- if .Values.kafka.enabled }}
{{- printf "%s.%s.svc:9092" (include "mlzero.componentName" (dict "root" . "component" "kafka")) .Release.Namespace }}
{{- else if .Values.kafka.brokers }}
{{- join "," .Values.kafka.brokers }}
{{- else }}
{{- fail "kafka: set kafka.enabled (a trial broker in the chart) or kafka.brokers (host:port of yours)" }}
{{- end }}
{{- end }}

{{/* Qdrant's REST URL: the in-chart one, qdrant.url, or empty (the embedded store). */}}
{{- define "mlzero.qdrantUrl" -}}
{{- if .Values.qdrant.enabled }}
{{- printf "http://%s.%s.svc:6333" (include "mlzero.componentName" (dict "root" . "component" "qdrant")) .Release.Namespace }}
{{- else }}
{{- .Values.qdrant.url }}
{{- end }}
{{- end }}

{{/* The address of a service's gRPC API inside the cluster. Takes (dict "root" $ "component" name). */}}
{{- define "mlzero.grpcAddress" -}}
{{- $ports := include "mlzero.servicePorts" .root | fromYaml }}
{{- printf "%s.%s.svc:%v" (include "mlzero.componentName" .) .root.Release.Namespace (index $ports .component) }}
{{- end }}

{{/*
A restricted-profile container securityContext (the restricted Pod Security
Standard): nobody's privileges; takes whether the root filesystem is
read-only (true for everything of ours: nothing the image could rewrite).
*/}}
{{- define "mlzero.containerSecurityContext" -}}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: {{ . }}
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The pod-level half, for a given user (and group). */}}
{{- define "mlzero.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* A ReadWriteOnce claim template for a StatefulSet's data. Takes the storage values. */}}
{{- define "mlzero.dataClaimTemplate" -}}
- metadata:
    name: data
  spec:
    accessModes: [ReadWriteOnce]
    {{- with .storageClassName }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .size }}
{{- end }}

{{/*
The embedded memory store's file, on the memory service's own volume; empty
with Qdrant, which holds the memory instead.
*/}}
{{- define "mlzero.memoryStoreFile" -}}
{{- if not (include "mlzero.qdrantUrl" .) }}/var/lib/mlzero/memory/store.json{{ end }}
{{- end }}
