{{/*
A service's settings (docs/architecture.md#configuration), as the data of
its ConfigMap: NAME: "value". Secrets are not here: see mlzero.secretEnv.
Takes (dict "root" $ "component" name).
*/}}
{{- define "mlzero.env" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $c := .component }}
{{- $svc := include "mlzero.serviceValues" . | fromYaml }}
{{- $ports := include "mlzero.servicePorts" $root | fromYaml }}
{{- $env := dict
  "MLZERO_GRPC_HOST" "0.0.0.0"
  "MLZERO_GRPC_PORT" (index $ports $c)
  "MLZERO_LOG_LEVEL" $svc.logLevel
  "MLZERO_BUS" "kafka"
  "MLZERO_KAFKA_BROKERS" (include "mlzero.kafkaBrokers" $root)
  "MLZERO_KAFKA_PARTITIONS" $v.kafka.partitions
  "MLZERO_KAFKA_REPLICATION_FACTOR" $v.kafka.replicationFactor
  "MLZERO_METRICS_PORT" $v.metrics.port
}}
{{- with $v.tracing.otlpEndpoint }}
{{- $_ := set $env "MLZERO_TRACE_EXPORTER" "otlp" }}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . }}
{{- end }}
{{- if $v.tls.existingSecret }}
{{- $_ := set $env "MLZERO_TLS_CERT" "/etc/mlzero/tls/tls.crt" }}
{{- $_ := set $env "MLZERO_TLS_KEY" "/etc/mlzero/tls/tls.key" }}
{{- $_ := set $env "MLZERO_GRPC_HEALTH_PORT" $v.tls.healthPort }}
{{- $_ := set $env "MLZERO_TLS_CA" "/etc/mlzero/tls/ca.crt" }}
{{- if $v.tls.mutual }}
{{- $_ := set $env "MLZERO_TLS_CLIENT_CA" "/etc/mlzero/tls/ca.crt" }}
{{- end }}
{{- end }}
{{- if has $c (include "mlzero.workspaceServices" $root | fromYamlArray) }}
{{- $_ := set $env "MLZERO_WORKSPACE_ROOT" $v.workspace.mountPath }}
{{- end }}
{{- if has $c (index (include "mlzero.grpcCallers" $root | fromYaml) "memory") }}
{{- $_ := set $env "MLZERO_MEMORY_ADDRESS" (include "mlzero.grpcAddress" (dict "root" $root "component" "memory")) }}
{{- end }}
{{- if and $v.llm.url (has $c (include "mlzero.llmServices" $root | fromYamlArray)) }}
{{- $_ := set $env "MLZERO_LLM_URL" $v.llm.url }}
{{- with $v.llm.model }}{{ $_ := set $env "MLZERO_LLM_MODEL" . }}{{ end }}
{{- with $v.llm.profiles }}{{ $_ := set $env "MLZERO_LLM_PROFILES" (toJson .) }}{{ end }}
{{- with $v.llm.prices }}{{ $_ := set $env "MLZERO_LLM_PRICES" (toJson .) }}{{ end }}
{{- end }}
{{- if has $c (list "gateway" "analyzer") }}
{{- $_ := set $env "MLZERO_DEFAULT_MAX_ITERATIONS" $v.taskDefaults.maxIterations }}
{{- $_ := set $env "MLZERO_SEARCH_PARALLELISM" $v.search.parallelism }}
{{- end }}
{{- if eq $c "gateway" }}
{{- $_ := set $env "MLZERO_DEFAULT_TIME_LIMIT_SECONDS" $v.taskDefaults.timeLimitSeconds }}
{{- $_ := set $env "MLZERO_DEFAULT_ITERATION_TIME_LIMIT_SECONDS" $v.taskDefaults.iterationTimeLimitSeconds }}
{{- $_ := set $env "MLZERO_DEFAULT_MEMORY_LIMIT_BYTES" $v.taskDefaults.memoryLimitBytes }}
{{- $_ := set $env "MLZERO_GATEWAY_ALLOWED_ROOTS" $v.gateway.inputs.mountPath }}
{{- if $v.gateway.tokens.existingSecret }}
{{- $_ := set $env "MLZERO_GATEWAY_TOKENS_FILE" (printf "/etc/mlzero/tokens/%s" $v.gateway.tokens.key) }}
{{- end }}
{{- with $v.gateway.dashboardPort }}{{ $_ := set $env "MLZERO_GATEWAY_DASHBOARD_PORT" . }}{{ end }}
{{- with $v.gateway.taskRetentionHours }}{{ $_ := set $env "MLZERO_GATEWAY_TASK_RETENTION_HOURS" . }}{{ end }}
{{- $quotas := dict
  "MLZERO_TENANT_MAX_RUNNING_TASKS" $v.gateway.quotas.tenantMaxRunningTasks
  "MLZERO_TENANT_MAX_QUEUED_TASKS" $v.gateway.quotas.tenantMaxQueuedTasks
  "MLZERO_TENANT_MAX_GPUS" $v.gateway.quotas.tenantMaxGpus
  "MLZERO_GATEWAY_MAX_RUNNING_TASKS" $v.gateway.quotas.maxRunningTasks
  "MLZERO_GATEWAY_MAX_GPUS" $v.gateway.quotas.maxGpus
}}
{{- range $name, $limit := $quotas }}
{{- if gt (int64 $limit) 0 }}{{ $_ := set $env $name $limit }}{{ end }}
{{- end }}
{{- end }}
{{- if eq $c "analyzer" }}
{{- if ne (toString $v.search.improveRounds) "" }}{{ $_ := set $env "MLZERO_SEARCH_IMPROVE_ROUNDS" $v.search.improveRounds }}{{ end }}
{{- end }}
{{- if eq $c "memory" }}
{{- with include "mlzero.qdrantUrl" $root }}{{ $_ := set $env "MLZERO_QDRANT_URL" . }}{{ end }}
{{- if include "mlzero.memoryStoreFile" $root }}{{ $_ := set $env "MLZERO_MEMORY_STORE_FILE" (include "mlzero.memoryStoreFile" $root) }}{{ end }}
{{- if $v.embeddings.url }}
{{- $_ := set $env "MLZERO_EMBEDDINGS_URL" $v.embeddings.url }}
{{- $_ := set $env "MLZERO_EMBEDDINGS_MODEL" (required "embeddings.model: required with embeddings.url" $v.embeddings.model) }}
{{- end }}
{{- end }}
{{- if eq $c "executor" }}
{{- $job := $v.executor.job }}
{{- $_ := set $env "MLZERO_EXECUTOR_RUNNER" "kubernetes" }}
{{- with $v.executor.concurrency }}{{ $_ := set $env "MLZERO_EXECUTOR_CONCURRENCY" . }}{{ end }}
{{- $_ := set $env "MLZERO_K8S_NAMESPACE" (include "mlzero.jobsNamespace" $root) }}
{{- $_ := set $env "MLZERO_K8S_WORKSPACE_CLAIM" (include "mlzero.workspaceClaim" $root) }}
{{- $_ := set $env "MLZERO_K8S_IMAGE" (include "mlzero.image" (dict "root" $root "image" $job.image)) }}
{{- $_ := set $env "MLZERO_K8S_IMAGE_PULL_POLICY" $job.image.pullPolicy }}
{{- with $job.gpuImage }}{{ $_ := set $env "MLZERO_K8S_GPU_IMAGE" . }}{{ end }}
{{- $_ := set $env "MLZERO_K8S_CPU_REQUEST" $job.cpuRequest }}
{{- $_ := set $env "MLZERO_K8S_CPU_LIMIT" $job.cpuLimit }}
{{- $_ := set $env "MLZERO_K8S_GPU_RESOURCE" $job.gpuResource }}
{{- with $job.nodeSelector }}{{ $_ := set $env "MLZERO_K8S_NODE_SELECTOR" (toJson .) }}{{ end }}
{{- with $job.tolerations }}{{ $_ := set $env "MLZERO_K8S_TOLERATIONS" (toJson .) }}{{ end }}
{{- with $job.gpuNodeSelector }}{{ $_ := set $env "MLZERO_K8S_GPU_NODE_SELECTOR" (toJson .) }}{{ end }}
{{- with $job.gpuTolerations }}{{ $_ := set $env "MLZERO_K8S_GPU_TOLERATIONS" (toJson .) }}{{ end }}
{{- with $job.runtimeClassName }}{{ $_ := set $env "MLZERO_K8S_RUNTIME_CLASS" . }}{{ end }}
{{- with $job.priorityClassName }}{{ $_ := set $env "MLZERO_K8S_PRIORITY_CLASS" . }}{{ end }}
{{- with $job.kueue.queue }}{{ $_ := set $env "MLZERO_K8S_KUEUE_QUEUE" . }}{{ end }}
{{- with $job.kueue.priorityClass }}{{ $_ := set $env "MLZERO_K8S_KUEUE_PRIORITY_CLASS" . }}{{ end }}
{{- $_ := set $env "MLZERO_K8S_TTL_SECONDS" $job.ttlSecondsAfterFinished }}
{{- $_ := set $env "MLZERO_K8S_SCRATCH_SIZE" $job.scratchSize }}
{{- $_ := set $env "MLZERO_K8S_RUN_AS_USER" $job.runAsUser }}
{{- end }}
{{- range $name, $value := $svc.env }}{{ $_ := set $env $name $value }}{{ end }}
{{- range $name, $value := $env }}
{{- /* Helm reads numbers as floats: write whole numbers without an exponent. */}}
{{- $whole := and (kindIs "float64" $value) (eq (float64 (int64 $value)) $value) }}
{{ $name }}: {{ ternary (int64 $value) $value $whole | toString | quote }}
{{- end }}
{{- end }}

{{/* Settings from Secrets you made (never rendered into the chart): env entries. Takes (dict "root" $ "component" name). */}}
{{- define "mlzero.secretEnv" -}}
{{- $v := .root.Values }}
{{- $c := .component }}
{{- if and $v.llm.url $v.llm.existingSecret (has $c (include "mlzero.llmServices" .root | fromYamlArray)) }}
- name: MLZERO_LLM_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ $v.llm.existingSecret }}, key: {{ $v.llm.existingSecretKey }} }
{{- end }}
{{- if eq $c "memory" }}
{{- if and $v.embeddings.url $v.embeddings.existingSecret }}
- name: MLZERO_EMBEDDINGS_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ $v.embeddings.existingSecret }}, key: {{ $v.embeddings.existingSecretKey }} }
{{- end }}
{{- if and $v.qdrant.url $v.qdrant.existingSecret (not $v.qdrant.enabled) }}
- name: MLZERO_QDRANT_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ $v.qdrant.existingSecret }}, key: {{ $v.qdrant.existingSecretKey }} }
{{- end }}
{{- end }}
{{- end }}
