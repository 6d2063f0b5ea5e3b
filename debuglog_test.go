package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestDebugLog: --log.level=debug logs each exchange with Atlas (here a listing Atlas fails once
// with 503, then answers) and each refresh's start and end, with what it planned and the
// requests it sent; nothing a header or body holds, so no secret. At info, none of it.
func TestDebugLog(t *testing.T) {
	t.Parallel()
	srv := newFakeAtlas(t, atlastest.Options{})
	srv.SetFault("listGroupClusters", "", &atlastest.Fault{Status: 503, Times: 1})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	writeConfig(t, cfgFile, srv.URL, "  - id: 5f0000000000000000000001\n    clusters: [dedicated-01]\n")
	e := startExporter(t, "--config.file="+cfgFile, "--log.level=debug")
	const ts = `ts=\S+ level=debug `
	for _, want := range []string{
		ts + `msg="refresh started" credentials=default cycle=1 discovery=full projects_due=0 entries_due=0 targets_known=0`,
		ts + `msg="atlas request" credentials=default operation=listGroupClusters method=GET path=/api/atlas/v2/groups/5f0000000000000000000001/clusters status=503 attempt=1 duration=\S+`,
		ts + `msg="atlas request" credentials=default operation=listGroupClusters method=GET path=/api/atlas/v2/groups/5f0000000000000000000001/clusters status=200 attempt=2 retry_of=server_error duration=\S+`,
		ts + `msg="atlas request" credentials=default operation=listGroupClusterBackupSnapshots method=GET path=/api/atlas/v2/groups/5f0000000000000000000001/clusters/dedicated-01/backup/snapshots status=200 attempt=1 duration=\S+`,
		ts + `msg="refresh snapshot phase ended" credentials=default cycle=1 targets_read=1 complete=true up=true duration=\S+`,
		ts + `msg="refresh ended" credentials=default cycle=1 discovery=full requests=\d+ duration=\S+`,
	} {
		re := regexp.MustCompile(`(?m)^` + want + `$`)
		deadline := time.Now().Add(30 * time.Second)
		for !re.MatchString(e.logs.String()) {
			if time.Now().After(deadline) {
				t.Errorf("no log line matches\n%s", want)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	logs := e.logs.String()
	for _, secret := range []string{"private-key-abcdef", "Digest ", "Authorization"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the debug log holds %q", secret)
		}
	}

	info := startExporter(t, "--config.file="+cfgFile)
	info.get(t, "/metrics")
	if strings.Contains(info.logs.String(), "level=debug") {
		t.Errorf("debug lines at --log.level=info:\n%s", info.logs)
	}
}
