package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestAtlasDeprecationHeaders: Atlas's Deprecation and Sunset headers, in both date forms,
// become the per-operation series and one log line each, and win over what the exporter knew of
// the snapshot endpoints; answers without them make no series.
func TestAtlasDeprecationHeaders(t *testing.T) {
	e := newEnv(t, atlastest.Options{Retirements: map[atlastest.OpVersion]atlastest.Retirement{
		// Cloud Backup snapshots: the structured deprecation date, Atlas's one-digit-day sunset.
		{Operation: "listGroupClusterBackupSnapshots", Version: "2023-01-01"}: {Deprecation: "@1688169599", Sunset: "Thu, 1 Jul 2027 00:00:00 GMT"},
		// Flex snapshots: the other way round.
		{Operation: "listGroupFlexClusterBackupSnapshots", Version: "2024-11-13"}: {Deprecation: "Mon, 5 Aug 2024 00:00:00 GMT", Sunset: "@1814400000"},
		// Serverless snapshots: a sunset later than the one the exporter was built with.
		{Operation: "listGroupServerlessBackupSnapshots", Version: "2023-01-01"}: {Deprecation: "true", Sunset: "Mon, 18 Jan 2027 00:00:00 GMT"},
	}}, oneProject())
	e.refresh(t)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	out := e.exposition(t)
	lines := func(prefix string) string { return strings.Join(grep(out, prefix+"{"), "\n") }
	const target = `project="project-001",project_id="5f0000000000000000000001"`
	for prefix, want := range map[string][]string{
		"atlas_backup_exporter_api_deprecated": {
			`atlas_backup_exporter_api_deprecated{operation="listGroupClusterBackupSnapshots",version="2023-01-01"} 1`,
			`atlas_backup_exporter_api_deprecated{operation="listGroupFlexClusterBackupSnapshots",version="2024-11-13"} 1`,
			`atlas_backup_exporter_api_deprecated{operation="listGroupServerlessBackupSnapshots",version="2023-01-01"} 1`,
		},
		"atlas_backup_exporter_api_sunset_timestamp_seconds": {
			`atlas_backup_exporter_api_sunset_timestamp_seconds{operation="listGroupClusterBackupSnapshots",version="2023-01-01"} 1.8144e+09`,
			`atlas_backup_exporter_api_sunset_timestamp_seconds{operation="listGroupFlexClusterBackupSnapshots",version="2024-11-13"} 1.8144e+09`,
			`atlas_backup_exporter_api_sunset_timestamp_seconds{operation="listGroupServerlessBackupSnapshots",version="2023-01-01"} 1.8002304e+09`,
		},
		// tenant-03 is a Flex cluster now. The sharded cluster is read through other
		// operations, of which Atlas said nothing.
		"atlas_backup_endpoint_deprecated": {
			`atlas_backup_endpoint_deprecated{cluster="dedicated-01",kind="cloud",` + target + `,sunset_date="2027-07-01"} 1`,
			`atlas_backup_endpoint_deprecated{cluster="flex-02",kind="flex",` + target + `,sunset_date="2027-07-01"} 1`,
			`atlas_backup_endpoint_deprecated{cluster="serverless-04",kind="serverless",` + target + `,sunset_date="2027-01-18"} 1`,
			`atlas_backup_endpoint_deprecated{cluster="tenant-03",kind="flex",` + target + `,sunset_date="2027-07-01"} 1`,
		},
		"atlas_backup_endpoint_sunset_timestamp_seconds": {
			`atlas_backup_endpoint_sunset_timestamp_seconds{cluster="dedicated-01",kind="cloud",` + target + `} 1.8144e+09`,
			`atlas_backup_endpoint_sunset_timestamp_seconds{cluster="flex-02",kind="flex",` + target + `} 1.8144e+09`,
			`atlas_backup_endpoint_sunset_timestamp_seconds{cluster="serverless-04",kind="serverless",` + target + `} 1.8002304e+09`,
			`atlas_backup_endpoint_sunset_timestamp_seconds{cluster="tenant-03",kind="flex",` + target + `} 1.8144e+09`,
		},
	} {
		if got := lines(prefix); got != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", prefix, got, strings.Join(want, "\n"))
		}
	}
	for _, line := range []string{
		`level=warn msg="Atlas says an API version the exporter sends is deprecated; upgrade the exporter before the sunset date" operation=listGroupClusterBackupSnapshots version=2023-01-01 deprecation_date=2023-06-30 sunset_date=2027-07-01`,
		`level=warn msg="Atlas says an API version the exporter sends is deprecated; upgrade the exporter before the sunset date" operation=listGroupFlexClusterBackupSnapshots version=2024-11-13 deprecation_date=2024-08-05 sunset_date=2027-07-01`,
		`level=warn msg="Atlas says an API version the exporter sends is deprecated; upgrade the exporter before the sunset date" operation=listGroupServerlessBackupSnapshots version=2023-01-01 deprecation_date= sunset_date=2027-01-18`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, line, e.logs)
		}
	}
	if n := strings.Count(e.logs.String(), "Atlas says an API version"); n != 3 {
		t.Errorf("%d deprecation lines logged, want 3:\n%s", n, e.logs)
	}
}

// TestNoDeprecationHeaders: without the headers, only what the exporter was built with shows.
func TestNoDeprecationHeaders(t *testing.T) {
	e := newEnv(t, atlastest.Options{Retirements: map[atlastest.OpVersion]atlastest.Retirement{}}, oneProject())
	e.refresh(t)
	out := e.exposition(t)
	for _, name := range []string{"atlas_backup_exporter_api_deprecated", "atlas_backup_exporter_api_sunset_timestamp_seconds"} {
		if strings.Contains(out, name) {
			t.Errorf("%s exposed without a header:\n%s", name, strings.Join(grep(out, name), "\n"))
		}
	}
	got := strings.Join(append(grep(out, "atlas_backup_endpoint_deprecated{"), grep(out, "atlas_backup_endpoint_sunset_timestamp_seconds{")...), "\n")
	want := `atlas_backup_endpoint_deprecated{cluster="serverless-04",kind="serverless",project="project-001",project_id="5f0000000000000000000001",sunset_date="2026-01-22"} 1
atlas_backup_endpoint_sunset_timestamp_seconds{cluster="serverless-04",kind="serverless",project="project-001",project_id="5f0000000000000000000001"} 1.76904e+09`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(e.logs.String(), "Atlas says an API version") {
		t.Errorf("a deprecation logged without a header:\n%s", e.logs)
	}
}
