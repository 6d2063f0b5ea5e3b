package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

const (
	chartDir = "helm/atlas-backup-exporter"
	// The release the tests install: named as the kustomizations' objects, in their namespace.
	releaseName = "atlas-backup-exporter"
	namespace   = "monitoring"
)

// operatorValues turn on the ServiceMonitor and PrometheusRule with the release label the
// kustomization sets on them.
const operatorValues = `
serviceMonitor: {enabled: true, additionalLabels: {release: kube-prometheus-stack}}
prometheusRule: {enabled: true, additionalLabels: {release: kube-prometheus-stack}}
`

// helmCases are the values files the tests lint and render.
var helmCases = map[string]string{
	"default":    "",
	"operator":   operatorValues,
	"ha":         operatorValues + "highAvailability: {enabled: true}\n",
	"sharded":    operatorValues + "sharding: {shards: 3}\n",
	"ha-sharded": operatorValues + "sharding: {shards: 3}\nhighAvailability: {enabled: true}\n",
	// The state file on an existing claim, a claim per shard, an emptyDir per replica.
	"storage":         operatorValues + "storage: {enabled: true, existingClaim: atlas-backup-exporter-state}\n",
	"sharded-storage": operatorValues + "sharding: {shards: 3}\nstorage: {enabled: true, persistentVolume: {storageClass: fast}}\n",
	"ha-storage":      operatorValues + "highAvailability: {enabled: true}\nstorage: {enabled: true}\n",
}

func helmValues(t *testing.T, values string) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		t.Fatalf("values %q: %v", values, err)
	}
	return v
}

// helmTemplate renders the chart with values as `helm template` does (chart defaults coalesced
// with values, the release's context, Helm's template engine; partials and NOTES.txt left out),
// and returns its objects by kind/name. Helm's action package would do the same through ~400
// more packages of Kubernetes client code.
func helmTemplate(t *testing.T, values string) (map[string]map[string]any, error) {
	t.Helper()
	chart, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := chartutil.ToRenderValues(chart, helmValues(t, values),
		chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}, nil)
	if err != nil {
		return nil, err
	}
	rendered, err := engine.Render(chart, top)
	if err != nil {
		return nil, err
	}
	objects := map[string]map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(rendered)) {
		if base := path.Base(name); strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(rendered[name]))
		for {
			var o map[string]any
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, rendered[name])
			}
			if o != nil {
				key := fmt.Sprintf("%s/%s", o["kind"], dig(o, "metadata", "name"))
				if objects[key] != nil {
					t.Fatalf("%s rendered twice", key)
				}
				objects[key] = o
			}
		}
	}
	return objects, nil
}

func mustTemplate(t *testing.T, values string) map[string]map[string]any {
	t.Helper()
	objects, err := helmTemplate(t, values)
	if err != nil {
		t.Fatalf("helm template with %q: %v", values, err)
	}
	return objects
}

// byKind returns the one object of kind among objects.
func byKind(t *testing.T, objects map[string]map[string]any, kind string) map[string]any {
	t.Helper()
	var found []map[string]any
	for _, o := range objects {
		if o["kind"] == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects of kind %s rendered, want one", len(found), kind)
	}
	return found[0]
}

// TestHelmLint runs `helm lint` on the chart with each case's values: no warning, no error.
func TestHelmLint(t *testing.T) {
	for name, values := range helmCases {
		linter := lint.AllWithKubeVersion(chartDir, helmValues(t, values), namespace, nil)
		for _, m := range linter.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("%s values: %s", name, m)
			}
		}
	}
}

// TestHelmMatchesKustomize renders the chart and builds the kustomizations, unsharded and
// sharded, and compares what both apply. Intended differences, left out below:
//   - selectors: the chart selects its pods by name and instance, as the prometheus-community
//     charts do, so that two releases in one namespace keep apart; the kustomization by name
//     alone, since a Deployment's selector cannot change once applied. Each selector is checked
//     to select its own pods instead.
//   - the ConfigMap's name: kustomize suffixes a hash of its data (the chart rolls the pods with
//     the checksum/config annotation instead); each pod template is checked to mount its own.
//   - imagePullPolicy: the chart sets IfNotPresent, as the prometheus-community charts do, which
//     is what Kubernetes defaults to for the kustomization's tagged image.
//   - pod template metadata (the chart's checksum annotation, helm.sh/chart and
//     managed-by: Helm); TestHelmLabels and TestKustomizeLabels check the labels.
func TestHelmMatchesKustomize(t *testing.T) {
	for _, c := range []struct{ values, dir, workload string }{
		{"operator", "kubernetes", "Deployment"},
		{"sharded", "kubernetes-sharded", "StatefulSet"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			rendered := mustTemplate(t, helmCases[c.values])
			built := kustomizeBuild(t, c.dir)
			var kinds []string
			helm := map[string]map[string]any{}
			for _, o := range rendered {
				kinds = append(kinds, o["kind"].(string))
				helm[o["kind"].(string)] = o
			}
			if want := slices.Sorted(maps.Keys(built)); !slices.Equal(slices.Sorted(slices.Values(kinds)), want) {
				t.Fatalf("the chart renders %q, the kustomization applies %q", slices.Sorted(slices.Values(kinds)), want)
			}
			for _, objects := range []map[string]map[string]any{helm, built} {
				comparable(t, objects, c.workload)
			}
			for kind := range built {
				if kind == "ConfigMap" {
					var h, k any
					if err := yaml.Unmarshal([]byte(dig(helm[kind], "data", "config.yml").(string)), &h); err != nil {
						t.Fatal(err)
					}
					if err := yaml.Unmarshal([]byte(dig(built[kind], "data", "config.yml").(string)), &k); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(h, k) {
						t.Errorf("ConfigMap: the chart's configuration\n%v\nthe kustomization's\n%v", h, k)
					}
					continue
				}
				if h, k := normalise(t, helm[kind]["spec"]), normalise(t, built[kind]["spec"]); !reflect.DeepEqual(h, k) {
					t.Errorf("%s differs:\nhelm:      %v\nkustomize: %v", kind, h, k)
				}
				if h, k := dig(helm[kind], "metadata", "labels", "release"), dig(built[kind], "metadata", "labels", "release"); h != k {
					t.Errorf("%s: release label %v, the kustomization's %v", kind, h, k)
				}
			}
		})
	}
}

// comparable checks that the selectors of objects (one per kind) select the workload's pods and
// its pod template mounts the ConfigMap rendered, then removes what TestHelmMatchesKustomize
// leaves out of the comparison.
func comparable(t *testing.T, objects map[string]map[string]any, workload string) {
	t.Helper()
	pods := dig(objects[workload], "spec", "template", "metadata", "labels").(map[string]any)
	selector := func(o map[string]any, labels map[string]any, path ...any) {
		t.Helper()
		parent := dig(o, path[:len(path)-1]...).(map[string]any)
		sel, _ := parent[path[len(path)-1].(string)].(map[string]any)
		if len(sel) == 0 || !selects(sel, labels) {
			t.Errorf("%s: selector %v does not select %v", o["kind"], sel, labels)
		}
		delete(parent, path[len(path)-1].(string))
	}
	w := objects[workload]
	selector(w, pods, "spec", "selector", "matchLabels")
	delete(dig(w, "spec", "template").(map[string]any), "metadata")
	pod := dig(w, "spec", "template", "spec").(map[string]any)
	if dig(pod, "affinity") != nil {
		selector(w, pods, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0,
			"podAffinityTerm", "labelSelector", "matchLabels")
	}
	delete(dig(pod, "containers", 0).(map[string]any), "imagePullPolicy")
	for _, v := range pod["volumes"].([]any) {
		if cm, ok := dig(v, "configMap").(map[string]any); ok {
			if cm["name"] != dig(objects["ConfigMap"], "metadata", "name") {
				t.Errorf("%s mounts ConfigMap %v, not %v", workload, cm["name"], dig(objects["ConfigMap"], "metadata", "name"))
			}
			delete(cm, "name")
		}
	}
	selector(objects["Service"], pods, "spec", "selector")
	selector(objects["ServiceMonitor"], dig(objects["Service"], "metadata", "labels").(map[string]any), "spec", "selector", "matchLabels")
	if pdb := objects["PodDisruptionBudget"]; pdb != nil {
		selector(pdb, pods, "spec", "selector", "matchLabels")
	}
}

// TestHelmPrometheusRule: the chart's PrometheusRule carries alerts.yml's groups, from
// files/alerts.yml, a copy of alerts.yml that `go test ./deploy -update` makes.
func TestHelmPrometheusRule(t *testing.T) {
	path := chartDir + "/files/alerts.yml"
	alerts, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, alerts, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copied, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied, alerts) {
		t.Errorf("%s differs from prometheus/alerts.yml; run go test ./deploy -update", path)
	}
	var want struct {
		Groups []any `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &want)
	rule := byKind(t, mustTemplate(t, operatorValues), "PrometheusRule")
	if got := dig(rule, "spec", "groups"); len(want.Groups) == 0 || !reflect.DeepEqual(normalise(t, got), normalise(t, want.Groups)) {
		t.Errorf("the chart's PrometheusRule differs from prometheus/alerts.yml")
	}
	if len(mustTemplate(t, "")) != 3 {
		t.Errorf("default values render more than the ConfigMap, Deployment and Service")
	}
}

// TestHelmHighAvailability: highAvailability runs two replicas of every shard, the very pod of
// the chart's defaults otherwise; sharded, a Deployment per shard told its shard, whose
// selectors keep the shards apart; the Service, the PodDisruptionBudget and the pods'
// anti-affinity cover all of them.
func TestHelmHighAvailability(t *testing.T) {
	basePod := normalise(t, dig(byKind(t, mustTemplate(t, ""), "Deployment"), "spec", "template", "spec")).(map[string]any)

	ha := mustTemplate(t, helmCases["ha"])
	d := byKind(t, ha, "Deployment")
	if dig(d, "spec", "replicas") != 2 {
		t.Errorf("highAvailability: %v replicas", dig(d, "spec", "replicas"))
	}
	pod := normalise(t, dig(d, "spec", "template", "spec")).(map[string]any)
	if dig(pod, "affinity", "podAntiAffinity") == nil {
		t.Errorf("highAvailability: the replicas are not spread: %v", pod["affinity"])
	}
	delete(pod, "affinity")
	if !reflect.DeepEqual(pod, basePod) {
		t.Errorf("highAvailability: the pod differs from the default's:\n%v\n%v", pod, basePod)
	}
	if pdb := byKind(t, ha, "PodDisruptionBudget"); dig(pdb, "spec", "maxUnavailable") != 1 {
		t.Errorf("highAvailability: disruption budget %v", dig(pdb, "spec"))
	}

	shards := mustTemplate(t, helmCases["ha-sharded"])
	service := byKind(t, shards, "Service")
	pdb := byKind(t, shards, "PodDisruptionBudget")
	if dig(service, "spec", "clusterIP") != "None" {
		t.Errorf("sharded: the Service is not headless: %v", dig(service, "spec"))
	}
	var podLabels []map[string]any
	for i := range 3 {
		name := fmt.Sprintf("Deployment/%s-shard-%d", releaseName, i)
		d := shards[name]
		if d == nil {
			t.Fatalf("no %s among %q", name, slices.Sorted(maps.Keys(shards)))
		}
		if dig(d, "spec", "replicas") != 2 {
			t.Errorf("%s: %v replicas", name, dig(d, "spec", "replicas"))
		}
		args := dig(d, "spec", "template", "spec", "containers", 0, "args").([]any)
		if want := []any{"--config.file=/etc/atlas_backup_exporter/config.yml", "--total-shards=3", fmt.Sprintf("--shard=%d", i)}; !reflect.DeepEqual(args, want) {
			t.Errorf("%s: args %q, want %q", name, args, want)
		}
		labels := dig(d, "spec", "template", "metadata", "labels").(map[string]any)
		for _, sel := range []any{dig(service, "spec", "selector"), dig(pdb, "spec", "selector", "matchLabels"),
			dig(d, "spec", "template", "spec", "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", 0, "podAffinityTerm", "labelSelector", "matchLabels")} {
			if !selects(sel.(map[string]any), labels) {
				t.Errorf("%s: selector %v does not select its pods %v", name, sel, labels)
			}
		}
		podLabels = append(podLabels, labels)
	}
	for i := range 3 {
		sel := dig(shards[fmt.Sprintf("Deployment/%s-shard-%d", releaseName, i)], "spec", "selector", "matchLabels").(map[string]any)
		for j, labels := range podLabels {
			if selects(sel, labels) != (i == j) {
				t.Errorf("the selector of shard %d (%v) and the pods of shard %d (%v): selected %v", i, sel, j, labels, i != j)
			}
		}
	}
	if n := len(shards); n != 8 { // ConfigMap, 3 Deployments, Service, PDB, ServiceMonitor, PrometheusRule
		t.Errorf("%d objects rendered: %q", n, slices.Sorted(maps.Keys(shards)))
	}
}

// checksums returns the checksum/config annotation of each workload's pod template.
func checksums(t *testing.T, values string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for name, o := range mustTemplate(t, values) {
		if o["kind"] == "Deployment" || o["kind"] == "StatefulSet" {
			out[name] = dig(o, "spec", "template", "metadata", "annotations", "checksum/config")
		}
	}
	return out
}

// TestHelmConfigChecksum: a change of the configuration changes the pod template of every
// workload (so the pods roll onto it), and other changes do not touch the annotation.
func TestHelmConfigChecksum(t *testing.T) {
	for _, base := range []string{"", helmCases["sharded"], helmCases["ha-sharded"]} {
		before := checksums(t, base)
		if len(before) == 0 {
			t.Fatalf("no workload rendered with %q", base)
		}
		edited := checksums(t, base+"config: {min_refresh_interval: 10m}\n")
		other := checksums(t, base+"resources: {limits: {memory: 1Gi}}\n")
		for name, sum := range before {
			if s, _ := sum.(string); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(s) {
				t.Errorf("%s: checksum/config %v", name, sum)
			}
			if edited[name] == sum {
				t.Errorf("%s: the same checksum/config after a config change: the pods would not roll", name)
			}
			if other[name] != sum {
				t.Errorf("%s: checksum/config changed with the resources", name)
			}
		}
	}
}

// TestHelmCredentials: the pods mount the Secret named, or the one the chart creates; no
// secret reaches the ConfigMap, and the chart refuses one put there or two sources of
// credentials, without quoting the secret.
func TestHelmCredentials(t *testing.T) {
	mounted := func(objects map[string]map[string]any) any {
		for _, v := range dig(byKind(t, objects, "Deployment"), "spec", "template", "spec", "volumes").([]any) {
			if dig(v, "name") == "credentials" {
				return dig(v, "secret", "secretName")
			}
		}
		return nil
	}
	secrets := func(objects map[string]map[string]any) []string {
		var names []string
		for name, o := range objects {
			if o["kind"] == "Secret" {
				names = append(names, name)
			}
		}
		return names
	}
	def := mustTemplate(t, "")
	if got := mounted(def); got != releaseName || len(secrets(def)) != 0 {
		t.Errorf("default: mounts %v, renders Secrets %q", got, secrets(def))
	}
	existing := mustTemplate(t, "credentials: {existingSecret: my-atlas-credentials}\n")
	if got := mounted(existing); got != "my-atlas-credentials" || len(secrets(existing)) != 0 {
		t.Errorf("existingSecret: mounts %v, renders Secrets %q", got, secrets(existing))
	}
	const secret = "s3cr3t-from-values"
	created := mustTemplate(t, "credentials: {data: {client-secret: "+secret+"}}\n")
	s := created["Secret/"+releaseName]
	if got := mounted(created); got != releaseName || s == nil {
		t.Fatalf("data: mounts %v, renders Secrets %q", got, secrets(created))
	}
	if b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(dig(s, "data", "client-secret"))); string(b) != secret || len(dig(s, "data").(map[string]any)) != 1 {
		t.Errorf("the Secret holds %v", dig(s, "data"))
	}
	if cm := fmt.Sprint(byKind(t, created, "ConfigMap")); strings.Contains(cm, secret) {
		t.Errorf("the ConfigMap holds the secret: %s", cm)
	}

	for values, want := range map[string]string{
		"credentials: {existingSecret: mine, data: {client-secret: " + secret + "}}\n": "set credentials.existingSecret or credentials.data, not both",
		"config: {atlas: {service_account: {client_secret: " + secret + "}}}\n":        "config.atlas.service_account.client_secret would put a secret in the ConfigMap: set client_secret_file to a file of credentials.mountPath (/run/secrets/atlas) instead",
		"config: {atlas: {api_key: {public_key: abc, private_key: " + secret + "}}}\n": "config.atlas.api_key.private_key would put a secret in the ConfigMap: set private_key_file to a file of credentials.mountPath (/run/secrets/atlas) instead",
		"sharding: {shards: 0}\n": "sharding.shards must be at least 1, got 0",
	} {
		_, err := helmTemplate(t, values)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), secret) {
			t.Errorf("values %q: error %v, want %q (and no secret)", values, err, want)
		}
	}
}

// TestHelmLabels: every object of every case, and every pod, carries the recommended labels,
// the version being the VERSION file's, which is also the chart's appVersion and the image tag.
func TestHelmLabels(t *testing.T) {
	version := readVersionFile(t)
	var chart struct {
		AppVersion string `yaml:"appVersion"`
	}
	readYAML(t, chartDir+"/Chart.yaml", &chart)
	if chart.AppVersion != version {
		t.Errorf("Chart.yaml's appVersion %q, VERSION %q", chart.AppVersion, version)
	}
	want := maps.Clone(recommendedLabels)
	want["app.kubernetes.io/version"] = version
	want["app.kubernetes.io/instance"] = releaseName
	want["app.kubernetes.io/managed-by"] = "Helm"
	for name, values := range helmCases {
		for key, o := range mustTemplate(t, values) {
			check := func(where string, labels any) {
				m, _ := labels.(map[string]any)
				for k, v := range want {
					if m[k] != v {
						t.Errorf("%s values: %s %s: label %s = %v, want %q", name, key, where, k, m[k], v)
					}
				}
			}
			check("metadata", dig(o, "metadata", "labels"))
			if o["kind"] == "Deployment" || o["kind"] == "StatefulSet" {
				check("pod template", dig(o, "spec", "template", "metadata", "labels"))
				if image := dig(o, "spec", "template", "spec", "containers", 0, "image"); image != "atlas_backup_exporter:"+version {
					t.Errorf("%s values: %s runs %v", name, key, image)
				}
			}
			if ns := dig(o, "metadata", "namespace"); ns != namespace {
				t.Errorf("%s values: %s in namespace %v", name, key, ns)
			}
		}
	}
}

// storageOf is what of a workload concerns the state file: its container's args, its mount and
// volume named storage, the pods' fsGroup, the update strategy and the claim templates.
func storageOf(t *testing.T, workload map[string]any) map[string]any {
	t.Helper()
	pod := dig(workload, "spec", "template", "spec")
	named := func(list any) []any {
		var out []any
		for _, v := range list.([]any) {
			if dig(v, "name") == "storage" {
				out = append(out, v)
			}
		}
		return out
	}
	return normalise(t, map[string]any{
		"args":     dig(pod, "containers", 0, "args"),
		"mounts":   named(dig(pod, "containers", 0, "volumeMounts")),
		"volumes":  named(dig(pod, "volumes")),
		"fsGroup":  dig(pod, "securityContext", "fsGroup"),
		"strategy": dig(workload, "spec", "strategy"),
		"claims":   dig(workload, "spec", "volumeClaimTemplates"),
	}).(map[string]any)
}

// TestHelmStorage: storage.enabled passes --storage.path and mounts a volume, writable by the
// pods' group, on its directory: a claim per pod in the sharded StatefulSet, an existing claim
// (and pods recreated, not rolled) or an emptyDir for the single pod of a Deployment, an
// emptyDir for each replica with highAvailability. Off, nothing of it renders.
func TestHelmStorage(t *testing.T) {
	const (
		config   = "--config.file=/etc/atlas_backup_exporter/config.yml"
		arg      = "--storage.path=/var/lib/atlas_backup_exporter/state.json"
		mount    = "[{name: storage, mountPath: /var/lib/atlas_backup_exporter}]"
		emptyDir = "[{name: storage, emptyDir: {}}]"
		claims   = "[{metadata: {name: storage, labels: {app.kubernetes.io/name: atlas-backup-exporter, app.kubernetes.io/instance: atlas-backup-exporter}}, spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: %s}}%s}}]"
		sharded  = "sharding: {shards: 3}\n"
	)
	deployment, statefulSet := "Deployment/"+releaseName, "StatefulSet/"+releaseName
	for _, c := range []struct {
		name, values, workload string
		want                   string // storageOf the workload, as YAML
	}{
		{"off", "", deployment,
			"{args: [" + config + "], mounts: null, volumes: null, fsGroup: null, strategy: null, claims: null}"},
		{"off, sharded", sharded, statefulSet,
			"{args: [" + config + ", --total-shards=3, --shard.from-pod-name=$(POD_NAME)], mounts: null, volumes: null, fsGroup: null, strategy: null, claims: null}"},
		{"emptyDir", "storage: {enabled: true}\nextraArgs: [--log.level=debug]\n", deployment,
			"{args: [" + config + ", " + arg + ", --log.level=debug], mounts: " + mount + ", volumes: " + emptyDir + ", fsGroup: 65532, strategy: null, claims: null}"},
		{"emptyDir elsewhere", "storage: {enabled: true, path: /data/state.json, emptyDir: {sizeLimit: 64Mi}}\npodSecurityContext: {fsGroup: 2000}\n", deployment,
			"{args: [" + config + ", --storage.path=/data/state.json], mounts: [{name: storage, mountPath: /data}], volumes: [{name: storage, emptyDir: {sizeLimit: 64Mi}}], fsGroup: 2000, strategy: null, claims: null}"},
		{"existingClaim", "storage: {enabled: true, existingClaim: atlas-state}\n", deployment,
			"{args: [" + config + ", " + arg + "], mounts: " + mount + ", volumes: [{name: storage, persistentVolumeClaim: {claimName: atlas-state}}], fsGroup: 65532, strategy: {type: Recreate}, claims: null}"},
		{"highAvailability", "highAvailability: {enabled: true}\nstorage: {enabled: true}\n", deployment,
			"{args: [" + config + ", " + arg + "], mounts: " + mount + ", volumes: " + emptyDir + ", fsGroup: 65532, strategy: null, claims: null}"},
		{"highAvailability, sharded", sharded + "highAvailability: {enabled: true}\nstorage: {enabled: true}\n", deployment + "-shard-2",
			"{args: [" + config + ", --total-shards=3, --shard=2, " + arg + "], mounts: " + mount + ", volumes: " + emptyDir + ", fsGroup: 65532, strategy: null, claims: null}"},
		{"sharded", sharded + "storage: {enabled: true}\n", statefulSet,
			"{args: [" + config + ", --total-shards=3, --shard.from-pod-name=$(POD_NAME), " + arg + "], mounts: " + mount + ", volumes: null, fsGroup: 65532, strategy: null, claims: " + fmt.Sprintf(claims, "100Mi", "") + "}"},
		{"sharded, storage class", sharded + "storage: {enabled: true, persistentVolume: {size: 1Gi, storageClass: fast}}\n", statefulSet,
			"{args: [" + config + ", --total-shards=3, --shard.from-pod-name=$(POD_NAME), " + arg + "], mounts: " + mount + ", volumes: null, fsGroup: 65532, strategy: null, claims: " + fmt.Sprintf(claims, "1Gi", ", storageClassName: fast") + "}"},
		{"sharded, no storage class", sharded + "storage: {enabled: true, persistentVolume: {storageClass: \"-\"}}\n", statefulSet,
			"{args: [" + config + ", --total-shards=3, --shard.from-pod-name=$(POD_NAME), " + arg + "], mounts: " + mount + ", volumes: null, fsGroup: 65532, strategy: null, claims: " + fmt.Sprintf(claims, "100Mi", `, storageClassName: ""`) + "}"},
	} {
		objects := mustTemplate(t, c.values)
		w := objects[c.workload]
		if w == nil {
			t.Errorf("%s: no %s among %q", c.name, c.workload, slices.Sorted(maps.Keys(objects)))
			continue
		}
		var want any
		if err := yaml.Unmarshal([]byte(c.want), &want); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := storageOf(t, w); !reflect.DeepEqual(got, normalise(t, want)) {
			t.Errorf("%s: %s renders\n%v\nwant\n%v", c.name, c.workload, got, normalise(t, want))
		}
	}

	for values, want := range map[string]string{
		"storage: {enabled: true, existingClaim: atlas-state}\nhighAvailability: {enabled: true}\n": "storage.existingClaim is one volume for 2 pods, which need a state file each: leave it empty (sharded: a claim per pod from storage.persistentVolume; highAvailability: an emptyDir per pod)",
		"storage: {enabled: true, existingClaim: atlas-state}\n" + sharded:                          "storage.existingClaim is one volume for 3 pods",
		"storage: {enabled: true, path: state.json}\n":                                              `storage.path must be an absolute file path in a directory of its own, on which the volume is mounted (not /, the configuration's or credentials.mountPath); got "state.json"`,
		"storage: {enabled: true, path: /state.json}\n":                                             `got "/state.json"`,
		"storage: {enabled: true, path: /run/secrets/atlas/state.json}\n":                           `got "/run/secrets/atlas/state.json"`,
		"storage: {enabled: true, path: /etc/atlas_backup_exporter/state.json}\n":                   `got "/etc/atlas_backup_exporter/state.json"`,
	} {
		_, err := helmTemplate(t, values)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("values %q: error %v, want %q", values, err, want)
		}
	}
	// Refused only when on.
	mustTemplate(t, "storage: {existingClaim: atlas-state, path: state.json}\nhighAvailability: {enabled: true}\n")
}
