// Package deploy holds no code: its tests check what ships in deploy/ (rules, dashboard,
// manifests, Dockerfile) and run the exporter under a real Prometheus.
package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

var update = flag.Bool("update", false, "regenerate deploy/kubernetes/prometheusrule.yaml and the chart's files/alerts.yml from deploy/prometheus/alerts.yml")

var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "abe-deploy")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "atlas_backup_exporter")
	if out, err := exec.Command("go", "build", "-o", binary, "..").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the exporter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

const prometheusRuleHeader = "# Generated from deploy/prometheus/alerts.yml by `go test ./deploy -update`; do not edit.\n"

func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	var groups struct {
		Groups []any `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &groups)
	want := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata":   map[string]any{"name": "atlas-backup-exporter"},
		"spec":       map[string]any{"groups": groups.Groups},
	}
	path := "kubernetes/prometheusrule.yaml"
	if *update {
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(want); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append([]byte(prometheusRuleHeader), buf.Bytes()...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got map[string]any
	readYAML(t, path, &got)
	if !reflect.DeepEqual(normalise(t, got), normalise(t, want)) {
		t.Errorf("%s differs from prometheus/alerts.yml; run go test ./deploy -update", path)
	}
}

func normalise(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKubernetesManifests builds the kustomization as `kubectl apply -k` does and checks what
// it would apply.
func TestKubernetesManifests(t *testing.T) {
	resmap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	built, err := resmap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name      string            `yaml:"name"`
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					SecurityContext struct {
						RunAsNonRoot bool `yaml:"runAsNonRoot"`
					} `yaml:"securityContext"`
					Containers []struct {
						Image string `yaml:"image"`
						Ports []struct {
							ContainerPort int `yaml:"containerPort"`
						} `yaml:"ports"`
						LivenessProbe struct {
							HTTPGet struct {
								Path string `yaml:"path"`
							} `yaml:"httpGet"`
						} `yaml:"livenessProbe"`
						ReadinessProbe struct {
							HTTPGet struct {
								Path string `yaml:"path"`
							} `yaml:"httpGet"`
						} `yaml:"readinessProbe"`
						Resources struct {
							Requests map[string]string `yaml:"requests"`
						} `yaml:"resources"`
						SecurityContext struct {
							ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
						} `yaml:"securityContext"`
						VolumeMounts []struct {
							Name      string `yaml:"name"`
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					} `yaml:"containers"`
					Volumes []struct {
						Name   string `yaml:"name"`
						Secret struct {
							SecretName string `yaml:"secretName"`
						} `yaml:"secret"`
						ConfigMap struct {
							Name string `yaml:"name"`
						} `yaml:"configMap"`
					} `yaml:"volumes"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	objects := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(built))
	for {
		var o object
		if err := dec.Decode(&o); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := o.Metadata.Name
		if o.Kind == "ConfigMap" { // generated: the name ends in a hash of its data
			name = regexp.MustCompile(`-[a-z0-9]{10}$`).ReplaceAllString(name, "")
		}
		if o.Metadata.Namespace != "monitoring" || name != "atlas-backup-exporter" || o.Metadata.Labels["app.kubernetes.io/name"] != "atlas-backup-exporter" {
			t.Errorf("%s: metadata %+v", o.Kind, o.Metadata)
		}
		objects[o.Kind] = o
	}
	// No Secret: applying a placeholder would overwrite the one the user created.
	if kinds := slices.Sorted(maps.Keys(objects)); !slices.Equal(kinds, []string{"ConfigMap", "Deployment", "PrometheusRule", "Service", "ServiceMonitor"}) {
		t.Errorf("the kustomization applies %q", kinds)
	}
	// kube-prometheus-stack selects on the release label.
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule"} {
		if got := objects[kind].Metadata.Labels["release"]; got != "kube-prometheus-stack" {
			t.Errorf("%s: release label %q", kind, got)
		}
	}
	ps := objects["Deployment"].Spec.Template.Spec
	if len(ps.Containers) != 1 {
		t.Fatalf("deployment: %d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	if !ps.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.LivenessProbe.HTTPGet.Path != "/-/healthy" ||
		c.ReadinessProbe.HTTPGet.Path != "/-/ready" || c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Ports[0].ContainerPort != 9891 {
		t.Errorf("deployment: %+v", ps)
	}
	// The image is set in one place, images: in kustomization.yaml, at the released version.
	if want := "atlas_backup_exporter:" + readVersionFile(t); c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	// The configuration reads the secret's client-secret key where the Deployment mounts it,
	// and the Deployment mounts the ConfigMap applied, at the directory of --config.file.
	secretMount, configMount := "", ""
	for _, v := range ps.Volumes {
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && v.Secret.SecretName == "atlas-backup-exporter" {
				secretMount = m.MountPath
			}
			if m.Name == v.Name && v.ConfigMap.Name == objects["ConfigMap"].Metadata.Name {
				configMount = m.MountPath
			}
		}
	}
	if configMount != "/etc/atlas_backup_exporter" {
		t.Errorf("ConfigMap %s mounted at %q", objects["ConfigMap"].Metadata.Name, configMount)
	}
	config := objects["ConfigMap"].Data["config.yml"]
	secretPath := secretMount + "/client-secret"
	if secretMount == "" || !strings.Contains(config, "client_secret_file: "+secretPath+"\n") {
		t.Errorf("secret atlas-backup-exporter mounted at %q; config:\n%s", secretMount, config)
	}
	// The ConfigMap's configuration is valid once its secret exists.
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(config, secretPath, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, binary, "--config.check", "--config.file="+cfg)
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var froms, args, users, exposes, entry, build []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		rest := strings.TrimSpace(strings.TrimPrefix(line, f[0]))
		switch f[0] {
		case "FROM":
			froms = append(froms, rest)
		case "ARG":
			args = append(args, f[1:]...)
		case "USER":
			users = append(users, rest)
		case "EXPOSE":
			exposes = append(exposes, rest)
		case "ENTRYPOINT":
			entry = append(entry, rest)
		case "RUN":
			if strings.Contains(rest, "make build") {
				build = append(build, rest)
			}
		}
	}
	// A multi-arch build compiles on the builder's platform for each target's.
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "--platform=$BUILDPLATFORM golang:") || !strings.HasSuffix(froms[0], " AS build") ||
		!strings.Contains(froms[1], "distroless/static") {
		t.Errorf("want a build stage on $BUILDPLATFORM and a static distroless stage, got %q", froms)
	}
	if !slices.Contains(args, "TARGETOS") || !slices.Contains(args, "TARGETARCH") {
		t.Errorf("ARGs %q lack TARGETOS and TARGETARCH", args)
	}
	if len(users) != 1 || strings.HasPrefix(users[0], "0") || users[0] == "root" {
		t.Errorf("runtime user %q", users)
	}
	if !reflect.DeepEqual(exposes, []string{"9891"}) || !reflect.DeepEqual(entry, []string{`["/bin/atlas_backup_exporter"]`}) {
		t.Errorf("EXPOSE %q ENTRYPOINT %q", exposes, entry)
	}
	if len(build) != 1 || !strings.Contains(build[0], "GOOS=${TARGETOS} GOARCH=${TARGETARCH}") {
		t.Fatalf("want one make build for ${TARGETOS}/${TARGETARCH}, got %q", build)
	}
	// Run that command as the build stage would for this machine's platform: a static binary
	// that reports the version of the VERSION file and the revision given.
	makeTool := testenv.Tool(t, "make")
	out := filepath.Join(t.TempDir(), "atlas_backup_exporter")
	cmdline := strings.NewReplacer("${TARGETOS}", runtime.GOOS, "${TARGETARCH}", runtime.GOARCH, "${REVISION}", "abc123",
		"${BUILD_DATE}", "20261127-10:00:00", "/out/atlas_backup_exporter", out).Replace(build[0])
	cmd := exec.Command("sh", "-c", strings.Replace(cmdline, "make", makeTool, 1))
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	v := run(t, out, "--version")
	if want := "atlas_backup_exporter, version " + readVersionFile(t) + " (branch: , revision: abc123)\n"; !strings.HasPrefix(v, want) ||
		!strings.Contains(v, "build date:       20261127-10:00:00\n") {
		t.Errorf("--version:\n%s\nwant it to start %q", v, want)
	}
	if info := run(t, "go", "version", "-m", out); !strings.Contains(info, "CGO_ENABLED=0") || !strings.Contains(info, "-trimpath=true") {
		t.Errorf("not built with CGO_ENABLED=0 and -trimpath:\n%s", info)
	}
}

// TestMakeRelease builds the release for this machine's platform only (the others are the same
// commands with another GOOS/GOARCH) and checks the archive, its checksum and the binary in it.
func TestMakeRelease(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the release target runs on Unix-like systems")
	}
	makeTool := testenv.Tool(t, "make")
	dist := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	run(t, makeTool, "-C", "..", "release", "PLATFORMS="+platform, "VERSION=9.8.7-rc.1", "REVISION=abc123", "DIST="+dist)
	name := "atlas_backup_exporter-9.8.7-rc.1." + runtime.GOOS + "-" + runtime.GOARCH
	entries, err := os.ReadDir(dist)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if want := []string{name + ".tar.gz", "sha256sums.txt"}; !slices.Equal(files, want) {
		t.Fatalf("dist holds %q, want %q", files, want)
	}
	archive, err := os.ReadFile(filepath.Join(dist, name+".tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dist, "sha256sums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%x  %s.tar.gz\n", sha256.Sum256(archive), name); string(sums) != want {
		t.Errorf("sha256sums.txt:\n%s\nwant\n%s", sums, want)
	}
	unpacked := t.TempDir()
	run(t, "tar", "-C", unpacked, "-xzf", filepath.Join(dist, name+".tar.gz"))
	var got []string
	contents, err := os.ReadDir(filepath.Join(unpacked, name))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range contents {
		got = append(got, e.Name())
	}
	if want := []string{"CHANGELOG.md", "LICENSE", "README.md", "atlas_backup_exporter", "config.example.yml"}; !slices.Equal(got, want) {
		t.Errorf("archive holds %q, want %q", got, want)
	}
	v := run(t, filepath.Join(unpacked, name, "atlas_backup_exporter"), "--version")
	if want := "atlas_backup_exporter, version 9.8.7-rc.1 ("; !strings.HasPrefix(v, want) || !strings.Contains(v, "revision: abc123)") {
		t.Errorf("--version:\n%s\nwant version 9.8.7-rc.1, revision abc123", v)
	}
}

// TestTestCommand keeps the README's test command and `make test` the same command, and .ci/run
// running it (`make ci`, which runs `make test`).
func TestTestCommand(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\nTest \\(.*?```sh\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no test command")
	}
	command := string(m[1])
	ci := map[string]string{"../.ci/run": "make ci", "../Makefile": "PROMETHEUS3_DIR=$$(.ci/prometheus3) && export PROMETHEUS3_DIR && $(MAKE) --no-print-directory test"}
	for file, line := range ci {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(strings.Split(string(raw), "\n"), func(l string) bool { return strings.TrimSpace(l) == line }) {
			t.Errorf("%s does not run %q", file, line)
		}
	}
	for _, file := range []string{"../Makefile"} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(raw), "\n")
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.TrimSpace(l) == command }) {
			t.Errorf("%s does not run the README's test command %q", file, command)
		}
	}
}

// exporterProcess runs the exporter binary until the test ends.
type exporterProcess struct {
	url  string
	logs *testenv.Buffer
}

func startProcess(t *testing.T, name string, args ...string) *testenv.Buffer {
	t.Helper()
	logs := &testenv.Buffer{}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), logs)
		}
	})
	return logs
}

func startExporter(t *testing.T, args ...string) *exporterProcess {
	t.Helper()
	addr := testenv.FreeAddr(t)
	logs := startProcess(t, binary, append([]string{"--web.listen-address=" + addr}, args...)...)
	e := &exporterProcess{url: "http://" + addr, logs: logs}
	waitFor(t, 30*time.Second, "exporter ready", func() bool {
		resp, err := http.Get(e.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return e
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpPost posts nothing to url and returns the answer's body, failing on any status but 200.
func httpPost(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s %q %v", url, resp.Status, b, err)
	}
	return string(b)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// knownMetrics is every metric name the exporter exposes (from a --demo run) plus every name the
// rules record.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	e := startExporter(t, "--demo")
	exposition := httpGet(t, e.url+"/metrics")
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) (\S+)$`).FindAllStringSubmatch(exposition, -1) {
		known[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[m[1]+s] = true
			}
		}
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				known[r.Record] = true
			}
		}
	}
	// Thresholds users may record themselves (documented in alerts.yml).
	known["atlas_backup_snapshot_max_age_override_seconds"] = true
	known["atlas_backup_restore_window_min_override_seconds"] = true
	known["atlas_backup_restore_test_max_age_seconds"] = true
	return known
}

var metricName = regexp.MustCompile(`\batlas_backup[a-zA-Z0-9_:]*`)

func TestRulesNameOnlyExportedMetrics(t *testing.T) {
	known := knownMetrics(t)
	raw, err := os.ReadFile("prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, n := range metricName.FindAllString(r.Expr, -1) {
				if !known[n] {
					t.Errorf("rule expression names %s, which nothing exports or records", n)
				}
			}
		}
	}
}

type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func (a alert) key() string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+a.Labels[k])
	}
	return strings.Join(parts, ",")
}

var (
	httpClient = &http.Client{Timeout: 5 * time.Second}
	ioCopy     = io.Copy
)

// TestComposeImagesPinned: the compose file runs the Prometheus 3 the tests run, and no image
// floats.
func TestComposeImagesPinned(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build string `yaml:"build"`
		} `yaml:"services"`
	}
	readYAML(t, "docker-compose.yml", &compose)
	for name, svc := range compose.Services {
		if svc.Build != "" {
			continue
		}
		repo, tag, _ := strings.Cut(svc.Image, ":")
		if tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned", name, svc.Image)
		}
		if repo != "prom/prometheus" {
			continue
		}
		var versions []string
		for _, p := range testenv.Prometheuses(t) {
			if p.Major() == "3" {
				versions = append(versions, p.Version)
			}
		}
		if len(versions) == 0 {
			t.Skipf("Prometheus 3 not installed: the tag of %s is not checked", svc.Image)
		}
		if tag != "v"+versions[0] {
			t.Errorf("compose runs %s, the tests Prometheus %s", svc.Image, versions[0])
		}
	}
}

// TestChangelogStyle: every change is one line in the prometheus style, `- [KIND] what`, and
// nothing but release headings, a release's one-line note and changes is in the file.
func TestChangelogStyle(t *testing.T) {
	raw, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	change := regexp.MustCompile(`^- \[(FEATURE|ENHANCEMENT|BUGFIX|CHANGE)\] \S`)
	heading := regexp.MustCompile(`^(# Changelog|## Unreleased|## \d+\.\d+\.\d+ / \d{4}-\d{2}-\d{2})$`)
	changes := 0
	for i, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		switch {
		case change.MatchString(line):
			changes++
		case line == "", heading.MatchString(line):
		case strings.HasPrefix(line, "- ") || strings.HasPrefix(line, " "):
			t.Errorf("CHANGELOG.md:%d: want one line `- [FEATURE|ENHANCEMENT|BUGFIX|CHANGE] ...` per change: %q", i+1, line)
		case i > 0 && !strings.HasPrefix(line, "#") && strings.HasSuffix(line, "."):
			// A release's note, such as "The first release."
		default:
			t.Errorf("CHANGELOG.md:%d: not a heading, a release note or a change: %q", i+1, line)
		}
	}
	if changes == 0 {
		t.Error("CHANGELOG.md lists no change")
	}
}

// kustomizeBuild builds the kustomization in dir and returns its objects by kind.
func kustomizeBuild(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	return kustomizeBuildFS(t, filesys.MakeFsOnDisk(), dir)
}

// kustomizeBuildFS builds the kustomization in dir of fs and returns its objects by kind.
func kustomizeBuildFS(t *testing.T, fs filesys.FileSystem, dir string) map[string]map[string]any {
	t.Helper()
	resmap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		t.Fatal(err)
	}
	built, err := resmap.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(built))
	for {
		var o map[string]any
		if err := dec.Decode(&o); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out[o["kind"].(string)] = o
	}
	return out
}

// dig walks a decoded YAML object along keys (map keys, or an int for a list index).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestShardedManifests: the sharded overlay runs the base's pod as a StatefulSet of shards, each
// taking its shard from its ordinal, with as many replicas as --total-shards, behind a headless
// Service the base's ServiceMonitor scrapes, with a disruption budget of one.
func TestShardedManifests(t *testing.T) {
	base := kustomizeBuild(t, "kubernetes")
	sharded := kustomizeBuild(t, "kubernetes-sharded")
	if kinds := slices.Sorted(maps.Keys(sharded)); !slices.Equal(kinds, []string{"ConfigMap", "PodDisruptionBudget", "PrometheusRule", "Service", "ServiceMonitor", "StatefulSet"}) {
		t.Errorf("the sharded overlay applies %q", kinds)
	}
	for kind, o := range sharded {
		if ns := dig(o, "metadata", "namespace"); ns != dig(base["Deployment"], "metadata", "namespace") {
			t.Errorf("%s in namespace %v, not the base's", kind, ns)
		}
	}
	sts := sharded["StatefulSet"]
	container := dig(sts, "spec", "template", "spec", "containers", 0)
	args := fmt.Sprint(dig(container, "args"))
	total := regexp.MustCompile(`--total-shards=(\d+)`).FindStringSubmatch(args)
	if total == nil || fmt.Sprint(dig(sts, "spec", "replicas")) != total[1] {
		t.Errorf("replicas %v and args %s disagree on the number of shards", dig(sts, "spec", "replicas"), args)
	}
	if !strings.Contains(args, "--shard.from-pod-name=$(POD_NAME)") || fmt.Sprint(dig(container, "env", 0)) != "map[name:POD_NAME valueFrom:map[fieldRef:map[fieldPath:metadata.name]]]" {
		t.Errorf("the shard does not come from the pod name: args %s, env %v", args, dig(container, "env"))
	}
	if dig(sharded["Service"], "spec", "clusterIP") != "None" || dig(sts, "spec", "serviceName") != dig(sharded["Service"], "metadata", "name") {
		t.Errorf("service %v is not the StatefulSet's headless service", dig(sharded["Service"], "spec"))
	}
	labels := dig(sts, "spec", "template", "metadata", "labels").(map[string]any)
	for _, sel := range []any{dig(sharded["ServiceMonitor"], "spec", "selector", "matchLabels"), dig(sharded["PodDisruptionBudget"], "spec", "selector", "matchLabels"),
		dig(sharded["Service"], "spec", "selector"), dig(sts, "spec", "selector", "matchLabels")} {
		m, _ := sel.(map[string]any)
		if len(m) == 0 || !selects(m, labels) {
			t.Errorf("selector %v does not match the pods' labels %v", sel, labels)
		}
	}
	if dig(sharded["PodDisruptionBudget"], "spec", "maxUnavailable") != 1 {
		t.Errorf("disruption budget %v", dig(sharded["PodDisruptionBudget"], "spec"))
	}
	// Apart from sharding and spreading, the shards run the base's pod, image included.
	shardPod := dig(sts, "spec", "template", "spec").(map[string]any)
	basePod := dig(base["Deployment"], "spec", "template", "spec").(map[string]any)
	delete(shardPod, "affinity")
	for _, c := range []any{dig(shardPod, "containers", 0), dig(basePod, "containers", 0)} {
		m := c.(map[string]any)
		env := m["env"].([]any)
		m["env"] = env[len(env)-1:] // GOMEMLIMIT
		m["args"] = slices.DeleteFunc(slices.Clone(m["args"].([]any)), func(a any) bool { return strings.Contains(fmt.Sprint(a), "shard") })
	}
	if !reflect.DeepEqual(shardPod, basePod) {
		t.Errorf("the shards' pod differs from the base's:\n%v\n%v", shardPod, basePod)
	}
}

// selects reports whether every label of the selector sel is among labels, with its value.
func selects(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}
