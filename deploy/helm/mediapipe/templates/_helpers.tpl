{{/* Labels every object carries. */}}
{{- define "mediapipe.labels" -}}
app.kubernetes.io/name: mediapipe
app.kubernetes.io/part-of: multichat
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The selector labels of a role's pods (root context and role name). */}}
{{- define "mediapipe.selector" -}}
app.kubernetes.io/name: mediapipe
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{/* The image reference: the digest wins over the tag. */}}
{{- define "mediapipe.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ required "image.tag is required (a release, never latest)" .Values.image.tag | printf "%s:%s" .Values.image.repository }}
{{- end -}}
{{- end }}

{{/* An environment variable from the Secret. */}}
{{- define "mediapipe.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
