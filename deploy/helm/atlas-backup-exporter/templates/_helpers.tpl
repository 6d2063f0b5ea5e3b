{{/* The chart's name, or nameOverride. */}}
{{- define "atlas-backup-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of the release's objects: fullnameOverride, else the release name if it holds the
chart's name, else both. 55 characters at most, so that "-shard-N" and pod suffixes still fit.
*/}}
{{- define "atlas-backup-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The labels that select the release's pods. */}}
{{- define "atlas-backup-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atlas-backup-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The recommended labels, on every object and pod. */}}
{{- define "atlas-backup-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "atlas-backup-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: atlas-backup-exporter
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret mounted at credentials.mountPath. */}}
{{- define "atlas-backup-exporter.secretName" -}}
{{- default (include "atlas-backup-exporter.fullname" .) .Values.credentials.existingSecret }}
{{- end }}

{{/* How many shards, checked. */}}
{{- define "atlas-backup-exporter.shards" -}}
{{- $shards := int .Values.sharding.shards }}
{{- if lt $shards 1 }}
{{- fail (printf "sharding.shards must be at least 1, got %v" .Values.sharding.shards) }}
{{- end }}
{{- $shards }}
{{- end }}

{{/* How many pods run: shards, twice with highAvailability. */}}
{{- define "atlas-backup-exporter.pods" -}}
{{- mul (include "atlas-backup-exporter.shards" . | int) (ternary 2 1 .Values.highAvailability.enabled) }}
{{- end }}

{{/* Refuses what must not render: a secret in the configuration, two sources of credentials. */}}
{{- define "atlas-backup-exporter.validate" -}}
{{- with .Values.config.atlas }}
{{- $atlas := . }}
{{- range $block, $key := dict "service_account" "client_secret" "api_key" "private_key" }}
{{- if dig $block $key "" $atlas }}
{{- fail (printf "config.atlas.%s.%s would put a secret in the ConfigMap: set %s_file to a file of credentials.mountPath (%s) instead" $block $key $key $.Values.credentials.mountPath) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.credentials.existingSecret .Values.credentials.data }}
{{- fail "set credentials.existingSecret or credentials.data, not both" }}
{{- end }}
{{- with .Values.storage }}
{{- if .enabled }}
{{- $dir := dir .path }}
{{- if or (not (isAbs .path)) (eq $dir "/") (has $dir (list "/etc/atlas_backup_exporter" (clean $.Values.credentials.mountPath))) }}
{{- fail (printf "storage.path must be an absolute file path in a directory of its own, on which the volume is mounted (not /, the configuration's or credentials.mountPath); got %q" .path) }}
{{- end }}
{{- $pods := include "atlas-backup-exporter.pods" $ | int }}
{{- if and .existingClaim (gt $pods 1) }}
{{- fail (printf "storage.existingClaim is one volume for %d pods, which need a state file each: leave it empty (sharded: a claim per pod from storage.persistentVolume; highAvailability: an emptyDir per pod)" $pods) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The directory the state file's volume is mounted on. */}}
{{- define "atlas-backup-exporter.storageDir" -}}
{{- dir .Values.storage.path }}
{{- end }}

{{/*
The pod template. Takes a dict: root (the chart's context), shardArgs (flags), env (variables
before GOMEMLIMIT), labels (beyond the recommended ones, selector labels included),
claimTemplate (the workload's volumeClaimTemplates provide the storage volume).
*/}}
{{- define "atlas-backup-exporter.podTemplate" -}}
{{- $root := .root }}
{{- with $root }}
metadata:
  labels:
    {{- include "atlas-backup-exporter.labels" . | nindent 4 }}
    {{- with $.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  automountServiceAccountToken: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $podSecurityContext := .Values.podSecurityContext }}
  {{- if and .Values.storage.enabled (not (hasKey $podSecurityContext "fsGroup")) }}
  {{- /* A claim's volume is the pod's group's to write to. */}}
  {{- $podSecurityContext = merge (dict "fsGroup" ($podSecurityContext.runAsGroup | default 65532)) $podSecurityContext }}
  {{- end }}
  securityContext:
    {{- toYaml $podSecurityContext | nindent 4 }}
  {{- if .Values.affinity }}
  affinity:
    {{- toYaml .Values.affinity | nindent 4 }}
  {{- else if gt (include "atlas-backup-exporter.pods" . | int) 1 }}
  # Spread the pods over nodes, so one node's loss stops one shard or replica, not all.
  affinity:
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 100
          podAffinityTerm:
            topologyKey: kubernetes.io/hostname
            labelSelector:
              matchLabels:
                {{- include "atlas-backup-exporter.selectorLabels" . | nindent 16 }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  containers:
    - name: exporter
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config.file=/etc/atlas_backup_exporter/config.yml
        {{- with $.shardArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if .Values.storage.enabled }}
        - --storage.path={{ .Values.storage.path }}
        {{- end }}
        {{- with .Values.extraArgs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- $env := concat ($.env | default list) (ternary (list (dict "name" "GOMEMLIMIT" "value" .Values.goMemLimit)) list (ne .Values.goMemLimit "")) .Values.extraEnv }}
      {{- with $env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - name: http-metrics
          containerPort: 9891
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/atlas_backup_exporter
          readOnly: true
        - name: credentials
          mountPath: {{ .Values.credentials.mountPath }}
          readOnly: true
        {{- if .Values.storage.enabled }}
        - name: storage
          mountPath: {{ include "atlas-backup-exporter.storageDir" . }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "atlas-backup-exporter.fullname" . }}
    - name: credentials
      secret:
        secretName: {{ include "atlas-backup-exporter.secretName" . }}
    {{- if and .Values.storage.enabled (not $.claimTemplate) }}
    - name: storage
      {{- if .Values.storage.existingClaim }}
      persistentVolumeClaim:
        claimName: {{ .Values.storage.existingClaim }}
      {{- else }}
      emptyDir:
        {{- toYaml .Values.storage.emptyDir | nindent 8 }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end }}
