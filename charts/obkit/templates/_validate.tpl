{{/*
Refuse value combinations that would deploy something unsafe or something the services refuse at
start-up; the schema catches most, these messages explain the rest. Included by the ConfigMap, which
is always rendered.
*/}}
{{- define "obkit.validate" -}}
{{- $production := eq .Values.global.mode "production" -}}
{{- if and $production .Values.mockRegister.enabled -}}
{{- fail "mockRegister.enabled: the mock CDR Register is sandbox-only and is refused when global.mode is production" -}}
{{- end -}}
{{- if and $production .Values.banking.enabled -}}
{{- fail "banking.enabled: the CDS Banking data API serves fixed sandbox accounts and is refused when global.mode is production" -}}
{{- end -}}
{{- if and $production .Values.config.allowPrivateAddresses -}}
{{- fail "config.allowPrivateAddresses: outbound fetches to private addresses are sandbox-only and refused when global.mode is production" -}}
{{- end -}}
{{- if not .Values.database.existingSecret -}}
{{- if $production -}}
{{- fail "database.existingSecret: production needs a PostgreSQL server (a Secret with key url); the embedded database is sandbox-only" -}}
{{- end -}}
{{- if or (gt (int .Values.identityServer.replicaCount) 1) (gt (int .Values.apiManager.replicaCount) 1) (gt (int .Values.mockRegister.replicaCount) 1) -}}
{{- fail "database.existingSecret: more than one identity-server, api-manager or mock-register replica needs a shared PostgreSQL server; the embedded database lives in each pod" -}}
{{- end -}}
{{- end -}}
{{- if regexMatch "(?m)^[ \\t]*\\[+[ \\t]*\"?obkit[\"]?[ \\t]*[.\\]]" .Values.config.toml -}}
{{- fail "config.toml: the chart generates the [obkit...] tables; set those through values (global, config, tls, ...) and keep config.toml for [open_banking...] keys" -}}
{{- end -}}
{{- $shutdown := add .Values.shutdown.preStopSeconds .Values.shutdown.graceSeconds -}}
{{- range $key := list "identityServer" "apiManager" "gateway" "mockRegister" "banking" -}}
{{- $termination := index $.Values $key "terminationGracePeriodSeconds" -}}
{{- if le (int $termination) (int $shutdown) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed shutdown.preStopSeconds + shutdown.graceSeconds (%d), or Kubernetes kills the pod while requests are still draining" $key (int $termination) (int $shutdown)) -}}
{{- end -}}
{{- end -}}
{{- with .Values.gateway.autoscaling -}}
{{- if .enabled -}}
{{- if gt (int .minReplicas) (int .maxReplicas) -}}
{{- fail "gateway.autoscaling: minReplicas is greater than maxReplicas" -}}
{{- end -}}
{{- if and (kindIs "invalid" .targetCPUUtilizationPercentage) (kindIs "invalid" .targetMemoryUtilizationPercentage) -}}
{{- fail "gateway.autoscaling: set targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
