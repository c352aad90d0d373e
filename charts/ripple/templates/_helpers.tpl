{{- define "ripple.labels" -}}
app.kubernetes.io/name: ripple
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "ripple.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
