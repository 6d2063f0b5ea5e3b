package deploy

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// recommendedLabels are the app.kubernetes.io labels the kustomizations put on every object
// and pod, version aside.
var recommendedLabels = map[string]string{
	"app.kubernetes.io/name":       "atlas-backup-exporter",
	"app.kubernetes.io/instance":   "atlas-backup-exporter",
	"app.kubernetes.io/component":  "exporter",
	"app.kubernetes.io/part-of":    "atlas-backup-exporter",
	"app.kubernetes.io/managed-by": "kustomize",
}

// TestKustomizeLabels: every object both kustomizations apply, and every pod they run, carries
// the recommended labels with the version of the VERSION file; the pods are selected by name
// alone (a Deployment's selector cannot change once applied, and the version changes).
func TestKustomizeLabels(t *testing.T) {
	want := maps.Clone(recommendedLabels)
	want["app.kubernetes.io/version"] = readVersionFile(t)
	for _, dir := range []string{"kubernetes", "kubernetes-sharded"} {
		objects := kustomizeBuild(t, dir)
		for kind, o := range objects {
			check := func(where string, labels any) {
				m, _ := labels.(map[string]any)
				for k, v := range want {
					if m[k] != v {
						t.Errorf("%s: %s %s: label %s = %v, want %q", dir, kind, where, k, m[k], v)
					}
				}
			}
			check("metadata", dig(o, "metadata", "labels"))
			if kind != "Deployment" && kind != "StatefulSet" {
				continue
			}
			check("pod template", dig(o, "spec", "template", "metadata", "labels"))
			if sel := dig(o, "spec", "selector", "matchLabels").(map[string]any); len(sel) != 1 || sel["app.kubernetes.io/name"] != "atlas-backup-exporter" {
				t.Errorf("%s: %s selects %v, want the name alone", dir, kind, sel)
			}
		}
	}
}

// TestConfigEditRollsPods edits deploy/kubernetes/config.yml (in a copy in memory) and checks
// that both kustomizations then apply a ConfigMap of another name, which the pod template of the
// Deployment or StatefulSet names: the edit changes the pod template, so the pods roll onto it.
func TestConfigEditRollsPods(t *testing.T) {
	fs := filesys.MakeFsInMemory()
	for _, dir := range []string{"kubernetes", "kubernetes-sharded"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := fs.WriteFile(filepath.Join("/deploy", dir, e.Name()), raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	// configMaps returns, per kustomization, the ConfigMap it applies and the one its pods mount.
	configMaps := func() map[string][2]string {
		out := map[string][2]string{}
		for dir, workload := range map[string]string{"kubernetes": "Deployment", "kubernetes-sharded": "StatefulSet"} {
			objects := kustomizeBuildFS(t, fs, "/deploy/"+dir)
			var mounted string
			for _, v := range dig(objects[workload], "spec", "template", "spec", "volumes").([]any) {
				if dig(v, "name") == "config" {
					mounted, _ = dig(v, "configMap", "name").(string)
				}
			}
			applied, _ := dig(objects["ConfigMap"], "metadata", "name").(string)
			if !strings.HasPrefix(applied, "atlas-backup-exporter-") || mounted != applied {
				t.Errorf("%s: applies ConfigMap %q, the %s mounts %q", dir, applied, workload, mounted)
			}
			out[dir] = [2]string{applied, mounted}
		}
		return out
	}
	before := configMaps()
	raw, err := fs.ReadFile("/deploy/kubernetes/config.yml")
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(raw), "min_refresh_interval: 5m\n", "min_refresh_interval: 10m\n", 1)
	if edited == string(raw) {
		t.Fatal("config.yml has no min_refresh_interval: 5m to edit")
	}
	if err := fs.WriteFile("/deploy/kubernetes/config.yml", []byte(edited)); err != nil {
		t.Fatal(err)
	}
	after := configMaps()
	for _, dir := range slices.Sorted(maps.Keys(before)) {
		if before[dir][1] == after[dir][1] {
			t.Errorf("%s: the pods mount ConfigMap %q before and after the edit: they would not roll", dir, before[dir][1])
		}
	}
}
