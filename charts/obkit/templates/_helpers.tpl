{{/*
Names, labels and the component table. Every object the chart renders gets its names and labels from
here, so the Pulumi stacks and the post-deploy Jobs can rely on "<fullname>-<component>".
*/}}

{{/* Chart name ("obkit" unless nameOverride). */}}
{{- define "obkit.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
"<release>-obkit" (or fullnameOverride). Always both parts, so in-cluster URLs are predictable:
https://<release>-obkit-identity-server:9446. Truncated to leave room for the longest component suffix
("-identity-server") inside the 63-character DNS label limit of Service names.
*/}}
{{- define "obkit.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "obkit.name" .) | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (dict "root" $ "component" "gateway"). */}}
{{- define "obkit.componentFullname" -}}
{{- printf "%s-%s" (include "obkit.fullname" .root) .component -}}
{{- end -}}

{{- define "obkit.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Recommended labels; call with (dict "root" $ "component" "gateway"). */}}
{{- define "obkit.labels" -}}
{{ include "obkit.selectorLabels" . }}
app.kubernetes.io/part-of: obkit
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Values.image.tag | trunc 63 | trimSuffix "-" | quote }}
helm.sh/chart: {{ include "obkit.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that select one component's pods (immutable: never add the version here). */}}
{{- define "obkit.selectorLabels" -}}
app.kubernetes.io/name: {{ include "obkit.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* "  annotations:" block of metadata (commonAnnotations merged with (dict "extra" …)), or nothing. */}}
{{- define "obkit.metadataAnnotations" -}}
{{- $all := merge (dict) (default (dict) .extra) .root.Values.commonAnnotations -}}
{{- with $all }}
  annotations:
    {{- toYaml . | nindent 4 }}
{{- end }}
{{- end -}}

{{/*
The components, as a YAML list: name (also the app.kubernetes.io/component label), key (its section in
values), port (the container port the service listens on, fixed by the services' defaults) and what
it needs mounted. mock-register appears only when enabled.
*/}}
{{- define "obkit.components" -}}
- name: identity-server
  key: identityServer
  tomlTable: identity_server
  port: 9446
  admin: true
  database: true
- name: api-manager
  key: apiManager
  tomlTable: api_manager
  port: 9443
  admin: true
  database: true
- name: gateway
  key: gateway
  tomlTable: gateway
  port: 8243
  # The DCR in-sequence authenticates to identity-server with the admin credential (as in WSO2).
  admin: true
  database: false
{{- if .Values.mockRegister.enabled }}
- name: mock-register
  key: mockRegister
  tomlTable: mock_register
  port: 7000
  admin: false
  database: true
{{- end }}
{{- end -}}

{{/* Image reference: repository:tag, or repository:tag@digest when a digest is pinned. */}}
{{- define "obkit.image" -}}
{{- $ref := printf "%s:%s" .Values.image.repository .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "obkit.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "obkit.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Secret names: the value, else "<fullname>-<suffix>". */}}
{{- define "obkit.secret.serverTls" -}}
{{- default (printf "%s-server-tls" (include "obkit.fullname" .)) .Values.tls.serverSecret -}}
{{- end -}}
{{- define "obkit.secret.truststore" -}}
{{- default (printf "%s-truststore" (include "obkit.fullname" .)) .Values.tls.truststoreSecret -}}
{{- end -}}
{{- define "obkit.secret.internalCa" -}}
{{- default (printf "%s-internal-ca" (include "obkit.fullname" .)) .Values.tls.internalCaSecret -}}
{{- end -}}
{{- define "obkit.secret.gatewayInternalClient" -}}
{{- default (printf "%s-gateway-internal-client" (include "obkit.fullname" .)) .Values.tls.gatewayInternalClientSecret -}}
{{- end -}}
{{- define "obkit.secret.admin" -}}
{{- default (printf "%s-admin" (include "obkit.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{/* Base URL of a component: its url value, else the in-cluster Service (gateway: the public host). */}}
{{- define "obkit.url" -}}
{{- $values := index .root.Values .key -}}
{{- if $values.url -}}
{{- $values.url -}}
{{- else if eq .name "gateway" -}}
{{- printf "https://%s:%v" .root.Values.global.hostname $values.service.port -}}
{{- else -}}
{{- printf "https://%s:%v" (include "obkit.componentFullname" (dict "root" .root "component" .name)) $values.service.port -}}
{{- end -}}
{{- end -}}

{{/* Replicas a component runs with (gateway with autoscaling: at least minReplicas). */}}
{{- define "obkit.replicas" -}}
{{- $values := index .root.Values .key -}}
{{- if and (eq .name "gateway") $values.autoscaling.enabled -}}
{{- $values.autoscaling.minReplicas -}}
{{- else -}}
{{- $values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* Probe timing fields from a probe's values. */}}
{{- define "obkit.probeTimings" -}}
initialDelaySeconds: {{ .initialDelaySeconds }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- if hasKey . "successThreshold" }}
successThreshold: {{ .successThreshold }}
{{- end }}
{{- end -}}
