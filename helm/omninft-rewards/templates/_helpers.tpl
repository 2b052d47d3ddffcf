{{/* Chart name, trimmed to the 63-character label limit. */}}
{{- define "omninft-rewards.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name of every object. */}}
{{- define "omninft-rewards.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "omninft-rewards.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "omninft-rewards.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels that identify the release (part of every selector). */}}
{{- define "omninft-rewards.selectorLabels" -}}
app.kubernetes.io/name: {{ include "omninft-rewards.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Descriptive labels that never take part in a selector. */}}
{{- define "omninft-rewards.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: omninft
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of release-wide objects. */}}
{{- define "omninft-rewards.labels" -}}
{{ include "omninft-rewards.commonLabels" . }}
{{ include "omninft-rewards.selectorLabels" . }}
{{- end }}

{{/* Selector of every reward-server pod of the release. */}}
{{- define "omninft-rewards.serverSelector" -}}
{{ include "omninft-rewards.selectorLabels" . }}
app.kubernetes.io/component: reward-server
{{- end }}

{{/* Pool name of scorer .name: <fullname>-<scorer with '_' as '-'>, DNS-safe. */}}
{{- define "omninft-rewards.poolName" -}}
{{- printf "%s-%s" (include "omninft-rewards.fullname" .root) (.name | replace "_" "-") | trunc 54 | trimSuffix "-" }}
{{- end }}

{{/* Selector of one pool's pods. */}}
{{- define "omninft-rewards.poolSelector" -}}
{{ include "omninft-rewards.serverSelector" .root }}
omninft.io/scorer: {{ .name | quote }}
{{- end }}

{{/* Deep merge of .src over .dst (maps merge key by key; false/0/"" in .src still win), as YAML. */}}
{{- define "omninft-rewards.merge" -}}
{{- $dst := deepCopy .dst -}}
{{- range $k, $v := .src }}
{{- $cur := index $dst $k }}
{{- if and (kindIs "map" $v) (kindIs "map" $cur) }}
{{- $_ := set $dst $k (include "omninft-rewards.merge" (dict "dst" $cur "src" $v) | fromYaml) }}
{{- else }}
{{- $_ := set $dst $k $v }}
{{- end }}
{{- end }}
{{- toYaml $dst }}
{{- end }}

{{/* scorerDefaults with scorers.<name> merged over it, as YAML. */}}
{{- define "omninft-rewards.scorer" -}}
{{- include "omninft-rewards.merge" (dict "dst" .root.Values.scorerDefaults "src" (index .root.Values.scorers .name)) }}
{{- end }}

{{/* Chart-level (Kubernetes) keys of a scorer entry; every other key is an omninft-serve ScorerConfig key. */}}
{{- define "omninft-rewards.kubernetesScorerKeys" -}}
enabled engine replicas image resources nodeSelector tolerations affinity podAnnotations podLabels priorityClassName extraEnv shmSize pdb autoscaling
{{- end }}

{{/* The omninft-serve config (YAML) of scorer .name's pool. */}}
{{- define "omninft-rewards.serverConfig" -}}
{{- $root := .root }}
{{- $sc := include "omninft-rewards.scorer" . | fromYaml }}
{{- $server := deepCopy $root.Values.server }}
{{- $_ := set $server "host" "0.0.0.0" }}
{{- if $root.Values.tls.enabled }}
{{- $tls := dict "certFile" "/etc/omninft/tls/tls.crt" "keyFile" "/etc/omninft/tls/tls.key" }}
{{- if $root.Values.tls.mutual }}
{{- $_ := set $tls "clientCaFile" "/etc/omninft/tls/ca.crt" }}
{{- $_ := set $tls "requireClientAuth" true }}
{{- end }}
{{- $_ := set $server "tls" $tls }}
{{- else }}
{{- $_ := set $server "healthPort" -1 }}
{{- end }}
{{- if $root.Values.auth.enabled }}
{{- $_ := set $server "authTokenFile" (printf "/etc/omninft/auth/%s" $root.Values.auth.key) }}
{{- end }}
{{- $scorerCfg := dict }}
{{- $k8sKeys := splitList " " (include "omninft-rewards.kubernetesScorerKeys" .) }}
{{- range $k, $v := $sc }}
{{- if not (has $k $k8sKeys) }}
{{- $_ := set $scorerCfg $k $v }}
{{- end }}
{{- end }}
{{- $_ := set $server "scorers" (dict .name $scorerCfg) }}
{{- toYaml $server }}
{{- end }}

{{/* Image reference of a pool: an empty tag becomes <appVersion>-cuda or -cpu from the device. */}}
{{- define "omninft-rewards.image" -}}
{{- $img := .image }}
{{- $variant := ternary "cuda" "cpu" (hasPrefix "cuda" (toString .device)) }}
{{- $tag := $img.tag | default (printf "%s-%s" .root.Chart.AppVersion $variant) }}
{{- printf "%s:%s" $img.repository $tag }}
{{- end }}

{{/* Port the probes use: the plaintext health-only port under TLS, else the gRPC port. */}}
{{- define "omninft-rewards.probePort" -}}
{{- if .Values.tls.enabled }}{{ .Values.server.healthPort | int }}{{ else }}{{ .Values.server.port | int }}{{ end }}
{{- end }}

{{/* The service account name. */}}
{{- define "omninft-rewards.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "omninft-rewards.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Name of the weights PVC, or "" when pods get no PVC. */}}
{{- define "omninft-rewards.weightsClaim" -}}
{{- $w := .Values.weights }}
{{- if $w.pvc.existingClaim }}
{{- $w.pvc.existingClaim }}
{{- else if and $w.pvc.create (eq $w.mode "pvc") }}
{{- printf "%s-weights" (include "omninft-rewards.fullname" .) }}
{{- end }}
{{- end }}

{{/* Enabled scorers whose weights are the official checkpoints (what the fetch Job downloads). */}}
{{- define "omninft-rewards.officialScorers" -}}
{{- $out := list }}
{{- range $name, $_ := .Values.scorers }}
{{- $sc := include "omninft-rewards.scorer" (dict "root" $ "name" $name) | fromYaml }}
{{- if and $sc.enabled (eq (toString $sc.weights) "official") }}
{{- $out = append $out $name }}
{{- end }}
{{- end }}
{{- join " " $out }}
{{- end }}

{{/* Checks that fail `helm install` with a clear message where the schema cannot express the rule. */}}
{{- define "omninft-rewards.validate" -}}
{{- $v := .Values }}
{{- if and $v.tls.enabled (not $v.tls.secretName) }}{{ fail "tls.enabled needs tls.secretName (a kubernetes.io/tls Secret)" }}{{ end }}
{{- if and $v.tls.enabled (le (int $v.server.healthPort) 0) }}{{ fail "tls.enabled needs server.healthPort > 0: kubelet's gRPC probes cannot speak TLS" }}{{ end }}
{{- if and $v.auth.enabled (not $v.auth.secretName) }}{{ fail "auth.enabled needs auth.secretName (a Secret holding the bearer token)" }}{{ end }}
{{- if le (int $v.server.metricsPort) 0 }}{{ fail "server.metricsPort must be a fixed port (> 0) in Kubernetes" }}{{ end }}
{{- if or (eq (int $v.server.healthPort) (int $v.server.port)) (eq (int $v.server.healthPort) (int $v.server.metricsPort)) (eq (int $v.server.port) (int $v.server.metricsPort)) }}{{ fail "server.port, server.metricsPort and server.healthPort must differ" }}{{ end }}
{{- if and (eq $v.weights.mode "pvc") (not $v.weights.pvc.create) (not $v.weights.pvc.existingClaim) }}{{ fail "weights.mode=pvc needs weights.pvc.create=true or weights.pvc.existingClaim" }}{{ end }}
{{- $enabled := 0 }}
{{- range $name, $_ := $v.scorers }}
{{- $sc := include "omninft-rewards.scorer" (dict "root" $ "name" $name) | fromYaml }}
{{- if $sc.enabled }}
{{- $enabled = add1 $enabled }}
{{- $limits := default dict $sc.resources.limits }}
{{- if and (not (hasPrefix "cuda" (toString $sc.device))) (hasKey $limits "nvidia.com/gpu") }}
{{- fail (printf "scorers.%s: a GPU is requested but device is %s; set device: cuda:0 or drop nvidia.com/gpu" $name $sc.device) }}
{{- end }}
{{- if and (eq (toString $sc.engine) "triton") (or $v.tls.enabled $v.auth.enabled) }}
{{- fail (printf "scorers.%s: engine triton pools serve plaintext without a token in this chart; turn tls/auth off or use engine omninft" $name) }}
{{- end }}
{{- if and (eq (toString $sc.engine) "triton") (eq $v.weights.mode "initContainer") (eq (toString $sc.weights) "official") }}
{{- fail (printf "scorers.%s: engine triton pools read official weights from the weights PVC (weights.mode pvc)" $name) }}
{{- end }}
{{- if and (eq (toString $sc.engine) "triton") $sc.autoscaling.enabled $sc.autoscaling.queueTime.enabled }}
{{- fail (printf "scorers.%s: queueTime autoscaling reads omninft metrics; an engine triton pool scales on cpu only" $name) }}
{{- end }}
{{- if and (eq (toString $sc.backend) "tensorrt") (not (hasPrefix "cuda" (toString $sc.device))) }}
{{- fail (printf "scorers.%s: backend tensorrt needs a cuda device" $name) }}
{{- end }}
{{- if and $sc.autoscaling.enabled (lt (int $sc.autoscaling.maxReplicas) (int $sc.autoscaling.minReplicas)) }}
{{- fail (printf "scorers.%s: autoscaling.maxReplicas < minReplicas" $name) }}
{{- end }}
{{- if and $sc.autoscaling.enabled (not $sc.autoscaling.queueTime.enabled) (not $sc.autoscaling.cpu.targetUtilization) }}
{{- fail (printf "scorers.%s: autoscaling needs queueTime.enabled or cpu.targetUtilization" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- if eq $enabled 0 }}{{ fail "no scorer is enabled: set scorers.<name>.enabled=true" }}{{ end }}
{{- end }}

{{/* Container resources of a pool: cuda pools get one whole GPU unless they ask for GPUs or MIG slices. */}}
{{- define "omninft-rewards.resources" -}}
{{- $res := deepCopy (default dict .resources) }}
{{- $limits := default dict $res.limits }}
{{- $hasGpu := false }}
{{- range $k, $_ := $limits }}{{ if hasPrefix "nvidia.com/" $k }}{{ $hasGpu = true }}{{ end }}{{ end }}
{{- if and (hasPrefix "cuda" (toString .device)) (not $hasGpu) }}
{{- $_ := set $limits "nvidia.com/gpu" 1 }}
{{- end }}
{{- if $limits }}{{ $_ := set $res "limits" $limits }}{{ end }}
{{- toYaml $res }}
{{- end }}
