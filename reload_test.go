package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestReloadStorm reproduces a peer looping reload + scrape: a reload of an unchanged file
// changes nothing (no token, no refresh), one that changes only client settings keeps the
// token, and one that changes the selection rediscovers at once with the same token.
func TestReloadStorm(t *testing.T) {
	srv := atlastest.NewServer(atlastest.Options{
		Estate:   atlastest.Generate(atlastest.Spec{Seed: 7, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 4}),
		ClientID: "id", ClientSecret: "s3cr3t",
	})
	t.Cleanup(srv.Close)
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	write := func(extra string) {
		t.Helper()
		cfg := fmt.Sprintf("atlas:\n  base_url: %s\n  service_account: {client_id: id, client_secret: s3cr3t}\n%smin_refresh_interval: 5m\nprojects:\n  - id: 5f0000000000000000000001\n", srv.URL, extra)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	e := startExporter(t, "--config.file="+cfgFile, "--web.enable-lifecycle")
	// Ready says the snapshots are read; the first refresh's job reads may still be under way
	// until it counts its requests.
	e.waitMetrics(t, []string{`atlas_backup_exporter_last_refresh_requests{discovery="full"} `})
	first := srv.Count("")
	for range 50 {
		if code, body := e.reload(t); code != 200 {
			t.Fatalf("reload: %d %s", code, body)
		}
		e.get(t, "/metrics")
	}
	if n := srv.Count("") - first; n != 0 {
		t.Errorf("50 reloads of an unchanged file and scrapes sent %d requests to Atlas: %v", n, srv.Counts())
	}
	if n := e.waitLog(t, `msg="configuration unchanged" reason="POST /-/reload"`, 50); n != 50 {
		t.Errorf("%d unchanged reloads logged, want 50", n)
	}
	// Only the client's settings change: the token and the data stay.
	write("  max_concurrency: 4\n")
	if code, body := e.reload(t); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	if e.waitLog(t, `msg="configuration reloaded" reason="POST /-/reload" atlas_session_kept=true`, 1) == 0 {
		t.Errorf("client settings reload not logged as keeping the session:\n%s", e.logs)
	}
	if n := srv.Count("") - first; n != 0 {
		t.Errorf("a reload of client settings sent %d requests", n)
	}
	// The selection changes: a full discovery at once, with the token already held.
	write("  max_concurrency: 4\n  timeout: 10s\ndiscovery_interval: 2h\nbackup_schedules: false\n")
	if code, body := e.reload(t); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.Count("listGroups") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n, tokens := srv.Count("listGroups"), srv.Count("oauthToken"); n != 2 || tokens != 1 {
		t.Errorf("after a selection change: %d project listings (want 2: the start and the reload), %d token requests (want 1)", n, tokens)
	}
	_, body := e.get(t, "/metrics")
	for _, want := range []string{"atlas_backup_exporter_config_last_reload_successful 1\n", "atlas_backup_exporter_config_last_reload_success_timestamp_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// A failed reload says so in the gauge, and answers without quoting the file's values.
	if err := os.WriteFile(cfgFile, []byte("atlas:\n  service_account: {client_id: id, client_secret: [s3cr3t-typo]}\nprojects: [{name: P}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := e.reload(t); code != 400 || strings.Contains(body, "s3cr3t") {
		t.Errorf("bad reload: %d %q", code, body)
	}
	// A gzipped render is shared for up to a second.
	deadline = time.Now().Add(5 * time.Second)
	for {
		if _, body := e.get(t, "/metrics"); strings.Contains(body, "atlas_backup_exporter_config_last_reload_successful 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a failed reload is not in atlas_backup_exporter_config_last_reload_successful")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSecretFileRotation: a rotated secret file is read on its own, periodically and at once
// when Atlas refuses the credentials, and the exporter carries on with the new secret.
func TestSecretFileRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the secret file checks of two exporters")
	}
	for _, tc := range []struct {
		name, interval, reason string
		scrape                 bool // scrapes make the exporter call Atlas, and Atlas refuse the old secret
	}{
		{"periodic check", "200ms", `reason="secret file changed"`, false},
		{"after Atlas refuses the credentials", "0s", `reason="secret file changed after Atlas refused the credentials"`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := atlastest.NewServer(atlastest.Options{
				Estate:   atlastest.Generate(atlastest.Spec{Seed: 7, Projects: 1, ClustersPerProject: 2, SnapshotsPerCluster: 2}),
				ClientID: "id", ClientSecret: "old-s3cr3t",
			})
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			secret := filepath.Join(dir, "secret")
			if err := os.WriteFile(secret, []byte("old-s3cr3t\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfgFile := filepath.Join(dir, "c.yml")
			cfg := fmt.Sprintf("atlas:\n  base_url: %s\n  service_account: {client_id: id, client_secret_file: %s}\nmin_refresh_interval: 0s\nprojects: [{discover_all_projects: true}]\n", srv.URL, secret)
			if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			e := startExporter(t, "--config.file="+cfgFile, "--config.secret-check-interval="+tc.interval)
			// Kubernetes swaps the file under the mount; Atlas accepts only the new secret.
			srv.SetCredentials("id", "new-s3cr3t", "", "")
			if err := os.WriteFile(secret, []byte("new-s3cr3t\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for {
				if tc.scrape {
					e.get(t, "/metrics")
				}
				if strings.Contains(e.logs.String(), `msg="secret file changed; reloading" key=atlas.service_account.client_secret_file`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the rotated secret was not taken up:\n%s", e.logs)
				}
				time.Sleep(100 * time.Millisecond)
			}
			if _, body := e.get(t, "/metrics"); !strings.Contains(body, "atlas_backup_up 1\n") {
				t.Error("Atlas refuses the exporter after the rotation")
			}
			if e.waitLog(t, `msg="configuration reloaded" `+tc.reason+` atlas_session_kept=false`, 1) == 0 {
				t.Errorf("reload not logged with its reason:\n%s", e.logs)
			}
			if strings.Contains(e.logs.String(), "s3cr3t") {
				t.Error("a secret in the log")
			}
		})
	}
}

// TestIdleConnectionsAreClosed: connections that send nothing, or sit idle after a request, are
// closed after --web.read-header-timeout and --web.idle-timeout, so that thousands of them
// cannot use up the process's file descriptors; /metrics keeps answering meanwhile.
func TestIdleConnectionsAreClosed(t *testing.T) {
	e := startExporter(t, "--demo", "--web.read-header-timeout=300ms", "--web.idle-timeout=300ms")
	addr := strings.TrimPrefix(e.url, "http://")
	var conns []net.Conn
	for i := range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 0 {
			// Idle after one request on a keep-alive connection.
			fmt.Fprintf(c, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		conns = append(conns, c)
	}
	if code, _ := e.get(t, "/metrics"); code != 200 {
		t.Errorf("/metrics answered %d with 100 idle connections open", code)
	}
	time.Sleep(time.Second)
	for i, c := range conns {
		// The server may answer 408 before it closes; what matters is that it closes.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !isReset(err) {
			t.Errorf("connection %d still open after the timeouts: %v", i, err)
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), syscall.ECONNRESET.Error())
}

// TestReloadsKeepOneBound reloads three times during a refresh against a slow Atlas (one that
// finishes what the exporter gives up on): a client setting, a smaller max_concurrency, then
// other credentials. The calls of the earlier clients still in flight keep their slots, so
// Atlas never serves more than the largest max_concurrency in force.
func TestReloadsKeepOneBound(t *testing.T) {
	const pid = "5f0000000000000000000001"
	srv := atlastest.NewServer(atlastest.Options{
		Estate:   atlastest.Generate(atlastest.Spec{Seed: 9, Projects: 1, ClustersPerProject: 60, SnapshotsPerCluster: 2, Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}}),
		ClientID: "id", ClientSecret: "s3cr3t", PublicKey: "pub", PrivateKey: "priv",
		Latency: 50 * time.Millisecond, FinishAbandoned: true,
	})
	t.Cleanup(srv.Close)
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	write := func(atlas string) {
		t.Helper()
		// Jobs are read after each target's snapshots, on every refresh: calls start all along it.
		cfg := fmt.Sprintf("atlas:\n  base_url: %s\n%smin_refresh_interval: 0s\njobs_interval: 0s\nprojects:\n  - id: %s\n", srv.URL, atlas, pid)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const sa = "  service_account: {client_id: id, client_secret: s3cr3t}\n"
	write(sa + "  max_concurrency: 4\n")
	e := startExporter(t, "--config.file="+cfgFile, "--web.enable-lifecycle")
	srv.Reset() // the first refresh is over: the exporter is ready

	// Scrapes one after the other, each starting a refresh (min_refresh_interval 0s) once the
	// one before, job reads included, is over: refreshes run throughout the reloads.
	reloaded, scraped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scraped)
		for {
			select {
			case <-reloaded:
				return
			default:
				e.get(t, "/metrics")
			}
		}
	}()
	for i, atlas := range []string{
		sa + "  max_concurrency: 4\n  timeout: 31s\n",
		sa + "  max_concurrency: 2\n  timeout: 31s\n",
		"  api_key: {public_key: pub, private_key: priv}\n  max_concurrency: 3\n",
	} {
		for deadline := time.Now().Add(30 * time.Second); srv.Count("") < 30*(i+1) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		write(atlas)
		if code, body := e.reload(t); code != 200 {
			t.Fatalf("reload %d: %d %s", i+1, code, body)
		}
	}
	close(reloaded)
	<-scraped
	if got := srv.MaxInFlight(); got > 4 {
		t.Errorf("Atlas served %d requests at once across reloads, above the largest max_concurrency 4", got)
	}
}

// TestReloadKeepsEachSetsSession: two organisations, each with its credential set. eu-unit's
// secret file rotates: its set gets a new session (a new token), billing's keeps its own (no
// new token), and both read on. Then eu-unit's set is removed: its series go, billing's stay.
func TestReloadKeepsEachSetsSession(t *testing.T) {
	eu := atlastest.OrgID(1)
	srv := atlastest.NewServer(atlastest.Options{
		Estate:   atlastest.Generate(atlastest.Spec{Seed: 7, Projects: 2, ClustersPerProject: 2, SnapshotsPerCluster: 2, Orgs: 2}),
		ClientID: "billing", ClientSecret: "billing-s3cr3t", OrgName: "billing",
		Orgs: []atlastest.Org{{ID: eu, Name: "eu-unit", ClientID: "eu", ClientSecret: "old-s3cr3t"}},
	})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	secret := filepath.Join(dir, "eu-secret")
	if err := os.WriteFile(secret, []byte("old-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "c.yml")
	write := func(sets, projects string) {
		t.Helper()
		cfg := fmt.Sprintf("atlas:\n  base_url: %s\ncredentials:\n  billing:\n    service_account: {client_id: billing, client_secret: billing-s3cr3t}\n%smin_refresh_interval: 0s\nprojects:\n  - {discover_all_projects: true, credentials: billing}\n%s",
			srv.URL, sets, projects)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  eu-unit:\n    service_account: {client_id: eu, client_secret_file: "+secret+"}\n", "  - {discover_all_projects: true, credentials: eu-unit}\n")
	e := startExporter(t, "--config.file="+cfgFile, "--config.secret-check-interval=200ms", "--web.enable-lifecycle")
	srv.Reset() // the first refresh is over: each set holds a token
	srv.SetOrgCredentials(eu, "eu", "new-s3cr3t", "", "")
	if err := os.WriteFile(secret, []byte("new-s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.waitLog(t, `msg="configuration reloaded" reason="secret file changed" atlas_session_kept=false new_sessions=eu-unit`, 1) == 0 {
		t.Fatalf("the rotation did not renew eu-unit's session alone:\n%s", e.logs)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := e.get(t, "/metrics")
		if strings.Contains(body, `atlas_backup_credentials_up{credentials="eu-unit"} 1`) && srv.OrgCounts(eu)["oauthToken"] == 1 && srv.OrgCounts(eu)["listClusterDetails"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("eu-unit does not read with its new secret: %v\n%s", srv.OrgCounts(eu), e.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := srv.OrgCounts(atlastest.DefaultOrgID)["oauthToken"]; n != 0 {
		t.Errorf("billing asked for %d tokens after eu-unit's rotation, want none: its session stays", n)
	}
	write("", "")
	if code, body := e.reload(t); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	_, body := e.get(t, "/metrics")
	if strings.Contains(body, `credentials="eu-unit"`) || !strings.Contains(body, `atlas_backup_credentials_up{credentials="billing"} 1`) {
		t.Errorf("after removing eu-unit:\n%s", strings.Join(grepLines(body, "credentials="), "\n"))
	}
	if strings.Contains(e.logs.String(), "s3cr3t") {
		t.Error("a secret in the log")
	}
}

// grepLines returns the lines of s that contain substr.
func grepLines(s, substr string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// TestReloadOfConnectionRenewsSessions: a reload that changes the connection settings starts a
// new Atlas session (the old one's transport goes with it), one that changes only a timeout
// keeps it, and reloading the same file changes nothing, though the connection it builds holds
// functions that never compare equal.
func TestReloadOfConnectionRenewsSessions(t *testing.T) {
	t.Parallel()
	srv := newFakeAtlas(t, atlastest.Options{})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	write := func(atlasKeys string) {
		t.Helper()
		cfg := fmt.Sprintf("atlas:\n  base_url: %s\n  api_key: {public_key: pubkey, private_key: private-key-abcdef}\n%sprojects:\n  - {id: 5f0000000000000000000001}\n", srv.URL, atlasKeys)
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	e := startExporter(t, "--config.file="+cfgFile, "--web.enable-lifecycle")
	for i, step := range []struct{ keys, answer, log string }{
		{"", "Configuration unchanged: nothing to reload\n", `msg="configuration unchanged"`},
		{"  proxy_from_environment: false\n", "Reloaded\n", `msg="configuration reloaded" reason="POST /-/reload" atlas_session_kept=false`},
		{"  proxy_from_environment: false\n", "Configuration unchanged: nothing to reload\n", `msg="configuration unchanged"`},
		{"  proxy_from_environment: false\n  timeout: 20s\n", "Reloaded\n", `msg="configuration reloaded" reason="POST /-/reload" atlas_session_kept=true`},
	} {
		write(step.keys)
		before := strings.Count(e.logs.String(), step.log)
		if code, body := e.reload(t); code != 200 || body != step.answer {
			t.Errorf("reload %d: %d %q, want %q", i, code, body, step.answer)
		}
		if e.waitLog(t, step.log, before+1) != before+1 {
			t.Errorf("reload %d: no log line %s", i, step.log)
		}
	}
}
