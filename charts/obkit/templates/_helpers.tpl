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
values), port (the container port the service listens on, fixed by the services' defaults),
managementPort (its internal listener for /health/* and /metrics: port + 100) and what it needs
mounted. mock-register and banking appear only when enabled. A copy of lib/config/components.ts (the
one table; Helm cannot import it): test/charts/components.test.ts holds the two equal.
*/}}
{{- define "obkit.components" -}}
- name: identity-server
  key: identityServer
  tomlTable: identity_server
  port: 9446
  managementPort: 9546
  admin: true
  # It checks the gateway's own DCR backend credential (never the admin's).
  dcrBackend: true
  database: true
  # Signing keys and client secrets are stored encrypted with the key from this Secret.
  encryption: true
- name: api-manager
  key: apiManager
  tomlTable: api_manager
  port: 9443
  managementPort: 9543
  admin: true
  database: true
  encryption: true
- name: gateway
  key: gateway
  tomlTable: gateway
  port: 8243
  managementPort: 8343
  # No admin credential: the DCR in-sequence sends the gateway's own, from its vault (a mounted Secret).
  admin: false
  vault: true
  database: false
{{- if .Values.mockRegister.enabled }}
- name: mock-register
  key: mockRegister
  tomlTable: mock_register
  port: 7000
  managementPort: 7100
  # Its admin API (software products, recipient JWKS) is what the sandbox smoke test calls.
  admin: true
  database: true
{{- end }}
{{- if .Values.banking.enabled }}
- name: banking
  key: banking
  tomlTable: banking
  port: 9447
  managementPort: 9547
  # Its own internal client certificate, for the identity server's /internal/arrangements.
  bankingClient: true
  admin: false
  database: false
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
{{- define "obkit.secret.bankingInternalClient" -}}
{{- default (printf "%s-banking-internal-client" (include "obkit.fullname" .)) .Values.tls.bankingInternalClientSecret -}}
{{- end -}}
{{- define "obkit.secret.admin" -}}
{{- default (printf "%s-admin" (include "obkit.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}
{{- define "obkit.secret.encryption" -}}
{{- default (printf "%s-encryption" (include "obkit.fullname" .)) .Values.encryption.existingSecret -}}
{{- end -}}
{{- define "obkit.secret.dcrBackend" -}}
{{- default (printf "%s-dcr-backend" (include "obkit.fullname" .)) .Values.dcrBackend.existingSecret -}}
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

{{- define "obkit.secret.serverCa" -}}
{{- default (printf "%s-server-ca" (include "obkit.fullname" .)) .Values.verification.serverCaSecret -}}
{{- end -}}

{{/* A component's in-cluster URL: its Service, whatever its public url value says. */}}
{{- define "obkit.inClusterUrl" -}}
{{- $values := index .root.Values .key -}}
{{- printf "https://%s:%v" (include "obkit.componentFullname" (dict "root" .root "component" .name)) $values.service.port -}}
{{- end -}}

{{/*
Where the verification pods (helm test, configure hook, scheduled verification) mount what the
environment manifest points at; the Pulumi stack's Jobs use the same paths (stacks/environment.ts).
*/}}
{{- define "obkit.verificationMounts" -}}
environment: /etc/obkit/environment
serverCa: /etc/obkit/server-ca
truststore: /etc/obkit/truststore
smokeClient: /etc/obkit/smoke-client
{{- end -}}

{{/*
The pod spec of a verification pod: `node bin/obkit.ts <args> --environment <manifest>` as uid 10001 on a
read-only root, with the admin credential from its Secret and the CAs (and the smoke recipient's
certificate, when given) mounted. Call with (dict "root" $ "component" "smoke" "args" (list "smoke")
"admin" true); "admin" hands it the admin credential (configure needs it, as does the sandbox Register).
*/}}
{{- define "obkit.verificationPodSpec" -}}
{{- $root := .root -}}
{{- $mounts := include "obkit.verificationMounts" . | fromYaml -}}
restartPolicy: Never
serviceAccountName: {{ include "obkit.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with $root.Values.image.pullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
containers:
  - name: {{ .component }}
    image: {{ include "obkit.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      - bin/obkit.ts
      {{- range .args }}
      - {{ . | quote }}
      {{- end }}
      - --environment
      - {{ $mounts.environment }}/environment.json
    {{- if .admin }}
    env:
      - name: OBKIT__OBKIT__ADMIN__USERNAME
        valueFrom:
          secretKeyRef:
            name: {{ include "obkit.secret.admin" $root }}
            key: username
      - name: OBKIT_ADMIN_PASSWORD
        valueFrom:
          secretKeyRef:
            name: {{ include "obkit.secret.admin" $root }}
            key: password
    {{- end }}
    resources:
      {{- toYaml $root.Values.verification.resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.containerSecurityContext | nindent 6 }}
    volumeMounts:
      - name: environment
        mountPath: {{ $mounts.environment }}
        readOnly: true
      - name: server-ca
        mountPath: {{ $mounts.serverCa }}
        readOnly: true
      - name: truststore
        mountPath: {{ $mounts.truststore }}
        readOnly: true
      {{- if $root.Values.verification.smokeClientSecret }}
      - name: smoke-client
        mountPath: {{ $mounts.smokeClient }}
        readOnly: true
      {{- end }}
      {{- with .resultsClaim }}
      - name: results
        mountPath: /var/lib/obkit/results
      {{- end }}
      - name: tmp
        mountPath: /tmp
volumes:
  - name: environment
    configMap:
      name: {{ include "obkit.fullname" $root }}-environment
  - name: server-ca
    secret:
      secretName: {{ include "obkit.secret.serverCa" $root }}
      defaultMode: 288
      items:
        - key: ca.crt
          path: ca.crt
  - name: truststore
    secret:
      secretName: {{ include "obkit.secret.truststore" $root }}
      defaultMode: 288
      items:
        - key: ca-bundle.pem
          path: ca-bundle.pem
  {{- with $root.Values.verification.smokeClientSecret }}
  - name: smoke-client
    secret:
      secretName: {{ . }}
      defaultMode: 288
  {{- end }}
  {{- with .resultsClaim }}
  - name: results
    persistentVolumeClaim:
      claimName: {{ . }}
  {{- end }}
  - name: tmp
    emptyDir:
      medium: Memory
      sizeLimit: 16Mi
{{- end -}}

{{/* Name of the Service/container port that serves /metrics (scraped by the ServiceMonitor/PodMonitor): the management port. */}}
{{- define "obkit.metricsPortName" -}}
management
{{- end -}}
