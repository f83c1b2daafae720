{{- define "tuneserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tuneserve.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "tuneserve.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "tuneserve.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tuneserve.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ include "tuneserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: server or trainer. */}}
{{- define "tuneserve.selector" -}}
app.kubernetes.io/name: {{ include "tuneserve.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tuneserve.image" -}}
{{- printf "%s:%s" .Values.image.repository (default (printf "%s-%s" .Chart.AppVersion .Values.flavour) .Values.image.tag) -}}
{{- end -}}

{{- define "tuneserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tuneserve.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tuneserve.storeClaim" -}}
{{- default (printf "%s-adapters" (include "tuneserve.fullname" .)) .Values.store.existingClaim -}}
{{- end -}}

{{/* Pod and container security: non-root, read-only root filesystem, no privileges. */}}
{{- define "tuneserve.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tuneserve.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Environment shared by server and trainer: auth and TLS files, the probes' health port. */}}
{{- define "tuneserve.securityEnv" -}}
- name: TUNESERVE_HOST
  value: "0.0.0.0"
- name: TUNESERVE_METRICS_HOST
  value: "0.0.0.0"
- name: TUNESERVE_HEALTH_PORT
  value: {{ .Values.ports.health | quote }}
{{- if .Values.auth.tokensSecret }}
- name: TUNESERVE_AUTH_TOKENS_FILE
  value: /etc/tuneserve/auth/{{ .Values.auth.tokensKey }}
{{- else if .Values.auth.allowUnauthenticated }}
- name: TUNESERVE_ALLOW_UNAUTHENTICATED
  value: "true"
{{- end }}
{{- if .Values.tls.enabled }}
- name: TUNESERVE_TLS_CERT_FILE
  value: /etc/tuneserve/tls/tls.crt
- name: TUNESERVE_TLS_KEY_FILE
  value: /etc/tuneserve/tls/tls.key
{{- if .Values.tls.clientAuth }}
- name: TUNESERVE_TLS_CLIENT_CA_FILE
  value: /etc/tuneserve/tls/ca.crt
{{- end }}
{{- end }}
{{- end -}}

{{- define "tuneserve.securityMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "tuneserve.objectStore" . }}
- name: adapter-cache
  mountPath: /var/lib/tuneserve/adapter-cache
{{- if .Values.store.objectStore.existingSecret }}
- name: object-store-credentials
  mountPath: /var/run/secrets/tuneserve/object-store
  readOnly: true
{{- end }}
{{- else }}
- name: adapters
  mountPath: /var/lib/tuneserve/adapters
{{- end }}
{{- if .Values.auth.tokensSecret }}
- name: auth
  mountPath: /etc/tuneserve/auth
  readOnly: true
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/tuneserve/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "tuneserve.securityVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if include "tuneserve.objectStore" . }}
- name: adapter-cache
  emptyDir:
    sizeLimit: {{ printf "%dMi" (add .Values.store.objectStore.cacheMB (div .Values.store.objectStore.cacheMB 4)) }}
{{- if .Values.store.objectStore.existingSecret }}
- name: object-store-credentials
  secret:
    secretName: {{ .Values.store.objectStore.existingSecret }}
    items:
      - key: {{ .Values.store.objectStore.credentialsKey }}
        path: credentials
{{- end }}
{{- else }}
- name: adapters
  persistentVolumeClaim:
    claimName: {{ include "tuneserve.storeClaim" . }}
{{- end }}
{{- if .Values.auth.tokensSecret }}
- name: auth
  secret:
    secretName: {{ .Values.auth.tokensSecret }}
    items:
      - key: {{ .Values.auth.tokensKey }}
        path: {{ .Values.auth.tokensKey }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
{{- end }}
{{- end -}}

{{/* Native gRPC probes on the health-only port. */}}
{{- define "tuneserve.probes" -}}
startupProbe:
  grpc:
    port: {{ .Values.ports.health }}
  periodSeconds: 10
  failureThreshold: {{ div .Values.server.startupSeconds 10 }}
readinessProbe:
  grpc:
    port: {{ .Values.ports.health }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  grpc:
    port: {{ .Values.ports.health }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}

{{/* Whether server and trainer share a PostgreSQL database (database.url or a URL in a Secret). */}}
{{- define "tuneserve.sharedDatabase" -}}
{{- if or .Values.database.url (and .Values.database.existingSecret .Values.database.urlKey) }}true{{ end }}
{{- end }}

{{/* The database settings of a container; the password only ever from a mounted file. */}}
{{- define "tuneserve.databaseEnv" -}}
{{- if .Values.database.url }}
- name: TUNESERVE_DATABASE_URL
  value: {{ .Values.database.url | quote }}
{{- else if and .Values.database.existingSecret .Values.database.urlKey }}
- name: TUNESERVE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end }}
{{- if and (include "tuneserve.sharedDatabase" .) .Values.database.existingSecret .Values.database.passwordKey }}
- name: TUNESERVE_DATABASE_PASSWORD_FILE
  value: /var/run/secrets/tuneserve/database/password
{{- end }}
{{- end }}

{{- define "tuneserve.databaseMounts" -}}
{{- if and (include "tuneserve.sharedDatabase" .) .Values.database.existingSecret .Values.database.passwordKey }}
- name: database-password
  mountPath: /var/run/secrets/tuneserve/database
  readOnly: true
{{- end }}
{{- end }}

{{- define "tuneserve.databaseVolumes" -}}
{{- if and (include "tuneserve.sharedDatabase" .) .Values.database.existingSecret .Values.database.passwordKey }}
- name: database-password
  secret:
    secretName: {{ .Values.database.existingSecret }}
    items:
      - key: {{ .Values.database.passwordKey }}
        path: password
{{- end }}
{{- end }}

{{/* Whether adapters live in object storage (store.objectStore.location); checks what it needs. */}}
{{- define "tuneserve.objectStore" -}}
{{- with .Values.store.objectStore.location }}
{{- if not (hasPrefix "s3://" .) }}
{{- fail (printf "store.objectStore.location must be s3://BUCKET/PREFIX, not %q" .) }}
{{- end }}
{{- if not (include "tuneserve.sharedDatabase" $) }}
{{- fail "store.objectStore.location needs a shared database (database.url or database.urlKey): the adapter catalog lives there" }}
{{- end }}
{{- true }}
{{- end }}
{{- end }}

{{/* Where server and trainer find the adapter store, as ConfigMap entries. */}}
{{- define "tuneserve.storeSettings" -}}
{{- if include "tuneserve.objectStore" . }}
TUNESERVE_ADAPTER_STORE: {{ .Values.store.objectStore.location | quote }}
TUNESERVE_ADAPTER_CACHE_DIR: /var/lib/tuneserve/adapter-cache
TUNESERVE_ADAPTER_CACHE_MB: {{ .Values.store.objectStore.cacheMB | quote }}
{{- with .Values.store.objectStore.endpoint }}
AWS_ENDPOINT_URL: {{ . | quote }}
{{- end }}
{{- with .Values.store.objectStore.region }}
AWS_REGION: {{ . | quote }}
{{- end }}
{{- if .Values.store.objectStore.existingSecret }}
AWS_SHARED_CREDENTIALS_FILE: /var/run/secrets/tuneserve/object-store/credentials
{{- end }}
{{- else }}
TUNESERVE_ADAPTER_STORE: /var/lib/tuneserve/adapters
{{- end }}
{{- end }}

{{/* The trainer's executor, checked: kubernetes needs the shared database its Job pods report to. */}}
{{- define "tuneserve.executor" -}}
{{- $executor := .Values.trainer.executor | default "thread" }}
{{- if not (has $executor (list "thread" "process" "kubernetes")) }}
{{- fail (printf "trainer.executor must be thread, process or kubernetes, not %q" $executor) }}
{{- end }}
{{- if and (eq $executor "kubernetes") (not (include "tuneserve.sharedDatabase" .)) }}
{{- fail "trainer.executor=kubernetes needs a shared database (database.url or database.urlKey): the Job pods record progress and outcomes there" }}
{{- end }}
{{- $executor }}
{{- end }}

{{/* Where jobs keep data and checkpoints beyond a run: trainer.jobs.store, else the adapters' object store, else "" (the work dir). */}}
{{- define "tuneserve.jobStore" -}}
{{- if .Values.trainer.jobs.store }}
{{- if not (hasPrefix "s3://" .Values.trainer.jobs.store) }}
{{- fail (printf "trainer.jobs.store must be s3://BUCKET/PREFIX, not %q" .Values.trainer.jobs.store) }}
{{- end }}
{{- .Values.trainer.jobs.store }}
{{- else if include "tuneserve.objectStore" . }}
{{- .Values.store.objectStore.location }}
{{- end }}
{{- end }}

{{/* The trainer's work-directory volume: its claim, shared with job pods unless jobs live in object storage. */}}
{{- define "tuneserve.trainerWorkClaim" -}}
{{- default (printf "%s-trainer" (include "tuneserve.fullname" .)) .Values.trainer.persistence.existingClaim }}
{{- end }}

{{/* Stored responses are continued on whichever replica a call lands: with several, they must be in the shared database. */}}
{{- define "tuneserve.checkResponsesStore" -}}
{{- $on := has (toString (.Values.server.settings.RESPONSES_STORE | default "false") | lower) (list "true" "1" "yes" "on") }}
{{- $several := or .Values.autoscaling.enabled (gt (int .Values.server.replicas) 1) }}
{{- if and $on $several (not (include "tuneserve.sharedDatabase" .)) }}
{{- fail "server.settings.RESPONSES_STORE with several server replicas needs a shared database (database.url or database.urlKey): a response stored by one replica is continued on another" }}
{{- end }}
{{- end }}
