package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/version"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "abe-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, exporterName)
	flag.Parse()
	build := []string{"build", "-race", "-o", binary, "."}
	if testing.Short() {
		// The fast subset runs the binary without the race detector: building it with the
		// detector takes longer than the tests that run it. The full run keeps it.
		build = slices.Delete(build, 1, 2)
	}
	if out, err := exec.Command("go", build...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the exporter: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type exporter struct {
	url  string
	cmd  *exec.Cmd
	logs *testenv.Buffer
}

// startExporter runs the binary and waits until it is ready.
func startExporter(t *testing.T, args ...string) *exporter {
	t.Helper()
	addr := testenv.FreeAddr(t)
	logs := &testenv.Buffer{}
	cmd := exec.Command(binary, append([]string{"--web.listen-address=" + addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &exporter{url: "http://" + addr, cmd: cmd, logs: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("exporter logs:\n%s", logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := e.get(t, "/-/ready"); code == 200 {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter not ready after 30s:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *exporter) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitLog waits until the exporter's log holds substr at least n times (its output reaches the
// test through a pipe, a moment after the answer that caused it), and returns how many times.
// waitMetrics scrapes until the body holds every one of wants, for up to 30 s, reports those
// still missing then, and returns the last body.
func (e *exporter) waitMetrics(t *testing.T, wants []string) string {
	t.Helper()
	var body string
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var code int
		code, body = e.get(t, "/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if code == 200 && len(missing) == 0 || time.Now().After(deadline) {
			if code != 200 {
				t.Fatalf("/metrics answered %d: %.500s", code, body)
			}
			break
		}
	}
	for _, want := range missing {
		t.Errorf("/metrics lacks %q", want)
	}
	return body
}

func (e *exporter) waitLog(t *testing.T, substr string, n int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := strings.Count(e.logs.String(), substr)
		if got >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reload asks the exporter to reload its configuration over HTTP.
func (e *exporter) reload(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Post(e.url+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func newFakeAtlas(t *testing.T, o atlastest.Options) *atlastest.Server {
	t.Helper()
	if o.Estate == nil {
		o.Estate = atlastest.Generate(atlastest.Spec{Seed: 7, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 4})
	}
	o.PublicKey, o.PrivateKey = "pubkey", "private-key-abcdef"
	srv := atlastest.NewServer(o)
	t.Cleanup(srv.Close)
	return srv
}

func writeConfig(t *testing.T, path, baseURL, projectsYAML string) {
	t.Helper()
	cfg := fmt.Sprintf("atlas:\n  base_url: %s\n  api_key: {public_key: pubkey, private_key: private-key-abcdef}\nmin_refresh_interval: 0s\nprojects:\n%s", baseURL, projectsYAML)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	check := func(args ...string) (int, string) {
		t.Helper()
		out, err := exec.Command(binary, append([]string{"--config.check"}, args...)...).CombinedOutput()
		code := 0
		if err != nil {
			code = err.(*exec.ExitError).ExitCode()
		}
		return code, strings.TrimSpace(string(out))
	}
	good := filepath.Join(dir, "good.yml")
	writeConfig(t, good, "https://cloud.mongodb.com", "  - id: 5f0000000000000000000001\n")
	if code, out := check("--config.file=" + good); code != 0 || out != good+" is valid" {
		t.Errorf("good config: %d %s", code, out)
	}
	const bad = "config/testdata/bad-unknown-key.yml"
	badOut := bad + ":3: atlas.concurrency: unknown key; expected one of api_key, base_url, max_attempts, max_concurrency, no_proxy, proxy_connect_header, proxy_from_environment, proxy_url, rate_limit_factor, service_account, timeout, tls_config"
	if code, out := check("--config.file=" + bad); code != 1 || out != badOut {
		t.Errorf("bad config: %d %s", code, out)
	}

	// --web.config.file is checked too, as exporter-toolkit will read it; both files' problems
	// are reported.
	web := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(web, []byte("basic_auth_users: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := check("--config.file="+good, "--web.config.file="+web); code != 0 || out != good+" is valid\n"+web+" is valid" {
		t.Errorf("good web config: %d %s", code, out)
	}
	missing := filepath.Join(dir, "missing.yml")
	if code, out := check("--config.file="+bad, "--web.config.file="+missing); code != 1 ||
		out != badOut+"\n"+missing+": invalid web configuration: open "+missing+": no such file or directory" {
		t.Errorf("missing web config: %d %s", code, out)
	}
	if err := os.WriteFile(web, []byte("tls_server_config: {cert_file: missing.crt, key_file: missing.key}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Valid is said only when every file checked is.
	if code, out := check("--config.file="+good, "--web.config.file="+web); code != 1 || !strings.HasPrefix(out, web+": invalid web configuration: ") || strings.Contains(out, "is valid") {
		t.Errorf("bad web config: %d %s", code, out)
	}

	// The example is valid once its secret file exists.
	example, err := os.ReadFile("config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	exampleFile := filepath.Join(dir, "example.yml")
	if err := os.WriteFile(exampleFile, bytes.ReplaceAll(example, []byte("/run/secrets/atlas-client-secret"), []byte(secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := check("--config.file=" + exampleFile); code != 0 {
		t.Errorf("config.example.yml: %d %s", code, out)
	}
}

// TestREADMEConfigurationsCheck: every configuration the README and docs/configuration.md show
// (a yaml block with projects), the single-credential one and the several organisations' one
// alike, passes --config.check once the secret files it names exist; and a credential set no
// entry reads with is refused.
func TestREADMEConfigurationsCheck(t *testing.T) {
	for _, doc := range []string{"README.md", "docs/configuration.md"} {
		t.Run(doc, func(t *testing.T) { checkShownConfigurations(t, doc) })
	}
}

func checkShownConfigurations(t *testing.T, doc string) {
	readme, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secretPath := regexp.MustCompile(`/run/secrets/[A-Za-z0-9_.-]+`)
	n := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if !strings.Contains(m[1], "\nprojects:") {
			continue
		}
		n++
		cfg := secretPath.ReplaceAllStringFunc(m[1], func(path string) string {
			file := filepath.Join(dir, filepath.Base(path))
			if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		})
		file := filepath.Join(dir, fmt.Sprintf("readme-%d.yml", n))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "--config.check", "--config.file="+file).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != file+" is valid" {
			t.Errorf("%s configuration %d: %v %s\n%s", doc, n, err, out, m[1])
		}
		if !strings.Contains(m[1], "credentials:") {
			continue
		}
		// The same file with a set no entry reads with.
		unused := strings.Replace(cfg, "credentials:\n", "credentials:\n  spare:\n    api_key: {public_key: p, private_key: s3cr3t}\n", 1)
		if err := os.WriteFile(file, []byte(unused), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(binary, "--config.check", "--config.file="+file).CombinedOutput()
		if err == nil || !strings.Contains(string(out), ": credentials.spare: no projects entry reads with this set (credentials: spare): remove it, or read with it") ||
			strings.Contains(string(out), "s3cr3t") {
			t.Errorf("%s configuration %d with an unread set: %v %s", doc, n, err, out)
		}
	}
	if n < 2 {
		t.Errorf("%d configurations in %s, want the single-credential one and the several organisations' one", n, doc)
	}
}

func TestScrapeAgainstFakeAtlas(t *testing.T) {
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n")
	e := startExporter(t, "--config.file="+cfgFile)
	// Nothing is in flight once the job families, read behind the snapshots, are in too.
	body := e.waitMetrics(t, []string{
		"atlas_backup_up 1\n",
		`atlas_backup_collect_success{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 1` + "\n",
		`atlas_backup_last_snapshot_status{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="failed"} 1` + "\n",
		`atlas_backup_exporter_build_info{`,
		`atlas_backup_exporter_api_requests_total{code="200",operation="listGroups"}`,
		`atlas_backup_exporter_api_request_duration_seconds_bucket{operation="listGroupClusters",le="0.05"}`,
		"atlas_backup_exporter_api_inflight_requests 0\n",
		"process_start_time_seconds ",
		"go_goroutines ",
	})
	testenv.CheckMetrics(t, body)
	code, landing := e.get(t, "/")
	if code != 200 || !strings.Contains(landing, "MongoDB Atlas Backup Exporter") {
		t.Errorf("landing page %d: %.200s", code, landing)
	}
	// The landing page links only what is served.
	links := regexp.MustCompile(`href="(/[^"]*)"`).FindAllStringSubmatch(landing, -1)
	if len(links) != 3 {
		t.Errorf("landing page links %q, want metrics, health and readiness", links)
	}
	for _, l := range links {
		if code, _ := e.get(t, l[1]); code != 200 {
			t.Errorf("landing page links %s, which answers %d", l[1], code)
		}
	}
	if code, _ := e.get(t, "/-/healthy"); code != 200 {
		t.Errorf("healthy: %d", code)
	}
	// Reloading over HTTP needs --web.enable-lifecycle, as in Prometheus.
	if code, body := e.reload(t); code != http.StatusForbidden || body != "Lifecycle API is not enabled (--web.enable-lifecycle); send SIGHUP to reload.\n" {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %q", code, body)
	}
}

func TestReload(t *testing.T) {
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n    clusters: [dedicated-01]\n")
	e := startExporter(t, "--config.file="+cfgFile, "--web.enable-lifecycle")
	if code, _ := e.get(t, "/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload: %d", code)
	}
	clusters := func() int {
		_, body := e.get(t, "/metrics")
		return strings.Count(body, "atlas_backup_collect_success{")
	}
	if n := clusters(); n != 1 {
		t.Fatalf("%d targets, want 1", n)
	}
	// SIGHUP with a wider selection.
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n    clusters: [dedicated-01, flex-02]\n")
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for clusters() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not apply the new configuration")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A bad configuration is refused over HTTP and the old one keeps running.
	if err := os.WriteFile(cfgFile, []byte("atlas: {api_key: {public_key: p, private_key: k}, nope: 1}\nprojects: [{name: P}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := e.reload(t); code != 400 || body != "reload failed: "+cfgFile+
		`:1: atlas.nope: unknown key; expected one of api_key, base_url, max_attempts, max_concurrency, no_proxy, proxy_connect_header, proxy_from_environment, proxy_url, rate_limit_factor, service_account, timeout, tls_config`+"\n" {
		t.Errorf("bad reload: %d %q", code, body)
	}
	if n := clusters(); n != 2 {
		t.Errorf("%d targets after a failed reload, want the 2 of the running config", n)
	}
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n    clusters: [flex-02]\n")
	if code, body := e.reload(t); code != 200 || body != "Reloaded\n" {
		t.Fatalf("good reload: %d %q", code, body)
	}
	if n := clusters(); n != 1 {
		t.Errorf("%d targets after narrowing the config, want 1", n)
	}
	// The same file again: nothing changed, and the answer says so.
	if code, body := e.reload(t); code != 200 || body != "Configuration unchanged: nothing to reload\n" {
		t.Errorf("reload of an unchanged file: %d %q", code, body)
	}
	if e.waitLog(t, `msg="reload failed; keeping the running configuration"`, 1) == 0 {
		t.Errorf("failed reload not logged")
	}
}

func TestScrapeDeadlineServesWhatArrived(t *testing.T) {
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n")
	e := startExporter(t, "--config.file="+cfgFile)
	srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Hang: true})
	req, _ := http.NewRequest("GET", e.url+"/metrics", nil)
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "1")
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `atlas_backup_collect_success{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1`) {
		t.Errorf("a scrape with a hung target: %d\n%.500s", resp.StatusCode, body)
	}
}

func TestDemo(t *testing.T) {
	e := startExporter(t, "--demo")
	wants := []string{
		"atlas_backup_up 1\n",
		`atlas_backup_endpoint_sunset{cluster="tenant-03",kind="tenant",project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_last_snapshot_status{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="failed"} 1`,
		`atlas_backup_snapshot_size_bytes{`,
		// Atlas's Sunset header, as the fake sends it for the serverless snapshot endpoints.
		`atlas_backup_exporter_api_sunset_timestamp_seconds{operation="listGroupServerlessBackupSnapshots",version="2023-01-01"} 1.76904e+09`,
		// Every kind: legacy backup is named in the demo configuration, tenant through its sunset endpoint.
		`atlas_backup_collect_success{cluster="legacy-05",kind="legacy",project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_collect_success{cluster="serverless-04",kind="serverless",`,
		`atlas_backup_collect_success{cluster="dedicated-01",kind="cloud",`,
		// Every family beyond snapshots.
		`atlas_backup_restore_jobs{cluster="dedicated-01",delivery_type="point_in_time",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="completed"} 1`,
		`atlas_backup_restore_jobs{cluster="flex-02",delivery_type="download",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="expired"} 1`,
		`atlas_backup_last_restore_timestamp_seconds{cluster="flex-02",`,
		`atlas_backup_last_failed_restore_timestamp_seconds{cluster="dedicated-06",`,
		`atlas_backup_export_jobs{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",state="failed"} 1`,
		`atlas_backup_last_export_timestamp_seconds{cluster="dedicated-01",`,
		`atlas_backup_last_failed_export_timestamp_seconds{cluster="dedicated-01",`,
		`atlas_backup_copy_region_info{cloud_provider="AWS",cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",region="EU_WEST_1"} 1`,
		`atlas_backup_copy_region_interval_seconds{cloud_provider="AWS",cluster="dedicated-06",kind="cloud",project="project-001",project_id="5f0000000000000000000001",region="US_WEST_2"} 86400`,
		`atlas_backup_last_copied_snapshot_timestamp_seconds{cloud_provider="AWS",cluster="dedicated-01",`,
		`atlas_backup_schedule_restore_window_seconds{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 172800`,
		`atlas_backup_compliance_policy_enabled{project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_compliance_policy_enabled{project="project-002",project_id="5f0000000000000000000002"} 0`,
		`atlas_backup_compliance_policy_info{copy_protection_enabled="true",encryption_at_rest_enabled="false",pit_enabled="true",project="project-001",project_id="5f0000000000000000000001",state="ACTIVE"} 1`,
		`atlas_backup_compliance_policy_restore_window_seconds{project="project-001",project_id="5f0000000000000000000001"} 172800`,
		`atlas_backup_family_collect_success{cluster="",family="compliance_policy",kind="",project="project-002",project_id="5f0000000000000000000002"} 1`,
		// A schedule that breaks its project's compliance policy: monthly snapshots kept a month, not 12.
		`atlas_backup_schedule_retention_seconds{cluster="dedicated-01",frequency="monthly",interval="40",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 2.629746e+06`,
		`atlas_backup_compliance_policy_retention_seconds{frequency="monthly",project="project-001",project_id="5f0000000000000000000001"} 3.1556952e+07`,
		// Two organisations, each read with its own credential set.
		`atlas_backup_project_info{credentials="default",org_id="5e0000000000000000000001",org_name="billing",project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_project_info{credentials="eu-unit",org_id="5e0000000000000000000002",org_name="eu-unit",project="project-002",project_id="5f0000000000000000000002"} 1`,
		`atlas_backup_credentials_up{credentials="default"} 1`,
		`atlas_backup_credentials_up{credentials="eu-unit"} 1`,
		`atlas_backup_credentials_last_success_timestamp_seconds{credentials="eu-unit"} `,
	}
	// The first scrape is answered once the snapshots are in; the job families are read behind
	// them and arrive in a later version.
	e.waitMetrics(t, wants)
	if got := strings.Count(e.logs.String(), "snapshot endpoint answered that it is gone"); got != 1 {
		t.Errorf("sunset logged %d times, want once", got)
	}
	// Every line, the exporter-toolkit's through the slog bridge included, has one timestamp.
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	timestamp := regexp.MustCompile(`(^| )(ts|time)=`)
	for _, line := range lines {
		if keys := timestamp.FindAllString(line, -1); len(keys) != 1 || keys[0] != "ts=" {
			t.Errorf("want one ts= and no time= in %q", line)
		}
	}
	if !strings.Contains(e.logs.String(), `msg="Listening on"`) {
		t.Errorf("the exporter-toolkit's lines are missing:\n%s", e.logs)
	}
}

// TestDemoShowsEarlyDeletion: the demo deletes a snapshot of project-001's dedicated-01 after
// its first refresh; the next one (min_refresh_interval, 30s, later) counts it and logs it.
func TestDemoShowsEarlyDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the demo's second refresh")
	}
	e := startExporter(t, "--demo")
	want := `atlas_backup_snapshots_deleted_early_total{cause="unexplained",cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 1`
	var body string
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if _, body = e.get(t, "/metrics"); strings.Contains(body, want) {
			break
		}
	}
	if !strings.Contains(body, want+"\n") {
		t.Fatalf("/metrics lacks %s:\n%s", want, strings.Join(grepLines(body, "deleted_early"), "\n"))
	}
	// Two causes of dedicated-01, dedicated-06 and serverless-04 in each project, all 0 but one.
	lines := grepLines(body, "atlas_backup_snapshots_deleted_early_total{")
	zeros := len(grepLines(strings.Join(lines, "\n"), "} 0"))
	if len(lines) != 12 || zeros != 11 {
		t.Errorf("%d deleted_early series, %d of them 0; want 12, 11:\n%s", len(lines), zeros, strings.Join(lines, "\n"))
	}
	if n := strings.Count(e.logs.String(), `msg="snapshot deleted before its expiry"`); n != 1 {
		t.Errorf("logged %d deletions, want 1:\n%s", n, e.logs)
	}
}

func TestJSONLogsHaveOneTimestamp(t *testing.T) {
	e := startExporter(t, "--demo", "--log.format=json")
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("only %d log lines:\n%s", len(lines), e.logs)
	}
	for _, line := range lines {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Errorf("not JSON: %q: %v", line, err)
			continue
		}
		if _, ok := fields["ts"]; !ok {
			t.Errorf("no ts in %q", line)
		}
		if _, ok := fields["time"]; ok {
			t.Errorf("a second timestamp, time, in %q", line)
		}
	}
}

// TestVersion: a binary built with plain `go build` (as TestMain builds it) reports the
// module's version from its build info rather than an empty one.
func TestVersion(t *testing.T) {
	info, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\tmod\t\S+\t(\S+)`).FindSubmatch(info)
	if m == nil {
		t.Fatalf("no module line in go version -m:\n%s", info)
	}
	want := strings.TrimPrefix(string(m[1]), "v")
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), exporterName+", version "+want+" (") {
		t.Errorf("--version prints\n%s\nwant version %s, the module's", out, want)
	}
}

func TestFillVersion(t *testing.T) {
	saved := [2]string{version.Version, version.BuildDate}
	t.Cleanup(func() { version.Version, version.BuildDate = saved[0], saved[1] })
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.2.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abc"}, {Key: "vcs.time", Value: "2026-11-27T10:00:00Z"},
	}}
	version.Version, version.BuildDate = "", ""
	fillVersion(bi)
	if version.Version != "0.2.0" || version.BuildDate != "2026-11-27T10:00:00Z" {
		t.Errorf("from build info: version %q, build date %q", version.Version, version.BuildDate)
	}
	// What -ldflags stamped stays.
	version.Version, version.BuildDate = "1.0.0", "20261127-10:00:00"
	fillVersion(bi)
	if version.Version != "1.0.0" || version.BuildDate != "20261127-10:00:00" {
		t.Errorf("stamped values replaced: version %q, build date %q", version.Version, version.BuildDate)
	}
}

// TestREADMEListsEveryFlag keeps the README's flags table in step with --help.
func TestREADMEListsEveryFlag(t *testing.T) {
	help, err := exec.Command(binary, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, help)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`(?m)^ {2,6}(?:-\w, )?--(?:\[no-\])?([a-z][a-z.-]*)`).FindAllStringSubmatch(string(help), -1)
	if len(flags) < 10 {
		t.Fatalf("only %d flags in --help:\n%s", len(flags), help)
	}
	for _, f := range flags {
		if f[1] != "help" && !strings.Contains(string(readme), "\n| `--"+f[1]+"` |") {
			t.Errorf("the README's flags table lacks --%s", f[1])
		}
	}
}
