{{/*
Names. Every object of a release is named after ripple.fullname (release-scoped: two
releases in one namespace, e.g. two agents of two clusters, never collide). Cluster-scoped
objects (ClusterRoles, ClusterRoleBindings) also carry the release namespace: two releases of
one name in two namespaces of a cluster do not collide either.
*/}}
{{- define "ripple.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ripple.fullname" -}}
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

{{/* a component's objects: (dict "root" $ "component" "agent") */}}
{{- define "ripple.componentName" -}}
{{- printf "%s-%s" (include "ripple.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* a component's cluster-scoped objects: namespace-release-component (at most 253) */}}
{{- define "ripple.clusterName" -}}
{{- printf "%s-%s-%s" .root.Release.Namespace (include "ripple.fullname" .root) .component | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{- define "ripple.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "ripple.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* (dict "root" $ "component" "agent") */}}
{{- define "ripple.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ripple.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ripple.componentLabels" -}}
{{ include "ripple.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ripple.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/*
NATS credentials of one service. Argument: (dict "root" $ "secret" SECRET-NAME).
ripple.natsEnv: env entries (RIPPLE_NATS_USER/RIPPLE_NATS_PASSWORD from the Secret's keys
nats.userKey and nats.passwordKey, or RIPPLE_NATS_CREDS when nats.credsKey names a
credentials file); ripple.natsVolumeItems and ripple.natsVolumeMountItems: the mounted
credentials file (nothing otherwise).
*/}}
{{- define "ripple.natsEnv" -}}
{{- if .secret }}
{{- if .root.Values.nats.credsKey }}
- name: RIPPLE_NATS_CREDS
  value: /etc/ripple/nats/{{ .root.Values.nats.credsKey }}
{{- else }}
- name: RIPPLE_NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .root.Values.nats.userKey | quote }}
- name: RIPPLE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: {{ .root.Values.nats.passwordKey | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "ripple.natsVolumeItems" -}}
{{- if and .secret .root.Values.nats.credsKey }}
- name: nats-credentials
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0440
    items:
    - key: {{ .root.Values.nats.credsKey | quote }}
      path: {{ .root.Values.nats.credsKey | quote }}
{{- end }}
{{- end -}}

{{- define "ripple.natsVolumeMountItems" -}}
{{- if and .secret .root.Values.nats.credsKey }}
- name: nats-credentials
  mountPath: /etc/ripple/nats
  readOnly: true
{{- end }}
{{- end -}}

{{/*
One service's Deployment. Argument: a dict with
  root       the chart's context ($)
  component  manager | reporter | agent
  values     that component's values (.Values.manager, ...)
  secret     its NATS credentials Secret ("" for none)
  args       the container's arguments (a list)
  env        extra env entries (YAML text, may be empty)
  ports      extra container ports (YAML text, may be empty)
  volumes    extra volumes (YAML text); mounts: their volumeMounts (YAML text)
Every pod: non-root, read-only root filesystem, no privilege escalation, every capability
dropped, the RuntimeDefault seccomp profile; a writable /tmp (emptyDir, tmpSizeLimit); /livez and /readyz
probes and /metrics on the port named `metrics`, served on the pod's address.
*/}}
{{- define "ripple.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $nats := dict "root" $root "secret" .secret -}}
{{- $sel := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "ripple.componentName" $sel }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ripple.componentLabels" $sel | nindent 4 }}
spec:
  replicas: {{ .replicas }}
  # one instance at a time: each service is the single writer of what it owns
  strategy:
    type: Recreate
  selector:
    matchLabels:
      {{- include "ripple.selectorLabels" $sel | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "ripple.selectorLabels" $sel | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ include "ripple.componentName" $sel }}
      automountServiceAccountToken: true
      {{- with $root.Values.image.pullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . | quote }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      terminationGracePeriodSeconds: 30
      volumes:
      - name: tmp
        emptyDir:
          sizeLimit: {{ $root.Values.tmpSizeLimit | quote }}
      {{- with (.volumes | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      {{- with (include "ripple.natsVolumeItems" $nats | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
      - name: {{ .component }}
        image: {{ include "ripple.image" $root | quote }}
        imagePullPolicy: {{ $root.Values.image.pullPolicy }}
        args:
          {{- toYaml .args | nindent 10 }}
        env:
        - name: RIPPLE_NATS_URL
          value: {{ $root.Values.nats.url | quote }}
        - name: RIPPLE_LOG_LEVEL
          value: {{ $root.Values.logLevel | quote }}
        - name: RIPPLE_METRICS_HOST
          value: {{ $root.Values.metrics.host | quote }}
        - name: RIPPLE_METRICS_PORT
          value: {{ $root.Values.metricsPort | quote }}
        - name: RIPPLE_LIVENESS_LOOP_BLOCKED
          value: {{ $root.Values.liveness.loopBlockedSeconds | quote }}
        - name: RIPPLE_LIVENESS_STALLED
          value: {{ $root.Values.liveness.stalledSeconds | quote }}
        {{- with $root.Values.tracing.otlpEndpoint }}
        - name: RIPPLE_OTLP_ENDPOINT
          value: {{ . | quote }}
        - name: RIPPLE_TRACE_SAMPLE_RATIO
          value: {{ $root.Values.tracing.sampleRatio | quote }}
        {{- end }}
        {{- with (include "ripple.natsEnv" $nats | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with (.env | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        ports:
        - name: metrics
          containerPort: {{ $root.Values.metricsPort }}
          protocol: TCP
        {{- with (.ports | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        # served from a thread of the service, not its event loop: /livez fails when the loop
        # is blocked (liveness.loopBlockedSeconds) or a work queue holds work without
        # finishing any (liveness.stalledSeconds); /readyz once every input was read
        livenessProbe:
          httpGet: {path: /livez, port: metrics}
          {{- toYaml $root.Values.probes.liveness | nindent 10 }}
        readinessProbe:
          httpGet: {path: /readyz, port: metrics}
          {{- toYaml $root.Values.probes.readiness | nindent 10 }}
        securityContext:
          {{- toYaml $root.Values.securityContext | nindent 10 }}
        volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- with (.mounts | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with (include "ripple.natsVolumeMountItems" $nats | trim) }}
        {{- . | nindent 8 }}
        {{- end }}
        resources:
          {{- toYaml $v.resources | nindent 10 }}
{{- end -}}

{{/* A component's ServiceAccount and its ClusterRole + binding: (dict "root" $ "component" C "rules" RULES-YAML) */}}
{{- define "ripple.rbac" -}}
{{- $sel := dict "root" .root "component" .component -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "ripple.componentName" $sel }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ripple.componentLabels" $sel | nindent 4 }}
{{- if .root.Values.rbac.create }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ include "ripple.clusterName" $sel }}
  labels:
    {{- include "ripple.componentLabels" $sel | nindent 4 }}
rules:
{{- .rules | trim | nindent 0 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ include "ripple.clusterName" $sel }}
  labels:
    {{- include "ripple.componentLabels" $sel | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ include "ripple.clusterName" $sel }}
subjects:
- kind: ServiceAccount
  name: {{ include "ripple.componentName" $sel }}
  namespace: {{ .root.Release.Namespace }}
{{- end }}
{{- end -}}

{{/* A component's Service (the port named metrics, and the manager's REST API): (dict "root" $ "component" C "ports" YAML) */}}
{{- define "ripple.service" -}}
{{- $sel := dict "root" .root "component" .component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "ripple.componentName" $sel }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "ripple.componentLabels" $sel | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "ripple.selectorLabels" $sel | nindent 4 }}
  ports:
  - name: metrics
    port: {{ .root.Values.metricsPort }}
    targetPort: metrics
    protocol: TCP
  {{- with (.ports | trim) }}
  {{- . | nindent 2 }}
  {{- end }}
{{- end -}}
