package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestStateFileAcrossRestartServesZeroFirst: snapshots deleted while the exporter was down
// with --storage.path are logged at the restarted exporter's first refresh, but /metrics shows
// its counter at 0 first, its first scrape included even when that scrape comes after
// min_refresh_interval and starts the second refresh, and 2 later: a restarted exporter's series
// are new to Prometheus, and increase() needs to see them move from 0.
func TestStateFileAcrossRestartServesZeroFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the exporter and waits for its refreshes")
	}
	srv := newFakeAtlas(t, atlastest.Options{})
	dir := t.TempDir()
	cfgFile, state := filepath.Join(dir, "c.yml"), filepath.Join(dir, "state.json")
	cfg := fmt.Sprintf("atlas:\n  base_url: %s\n  api_key: {public_key: pubkey, private_key: private-key-abcdef}\nmin_refresh_interval: 1s\nprojects:\n  - id: 5f0000000000000000000001\n    clusters: [dedicated-01]\n", srv.URL)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const series = `atlas_backup_snapshots_deleted_early_total{cause="unexplained",cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} `
	args := []string{"--config.file=" + cfgFile, "--storage.path=" + state}

	before := startExporter(t, args...)
	before.waitMetrics(t, []string{series + "0\n"})
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file: %v", err)
	}
	if err := before.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = before.cmd.Wait()
	srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.DeleteSnapshots(c.Snapshots[0].ID, c.Snapshots[1].ID)
	})

	after := startExporter(t, args...)  // ready: its first refresh, at start, is over
	time.Sleep(1500 * time.Millisecond) // the first scrape starts the second refresh
	var seen []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(1100 * time.Millisecond) {
		code, body := after.get(t, "/metrics")
		if code != 200 {
			continue // no sample for Prometheus either
		}
		v := "absent"
		if i := strings.Index(body, series); i >= 0 {
			v, _, _ = strings.Cut(body[i+len(series):], "\n")
		}
		if len(seen) == 0 || seen[len(seen)-1] != v {
			seen = append(seen, v)
		}
		if v != "0" {
			break
		}
	}
	if got := strings.Join(seen, " then "); got != "0 then 2" {
		t.Errorf("after the restart, the counter was %s; want 0 then 2", got)
	}
	if !strings.Contains(after.logs.String(), `msg="state file read" path=`+state+` baselines=1`) {
		t.Errorf("state file not read:\n%s", after.logs)
	}
	if n := after.waitLog(t, `msg="snapshot deleted before its expiry"`, 2); n != 2 {
		t.Errorf("logged %d deletions, want 2:\n%s", n, after.logs)
	}
}
