{{- define "cacheregistry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cacheregistry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cacheregistry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cacheregistry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The cluster secret is generated only where replicas use it: shared storage with streamed fills. */}}
{{- define "cacheregistry.streamsFills" -}}
{{- if and (eq .Values.storage.mode "shared") .Values.cluster.streamFills -}}true{{- end -}}
{{- end -}}

{{/*
What the chart's Secret is made of, for the pods' checksum annotation: a change of any of these
values rolls the pods. The generated cluster secret is not in it (kept across upgrades, it must
not roll the pods on every render). A Secret of your own (existingSecret) is not read by the
chart: its name is in, its content is not.
*/}}
{{- define "cacheregistry.secretInputs" -}}
{{- toJson (dict "adminToken" .Values.adminToken "s3" (list .Values.storage.shared.s3.accessKey .Values.storage.shared.s3.secretKey .Values.minio.rootUser .Values.minio.rootPassword)
  "redis" .Values.storage.shared.redis.password "cluster" .Values.cluster.secret "upstreams" .Values.upstreamCredentials
  "existingSecret" .Values.existingSecret "htpasswd" .Values.auth.htpasswd.existingSecret "tls" .Values.tls.existingSecret) -}}
{{- end -}}

{{/* The port the pod listens on for probes, scrapes and replicas: the plain-HTTP one when TLS is on. */}}
{{- define "cacheregistry.plainPort" -}}
{{- if .Values.tls.existingSecret -}}plain{{- else -}}http{{- end -}}
{{- end -}}

{{- define "cacheregistry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cacheregistry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cacheregistry.labels" -}}
{{ include "cacheregistry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "cacheregistry.secretName" -}}
{{- default (include "cacheregistry.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* The chart refuses what cannot work, with the reason. */}}
{{- define "cacheregistry.checks" -}}
{{- if and (gt (int .Values.replicaCount) 1) (ne .Values.storage.mode "shared") -}}
{{- fail "replicaCount > 1 needs storage.mode=shared: replicas must share their blobs (S3) and metadata (Redis); with embedded storage each would hold its own cache on its own volume" -}}
{{- end -}}
{{- if and (eq .Values.storage.mode "shared") (not .Values.minio.enabled) (not .Values.storage.shared.s3.serviceUrl) (not .Values.storage.shared.s3.region) -}}
{{- fail "storage.mode=shared needs storage.shared.s3 (serviceUrl for S3-compatible storage, or minio.enabled)" -}}
{{- end -}}
{{- if and (eq .Values.storage.mode "shared") (not .Values.redis.enabled) (not .Values.storage.shared.redis.configuration) -}}
{{- fail "storage.mode=shared needs storage.shared.redis.configuration (or redis.enabled)" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (eq (kindIs "invalid" .Values.podDisruptionBudget.minAvailable) (kindIs "invalid" .Values.podDisruptionBudget.maxUnavailable)) -}}
{{- fail "podDisruptionBudget: set exactly one of minAvailable and maxUnavailable" -}}
{{- end -}}
{{- end -}}

{{/* The appsettings the server reads: storage wiring, then .Values.registry over it. */}}
{{- define "cacheregistry.appsettings" -}}
{{- $registry := dict "DataDir" "/data" -}}
{{- if eq .Values.storage.mode "shared" -}}
{{- $s3 := .Values.storage.shared.s3 -}}
{{- $serviceUrl := $s3.serviceUrl -}}
{{- if .Values.minio.enabled -}}{{- $serviceUrl = printf "http://%s-minio:9000" (include "cacheregistry.fullname" .) -}}{{- end -}}
{{- $redis := .Values.storage.shared.redis.configuration -}}
{{- if .Values.redis.enabled -}}{{- $redis = printf "%s-redis:6379" (include "cacheregistry.fullname" .) -}}{{- end -}}
{{- $_ := set $registry "Storage" (dict "Kind" "S3" "S3" (dict "ServiceUrl" $serviceUrl "Bucket" $s3.bucket "Region" $s3.region "ForcePathStyle" $s3.forcePathStyle)) -}}
{{- $_ := set $registry "Metadata" (dict "Kind" "Redis" "Configuration" $redis "KeyPrefix" .Values.storage.shared.redis.keyPrefix) -}}
{{- end -}}
{{- toJson (dict "Registry" (mergeOverwrite $registry (deepCopy .Values.registry))) -}}
{{- end -}}
