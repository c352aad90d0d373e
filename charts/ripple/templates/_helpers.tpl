{{- define "ripple.labels" -}}
app.kubernetes.io/name: ripple
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{- define "ripple.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{/*
NATS credentials of one service. Argument: (dict "root" $ "secret" SECRET-NAME).
ripple.natsEnv: env entries (RIPPLE_NATS_USER/RIPPLE_NATS_PASSWORD from the Secret's keys
`user` and `password`, or RIPPLE_NATS_CREDS when nats.credsKey names a credentials file);
ripple.natsVolumeMounts and ripple.natsPod: the mounted credentials file (nothing otherwise).
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
      key: user
- name: RIPPLE_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .secret | quote }}
      key: password
{{- end }}
{{- end }}
{{- end -}}

{{- define "ripple.natsVolumeMounts" -}}
{{- if and .secret .root.Values.nats.credsKey }}
volumeMounts:
- name: nats-credentials
  mountPath: /etc/ripple/nats
  readOnly: true
{{- end }}
{{- end -}}

{{- define "ripple.natsPod" -}}
{{- if and .secret .root.Values.nats.credsKey }}
securityContext:
  fsGroup: 10001
volumes:
- name: nats-credentials
  secret:
    secretName: {{ .secret | quote }}
    defaultMode: 0440
    items:
    - key: {{ .root.Values.nats.credsKey | quote }}
      path: {{ .root.Values.nats.credsKey | quote }}
{{- end }}
{{- end -}}

{{- /* the NATS credentials volume and mount as list items, for pods with volumes of their own */ -}}
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
