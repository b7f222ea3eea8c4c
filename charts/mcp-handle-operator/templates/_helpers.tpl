{{/* fullname: fullnameOverride, else the release name. */}}
{{- define "mho.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "mho.manager" -}}{{ include "mho.fullname" . }}-manager{{- end -}}
{{- define "mho.runtime" -}}{{ include "mho.fullname" . }}-runtime{{- end -}}
{{- define "mho.platformConfigMap" -}}{{ include "mho.fullname" . }}-platform{{- end -}}

{{/* The namespace the operator writes to and the runtime keeps its Secrets in. */}}
{{- define "mho.platformNamespace" -}}
{{- default .Release.Namespace .Values.platform.namespace -}}
{{- end -}}

{{- define "mho.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: mcp-handle-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (list $ "manager"|"runtime"). */}}
{{- define "mho.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: mcp-handle-operator
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image of one component: (list $ .Values.operator.image). */}}
{{- define "mho.image" -}}
{{- $ := index . 0 -}}
{{- $img := index . 1 -}}
{{- if $img.digest -}}
{{ $img.repository }}@{{ $img.digest }}
{{- else -}}
{{ $img.repository }}:{{ default $.Chart.AppVersion $img.tag }}
{{- end -}}
{{- end -}}

{{/* Restricted Pod Security Standard, for pods and containers. */}}
{{- define "mho.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}
{{- define "mho.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
The platform configuration document (internal/platform.Config). Keys of
.Values.platform map one to one to its fields (values.schema.json refuses
others); namespace defaults to the release namespace and runtimeService is
this release's runtime Service.
*/}}
{{- define "mho.platformConfig" -}}
{{- $p := deepCopy .Values.platform -}}
{{- if and (not $p.signIn.staticUsersSecret) (not $p.signIn.oidc) -}}
{{- fail "platform.signIn: set a sign-in method: platform.signIn.staticUsersSecret, platform.signIn.oidc or both" -}}
{{- end -}}
{{- $_ := set $p "namespace" (include "mho.platformNamespace" .) -}}
{{- $_ := set $p "runtimeService" (dict "name" (include "mho.runtime" .) "namespace" .Release.Namespace "port" .Values.runtime.service.port) -}}
{{- if not $p.issuer }}{{ $_ := unset $p "issuer" }}{{ end -}}
{{- if not $p.signIn.staticUsersSecret }}{{ $_ := unset $p.signIn "staticUsersSecret" }}{{ end -}}
{{- if not $p.signIn.oidc }}{{ $_ := unset $p.signIn "oidc" }}{{ end -}}
{{- if not $p.trustedProxies }}{{ $_ := unset $p "trustedProxies" }}{{ end -}}
{{- if not $p.rateLimits }}{{ $_ := unset $p "rateLimits" }}{{ end -}}
{{- range $p.gatewayRefs }}{{ if not .sectionName }}{{ $_ := unset . "sectionName" }}{{ end }}{{ end -}}
{{- toYaml $p -}}
{{- end -}}
