package collector_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestFaultsOnOneTarget injects each fault into one cluster's snapshot listing, refreshes four
// times, and checks that the cluster reports failure and keeps its last good data, the others
// are unaffected, and the problem is logged once.
func TestFaultsOnOneTarget(t *testing.T) {
	cases := []struct {
		name     string
		fault    atlastest.Fault
		client   func(*atlas.Config)
		requests int    // requests to the faulty listing over the four faulty refreshes
		logged   string // the error, logged exactly once
	}{
		{"429 with Retry-After", atlastest.Fault{Status: 429, RetryAfter: "1"}, nil, 4, "HTTP 429 RATE_LIMITED_TOKEN_BUCKET"},
		// A bogus Retry-After pauses the bucket for the rest of that refresh only: every refresh
		// asks again, and the error does not count down.
		{"429 with Retry-After of 31 years", atlastest.Fault{Status: 429, RetryAfter: "1000000000"}, nil, 4, "HTTP 429 RATE_LIMITED_TOKEN_BUCKET"},
		{"429 with Retry-After in 2099", atlastest.Fault{Status: 429, RetryAfter: "Thu, 01 Jan 2099 00:00:00 GMT"}, nil, 4, "HTTP 429 RATE_LIMITED_TOKEN_BUCKET"},
		{"429 without Retry-After, retried", atlastest.Fault{Status: 429},
			func(c *atlas.Config) {
				c.Retry = atlas.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
			},
			12, "HTTP 429 RATE_LIMITED_TOKEN_BUCKET"},
		{"500", atlastest.Fault{Status: 500}, nil, 4, "HTTP 500 UNEXPECTED_ERROR"},
		{"502", atlastest.Fault{Status: 502}, nil, 4, "HTTP 502 BAD_GATEWAY"},
		{"503 burst, retried", atlastest.Fault{Status: 503},
			func(c *atlas.Config) {
				c.Retry = atlas.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
			},
			8, "HTTP 503 SERVICE_UNAVAILABLE"},
		{"never answers", atlastest.Fault{Hang: true}, func(c *atlas.Config) { c.Timeout = 100 * time.Millisecond }, 4, "request timed out after 100ms"},
		{"body cut off", atlastest.Fault{Truncate: true}, nil, 4, "reading response: unexpected EOF"},
		{"malformed JSON", atlastest.Fault{Body: `{"results": [{"id": 1`}, nil, 4, "decoding response: unexpected end of JSON input"},
		{"HTML", atlastest.Fault{Body: "<html><body>Bad gateway</body></html>"}, nil, 4, "decoding response: invalid character '<' looking for beginning of value"},
		{"body over the cap", atlastest.Fault{Body: `{"results": [` + strings.Repeat(`{"id":"x"},`, 2000) + `{}]}`},
			func(c *atlas.Config) { c.MaxBodyBytes = 16 << 10 }, 4, "HTTP 200: response body exceeds 16384 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []func(*atlas.Config)
			if tc.client != nil {
				opts = append(opts, tc.client)
			}
			e := newEnv(t, atlastest.Options{}, oneProject(), opts...)
			e.refresh(t)
			e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &tc.fault)
			before := flexListings(e)
			for range 4 {
				e.clock.Advance(time.Minute)
				e.refresh(t)
			}
			out := e.exposition(t)
			expectLines(t, out, flexSuccess+" 0", cloudOK, flexLastGood, flexCount, "atlas_backup_up 1")
			if n := flexListings(e) - before; n != tc.requests {
				t.Errorf("%d requests to the faulty listing, want %d", n, tc.requests)
			}
			if n := strings.Count(e.logs.String(), tc.logged); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", tc.logged, n, e.logs)
			}
			// And it recovers.
			e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", nil)
			e.clock.Advance(time.Minute)
			e.refresh(t)
			if out := e.exposition(t); !strings.Contains(out, flexSuccess+" 1\n") {
				t.Error("no recovery")
			}
		})
	}
}

// flexListings counts the requests for flex-02's snapshot listing.
func flexListings(e *env) int {
	n := 0
	for _, r := range e.srv.Requests() {
		if strings.HasSuffix(r.Path, "/flexClusters/flex-02/backup/snapshots") {
			n++
		}
	}
	return n
}

// TestOddButValidAnswers: data Atlas might send that is not an error.
func TestOddButValidAnswers(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Body: `{"results": [
		{"id": "6a0000000000000000000abc", "status": "EXPLODED", "finishTime": "2026-11-20T10:00:00Z"},
		{"id": "6a0000000000000000000abd"},
		{"id": "6a0000000000000000000abe", "status": "EXPLODED"}], "links": []}`})
	for range 3 {
		e.refresh(t)
		e.clock.Advance(time.Minute)
	}
	out := e.exposition(t)
	expectLines(t, out,
		flexSuccess+" 1",
		`atlas_backup_snapshots{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="unknown"} 3`,
		`atlas_backup_snapshot_created_timestamp_seconds{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",snapshot_id="6a0000000000000000000abc"} 1.7951688e+09`,
		`atlas_backup_snapshot_status{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",snapshot_id="6a0000000000000000000abd",status="failed"} 0`)
	// A snapshot without times has no time series.
	if strings.Contains(out, `snapshot_created_timestamp_seconds{cluster="flex-02",kind="flex",project="project-001",project_id="5f0000000000000000000001",snapshot_id="6a0000000000000000000abd"}`) {
		t.Error("creation time of a snapshot without one")
	}
	// Each unknown status value is logged once, however many snapshots and refreshes carry it.
	if n := strings.Count(e.logs.String(), `msg="snapshot has a status Atlas does not document" status=EXPLODED`); n != 1 {
		t.Errorf("unknown status logged %d times:\n%s", n, e.logs)
	}
	testenv.CheckMetrics(t, out)
}

// TestDuplicateSnapshotIDs: a listing that carries every snapshot twice is counted once, with
// one series per snapshot.
func TestDuplicateSnapshotIDs(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Duplicates: true})
	e.refresh(t)
	out := e.exposition(t)
	expectLines(t, out, flexSuccess+" 1", flexCount)
	series := `atlas_backup_snapshot_created_timestamp_seconds{cluster="flex-02",`
	if n := strings.Count(out, series); n != 3 {
		t.Errorf("%d snapshot series for flex-02, want 3:\n%s", n, out)
	}
	testenv.CheckMetrics(t, out)
}

// TestAtlasUnreachable: every request fails to connect; all data stays, marked as failing.
func TestAtlasUnreachable(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	// Swap in a client of an address nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	client, err := atlas.New(atlas.Config{BaseURL: dead, APIKey: &atlas.APIKey{PublicKey: "a", PrivateKey: "b"}, Retry: atlas.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	e.engine.Reconfigure(estate.Sources{"": atlas.NewFetcher(client)}, estate.Settings{MinRefreshInterval: time.Minute, SnapshotMetrics: true, RefreshTimeout: 10 * time.Second, Projects: []config.Project{{ID: p1}}})
	for range 3 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
	}
	out := e.exposition(t)
	expectLines(t, out,
		"atlas_backup_up 0",
		flexSuccess+" 0",
		strings.TrimSuffix(cloudOK, "1")+"0",
		flexLastGood, flexCount,
		`atlas_backup_discovery_success{project="project-001",project_id="5f0000000000000000000001"} 0`)
	// Once for the project listing and once per target, over three refreshes.
	if n := strings.Count(e.logs.String(), "connect: connection refused"); n != 6 {
		t.Errorf("connection refused logged %d times, want 6:\n%s", n, e.logs)
	}
}

// TestAtlasFailingEverywhere: every API call answers 503: Atlas is not "up".
func TestAtlasFailingEverywhere(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	e.srv.SetFault("*", "", &atlastest.Fault{Status: 503})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	out := e.exposition(t)
	expectLines(t, out, "atlas_backup_up 0", flexSuccess+" 0", flexLastGood)
}

// TestScheduleFault: a backup schedule that cannot be read fails the target's collection but
// keeps the last schedule, and the snapshots read beside it are still updated.
func TestScheduleFault(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	e.srv.SetFault("getGroupClusterBackupSchedule", "dedicated-01", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Snapshots = append([]atlastest.Snap{{ID: "6a00000000000000000000ff", Status: "completed", CreatedAt: testNow, Type: "scheduled", Frequency: "hourly"}}, c.Snapshots...)
		c.Policy = []atlastest.PolicyItem{{Frequency: "hourly", Interval: 1, RetentionUnit: "days", RetentionValue: 1}}
	})
	// The schedule is read again once the next snapshot it announced is due.
	e.clock.Advance(6 * time.Hour)
	for range 3 {
		e.clock.Advance(time.Minute)
		e.refresh(t)
	}
	out := e.exposition(t)
	expectLines(t, out,
		"atlas_backup_collect_success"+cloudLabels+" 0",
		"atlas_backup_schedule_interval_seconds"+cloudLabels+" 21600",
		`atlas_backup_snapshots{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="completed"} 4`,
		"atlas_backup_last_completed_snapshot_timestamp_seconds"+cloudLabels+" 1.795176e+09",
		"atlas_backup_up 1")
	logged := `msg="backup schedule collection" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-01 kind=cloud err="atlas: getGroupClusterBackupSchedule project=5f0000000000000000000001 cluster=dedicated-01 GET /api/atlas/v2/groups/5f0000000000000000000001/clusters/dedicated-01/backup/schedule: HTTP 403 USER_UNAUTHORIZED: injected fault"`
	if n := strings.Count(e.logs.String(), logged); n != 1 {
		t.Errorf("schedule error logged %d times, want once:\n%s", n, e.logs)
	}
	e.srv.SetFault("getGroupClusterBackupSchedule", "dedicated-01", nil)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	expectLines(t, e.exposition(t), cloudOK, "atlas_backup_schedule_interval_seconds"+cloudLabels+" 3600")
}
