package atlas

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

const pid = "5f0000000000000000000001"

func TestSnapshotsEveryKind(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv, func(c *Config) { c.UserAgent = "atlas_backup_exporter/test" })
	cases := []struct {
		target   Target
		op, path string
		query    string
		accept   string
		first    Snapshot
	}{
		{
			target: Target{pid, "dedicated-01", KindCloud, false}, op: "listGroupClusterBackupSnapshots",
			path: "/api/atlas/v2/groups/" + pid + "/clusters/dedicated-01/backup/snapshots", query: "includeCount=false&itemsPerPage=500", accept: "2023-01-01",
			first: Snapshot{ID: "6a0000010000000000000001", Status: StatusCompleted, RawStatus: "completed",
				CreatedAt: at("2026-11-20T11:27:22Z"), ExpiresAt: at("2026-11-22T11:27:22Z"), SizeBytes: 1148695908, HasSize: true, Type: "scheduled", Frequency: "hourly", MongoDBVersion: "8.0.4",
				CopyRegions: []string{"US_WEST_2"}},
		},
		{
			target: Target{pid, "dedicated-06", KindCloud, true}, op: "listGroupClusterBackupSnapshotShardedClusters",
			path: "/api/atlas/v2/groups/" + pid + "/clusters/dedicated-06/backup/snapshots/shardedClusters", query: "", accept: "2023-01-01",
			first: Snapshot{ID: "6a0000010000000000000010", Status: StatusCompleted, RawStatus: "completed",
				CreatedAt: at("2026-11-20T11:00:26Z"), ExpiresAt: at("2026-11-22T11:00:26Z"), SizeBytes: 1241682740, HasSize: true, Type: "scheduled", Frequency: "hourly", MongoDBVersion: "8.0.4"},
		},
		{
			target: Target{pid, "flex-02", KindFlex, false}, op: "listGroupFlexClusterBackupSnapshots",
			path: "/api/atlas/v2/groups/" + pid + "/flexClusters/flex-02/backup/snapshots", query: "includeCount=false&itemsPerPage=500", accept: "2024-11-13",
			first: Snapshot{ID: "6a0000010000000000000004", Status: StatusFailed, RawStatus: "FAILED",
				CreatedAt: at("2026-11-20T11:03:41Z"), ExpiresAt: at("2026-11-28T11:04:11Z"), Type: "scheduled", Frequency: "daily", MongoDBVersion: "8.0.4"},
		},
		{
			target: Target{pid, "tenant-03", KindTenant, false}, op: "listGroupClusterBackupTenantSnapshots",
			path: "/api/atlas/v2/groups/" + pid + "/clusters/tenant-03/backup/tenant/snapshots", query: "", accept: "2023-01-01",
			first: Snapshot{ID: "6a0000010000000000000007", Status: StatusInProgress, RawStatus: "RUNNING",
				CreatedAt: at("2026-11-20T11:04:12Z"), ExpiresAt: at("2026-11-28T11:04:42Z"), Type: "scheduled", Frequency: "daily", MongoDBVersion: "8.0.4"},
		},
		{
			target: Target{pid, "serverless-04", KindServerless, false}, op: "listGroupServerlessBackupSnapshots",
			path: "/api/atlas/v2/groups/" + pid + "/serverless/serverless-04/backup/snapshots", query: "includeCount=false&itemsPerPage=500", accept: "2023-01-01",
			first: Snapshot{ID: "6a000001000000000000000a", Status: StatusCompleted, RawStatus: "completed",
				CreatedAt: at("2026-11-16T11:17:33Z"), ExpiresAt: at("2026-11-24T11:17:33Z"), SizeBytes: 1333150556, HasSize: true, Type: "scheduled", Frequency: "daily", MongoDBVersion: "8.0.4"},
		},
		{
			target: Target{pid, "legacy-05", KindLegacy, false}, op: "listGroupClusterSnapshots",
			path: "/api/atlas/v2/groups/" + pid + "/clusters/legacy-05/snapshots", query: "completed=all&includeCount=false&itemsPerPage=500", accept: "2023-01-01",
			first: Snapshot{ID: "6a000001000000000000000d", Status: StatusCompleted, RawStatus: "complete=true",
				CreatedAt: at("2026-11-20T11:55:33Z"), ExpiresAt: at("2026-11-28T11:55:33Z"), SizeBytes: 1097804569, HasSize: true, MongoDBVersion: "8.0.4"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			srv.Reset()
			got, err := c.Snapshots(t.Context(), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("got %d snapshots, want 3", len(got))
			}
			if !reflect.DeepEqual(got[0], tc.first) {
				t.Errorf("first snapshot\n got %+v\nwant %+v", got[0], tc.first)
			}
			want := []atlastest.Request{{Method: "GET", Path: tc.path, Query: tc.query, Operation: tc.op, Accept: "application/vnd.atlas." + tc.accept + "+json",
				Auth: "bearer", UserAgent: "atlas_backup_exporter/test", Status: 200}}
			if reqs := apiRequests(srv.Requests()); !reflect.DeepEqual(reqs, want) {
				t.Errorf("requests\n got %+v\nwant %+v", reqs, want)
			}
			one, err := c.Snapshot(t.Context(), tc.target, tc.first.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(one, tc.first) {
				t.Errorf("get-one\n got %+v\nwant %+v", one, tc.first)
			}
		})
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestGetOnePaths(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	cases := []struct {
		target Target
		id     string
		path   string
	}{
		{Target{pid, "dedicated-01", KindCloud, false}, "6a0000010000000000000001", "/clusters/dedicated-01/backup/snapshots/6a0000010000000000000001"},
		{Target{pid, "dedicated-06", KindCloud, true}, "6a0000010000000000000010", "/clusters/dedicated-06/backup/snapshots/shardedCluster/6a0000010000000000000010"},
		{Target{pid, "flex-02", KindFlex, false}, "6a0000010000000000000004", "/flexClusters/flex-02/backup/snapshots/6a0000010000000000000004"},
		{Target{pid, "tenant-03", KindTenant, false}, "6a0000010000000000000007", "/clusters/tenant-03/backup/tenant/snapshots/6a0000010000000000000007"},
		{Target{pid, "serverless-04", KindServerless, false}, "6a000001000000000000000a", "/serverless/serverless-04/backup/snapshots/6a000001000000000000000a"},
		{Target{pid, "legacy-05", KindLegacy, false}, "6a000001000000000000000d", "/clusters/legacy-05/snapshots/6a000001000000000000000d"},
	}
	for _, tc := range cases {
		srv.Reset()
		if _, err := c.Snapshot(t.Context(), tc.target, tc.id); err != nil {
			t.Fatal(err)
		}
		reqs := apiRequests(srv.Requests())
		if len(reqs) != 1 || reqs[0].Path != "/api/atlas/v2/groups/"+pid+tc.path || reqs[0].Query != "" {
			t.Errorf("%v: requests %+v", tc.target, reqs)
		}
	}
	_, err := c.Snapshot(t.Context(), cases[0].target, "0123456789abcdef01234567")
	want := "atlas: getGroupClusterBackupSnapshot project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid +
		"/clusters/dedicated-01/backup/snapshots/0123456789abcdef01234567: HTTP 404 SNAPSHOT_NOT_FOUND: No snapshot with ID 0123456789abcdef01234567 exists."
	if err == nil || err.Error() != want {
		t.Errorf("error\n got %v\nwant %s", err, want)
	}
}

func TestDiscovery(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	ps, err := c.Projects(t.Context())
	if err != nil || !reflect.DeepEqual(ps, []Project{{pid, "project-001", atlastest.DefaultOrgID}}) {
		t.Fatalf("projects %v %v", ps, err)
	}
	p, err := c.ProjectByName(t.Context(), "project-001")
	if err != nil || p != (Project{pid, "project-001", atlastest.DefaultOrgID}) {
		t.Fatalf("by name %v %v", p, err)
	}
	_, err = c.ProjectByName(t.Context(), "nope")
	if want := `atlas: getGroupByName GET /api/atlas/v2/groups/byName/nope: HTTP 404 GROUP_NAME_NOT_FOUND: No group with name "nope" exists.`; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	cl, err := c.Clusters(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range cl.Clusters {
		got = append(got, fmt.Sprintf("%s kind=%q sharded=%v type=%s tier=%s backup=%v", k.Name, k.Kind, k.Sharded, k.Type, k.Tier, k.BackupEnabled))
	}
	want := []string{
		`dedicated-01 kind="cloud" sharded=false type=REPLICASET tier=M30 backup=true`,
		`dedicated-06 kind="cloud" sharded=true type=SHARDED tier=M30 backup=true`,
		`disabled-08 kind="" sharded=false type=REPLICASET tier=M30 backup=false`,
		`flex-02 kind="flex" sharded=false type=FLEX tier=FLEX backup=true`,
		`legacy-05 kind="" sharded=false type=REPLICASET tier=M30 backup=false`,
		`m0-07 kind="" sharded=false type=TENANT tier=M0 backup=false`,
		`serverless-04 kind="serverless" sharded=false type=SERVERLESS tier=SERVERLESS backup=true`,
		`tenant-03 kind="flex" sharded=false type=FLEX tier=FLEX backup=true`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clusters\n got %q\nwant %q", got, want)
	}
	if cl.ServerlessGone != nil {
		t.Errorf("serverless listing gone: %v", cl.ServerlessGone)
	}
	srv.SetSunset(atlastest.EndpointServerlessList, atlastest.Gone)
	cl, err = c.Clusters(t.Context(), pid)
	if err != nil || cl.ServerlessGone == nil || len(cl.Clusters) != 7 {
		t.Errorf("with serverless listing gone: %d clusters, gone=%v, err=%v", len(cl.Clusters), cl.ServerlessGone, err)
	}
	_, err = c.Clusters(t.Context(), "5f00000000000000000000ff")
	if want := "atlas: listGroupClusters project=5f00000000000000000000ff GET /api/atlas/v2/groups/5f00000000000000000000ff/clusters: HTTP 404 GROUP_NOT_FOUND: No group with ID 5f00000000000000000000ff exists."; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestPagingFollowsNextLinks(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 2, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 30, Retention: 10 * 24 * time.Hour,
		Kinds: []atlastest.ClusterKind{atlastest.Dedicated}, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est, PageCap: 7})
	c, _ := newTestClient(t, srv)
	got, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 {
		t.Fatalf("got %d snapshots, want 30", len(got))
	}
	for i, s := range got {
		if want := est.Projects[0].Clusters[0].Snapshots[i].ID; s.ID != want {
			t.Errorf("snapshot %d is %s, want %s", i, s.ID, want)
		}
	}
	var queries []string
	for _, r := range apiRequests(srv.Requests()) {
		queries = append(queries, r.Query)
	}
	// The later pages carry a count, and the first page is looked at again: see TestShiftingPages.
	want := []string{
		"includeCount=false&itemsPerPage=500",
		"includeCount=true&itemsPerPage=7&pageNum=2",
		"includeCount=true&itemsPerPage=7&pageNum=3",
		"includeCount=true&itemsPerPage=7&pageNum=4",
		"includeCount=true&itemsPerPage=7&pageNum=5",
		"includeCount=true&itemsPerPage=500",
	}
	if !reflect.DeepEqual(queries, want) {
		t.Errorf("queries\n got %q\nwant %q", queries, want)
	}
}

func TestGoneClassification(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	cases := []struct {
		name        string
		sunset      atlastest.SunsetMode
		target      Target
		replacement Kind
		status      int
		code        string
	}{
		{"tenant 410", atlastest.Gone, Target{pid, "tenant-03", KindTenant, false}, KindFlex, 410, "VERSION_GONE"},
		{"tenant 404", atlastest.NotFound, Target{pid, "tenant-03", KindTenant, false}, KindFlex, 404, "RESOURCE_NOT_FOUND"},
		{"serverless 410", atlastest.Gone, Target{pid, "serverless-04", KindServerless, false}, KindFlex, 410, "VERSION_GONE"},
		{"legacy on cloud cluster", atlastest.Working, Target{pid, "dedicated-01", KindLegacy, false}, KindCloud, 400, "INCORRECT_BACKUP_API_ENDPOINT"},
		{"cloud on flex cluster", atlastest.Working, Target{pid, "flex-02", KindCloud, false}, KindFlex, 400, "CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API"},
		{"flex on dedicated cluster", atlastest.Working, Target{pid, "dedicated-01", KindFlex, false}, KindCloud, 400, "CANNOT_USE_NON_FLEX_CLUSTER_IN_FLEX_API"},
		{"serverless on dedicated cluster", atlastest.Working, Target{pid, "dedicated-01", KindServerless, false}, KindFlex, 400, "CANNOT_USE_CLUSTER_IN_SERVERLESS_INSTANCE_API"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetSunset(atlastest.EndpointTenant, tc.sunset)
			srv.SetSunset(atlastest.EndpointServerless, tc.sunset)
			_, err := c.Snapshots(t.Context(), tc.target)
			var g *GoneError
			if !errors.As(err, &g) || !errors.Is(err, ErrGone) {
				t.Fatalf("want a GoneError, got %v", err)
			}
			if g.Kind != tc.target.Kind || g.Replacement != tc.replacement || g.Err.StatusCode != tc.status || g.Err.ErrorCode != tc.code {
				t.Errorf("got kind=%s replacement=%s status=%d code=%s", g.Kind, g.Replacement, g.Err.StatusCode, g.Err.ErrorCode)
			}
		})
	}
	// A missing cluster is not a gone endpoint, even on a deprecated kind.
	_, err := c.Snapshots(t.Context(), Target{pid, "nosuch", KindServerless, false})
	var ae *Error
	if errors.Is(err, ErrGone) || !errors.As(err, &ae) || !ae.NotFound() || ae.ErrorCode != "SERVERLESS_INSTANCE_NOT_FOUND" {
		t.Errorf("missing serverless instance: %v", err)
	}
}

func TestErrorsAreNotRetried(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, rs := newTestClient(t, srv)
	_, err := c.Snapshots(t.Context(), Target{pid, "gone-cluster", KindCloud, false})
	want := "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=gone-cluster GET /api/atlas/v2/groups/" + pid +
		"/clusters/gone-cluster/backup/snapshots: HTTP 404 CLUSTER_NOT_FOUND: No cluster named gone-cluster exists in group " + pid + "."
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var ae *Error
	if !errors.As(err, &ae) || !reflect.DeepEqual(ae.Parameters, []string{"gone-cluster", pid}) || ae.Reason != "Not Found" {
		t.Errorf("decoded %+v", ae)
	}
	if n := srv.Count("listGroupClusterBackupSnapshots"); n != 1 || len(rs.got()) != 0 {
		t.Errorf("404 sent %d requests and slept %v; want 1 and none", n, rs.got())
	}
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Status: 403, ErrorCode: "IP_ADDRESS_NOT_ON_ACCESS_LIST"})
	_, err = c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
	if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.ErrorCode != "IP_ADDRESS_NOT_ON_ACCESS_LIST" || srv.Count("listGroupClusterBackupSnapshots") != 2 {
		t.Errorf("403: %v after %d requests", err, srv.Count("listGroupClusterBackupSnapshots"))
	}
}

func TestRetries(t *testing.T) {
	target := Target{pid, "dedicated-01", KindCloud, false}
	cases := []struct {
		name       string
		fault      atlastest.Fault
		wantErr    string
		wantSleeps []time.Duration
		wantCalls  int
	}{
		{"429 with Retry-After", atlastest.Fault{Status: 429, RetryAfter: "7", Times: 2}, "", []time.Duration{7 * time.Second, 7 * time.Second}, 3},
		{"503 without Retry-After", atlastest.Fault{Status: 503, Times: 3}, "", []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, 4},
		{"500 until attempts run out", atlastest.Fault{Status: 500}, "HTTP 500 UNEXPECTED_ERROR: injected fault", []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, 4},
		{"truncated body", atlastest.Fault{Truncate: true, Times: 1}, "", []time.Duration{time.Second}, 2},
		{"malformed JSON is not retried", atlastest.Fault{Body: `{"results": [`}, "decoding response: unexpected end of JSON input", nil, 1},
		{"HTML is not retried", atlastest.Fault{Body: `<html>maintenance</html>`}, "decoding response: invalid character '<' looking for beginning of value", nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFake(t, atlastest.Options{})
			srv.SetFault("listGroupClusterBackupSnapshots", "", &tc.fault)
			c, rs := newTestClient(t, srv)
			_, err := c.Snapshots(t.Context(), target)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want suffix %q", err, tc.wantErr)
			}
			if got := rs.got(); !reflect.DeepEqual(got, tc.wantSleeps) {
				t.Errorf("sleeps %v, want %v", got, tc.wantSleeps)
			}
			if n := srv.Count("listGroupClusterBackupSnapshots"); n != tc.wantCalls {
				t.Errorf("%d requests, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestRetryGivesUpBeforeDeadline(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Status: 429, RetryAfter: "60"})
	c, rs := newTestClient(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := c.Snapshots(ctx, Target{pid, "dedicated-01", KindCloud, false})
	var ae *Error
	if !errors.As(err, &ae) || ae.StatusCode != 429 {
		t.Fatalf("got %v", err)
	}
	if len(rs.got()) != 0 || srv.Count("listGroupClusterBackupSnapshots") != 1 {
		t.Errorf("slept %v after %d requests; a 60s Retry-After cannot fit a 10s deadline", rs.got(), srv.Count("listGroupClusterBackupSnapshots"))
	}
}

func TestCancellationStopsHungRequest(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterBackupSnapshots", "", &atlastest.Fault{Hang: true})
	c, _ := newTestClient(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := c.Snapshots(ctx, Target{pid, "dedicated-01", KindCloud, false})
		done <- err
	}()
	for srv.MaxInFlight() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if want := "atlas: listGroupClusterBackupSnapshots project=" + pid + " cluster=dedicated-01 GET /api/atlas/v2/groups/" + pid + "/clusters/dedicated-01/backup/snapshots: context canceled"; err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
}

func TestBodySizeCap(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxBodyBytes = 512 })
	_, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
	if err == nil || !strings.HasSuffix(err.Error(), "HTTP 200: response body exceeds 512 bytes") {
		t.Fatalf("got %v", err)
	}
}

func TestValidateBaseURL(t *testing.T) {
	cases := map[string]string{
		"https://cloud.mongodb.com":     "",
		"https://cloud.mongodbgov.com/": "",
		"http://127.0.0.1:8080":         "",
		"http://localhost:1234":         "",
		"http://[::1]:1234":             "",
		"http://cloud.mongodb.com":      `invalid base URL "http://cloud.mongodb.com": plain http is only allowed for loopback hosts`,
		"http://10.0.0.1":               `invalid base URL "http://10.0.0.1": plain http is only allowed for loopback hosts`,
		"ftp://cloud.mongodb.com":       `invalid base URL "ftp://cloud.mongodb.com": scheme must be https`,
		"https://cloud.mongodb.com/api": `invalid base URL "https://cloud.mongodb.com": want scheme://host[:port] only, without user, path or query`,
		// Neither the user info nor a query is quoted: either may hold a secret.
		"https://u:p@cloud.mongodb.com":     `invalid base URL "https://cloud.mongodb.com": want scheme://host[:port] only, without user, path or query`,
		"https://cloud.mongodb.com/?key=s3": `invalid base URL "https://cloud.mongodb.com": want scheme://host[:port] only, without user, path or query`,
		"https://u:p%zz@cloud.mongodb.com":  `invalid base URL: it cannot be parsed as a URL`,
		"cloud.mongodb.com":                 `invalid base URL: want scheme://host[:port] only, without user, path or query`,
	}
	for in, want := range cases {
		_, err := ValidateBaseURL(in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

func TestConcurrencyBound(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 3, Projects: 1, ClustersPerProject: 24, SnapshotsPerCluster: 2, Kinds: []atlastest.ClusterKind{atlastest.Flex}, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est, Latency: 20 * time.Millisecond})
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxConcurrency = 3 })
	f := NewFetcher(c)
	var reqs []TargetRead
	for _, cl := range est.Projects[0].Clusters {
		reqs = append(reqs, TargetRead{Target: Target{ProjectID: pid, Cluster: cl.Name, Kind: KindFlex}})
	}
	var mu sync.Mutex
	n := 0
	f.Fetch(t.Context(), reqs, func(r Result) {
		if r.Err != nil || len(r.Snapshots) != 2 {
			t.Errorf("%s: %v (%d snapshots)", r.Read.Target.Cluster, r.Err, len(r.Snapshots))
		}
		mu.Lock()
		n++
		mu.Unlock()
	}, nil, nil)
	if n != 24 {
		t.Errorf("delivered %d results, want 24", n)
	}
	if got := srv.MaxInFlight(); got != 3 {
		t.Errorf("fake saw at most %d in flight, want exactly the bound 3", got)
	}
	if got := c.MaxInFlight(); got != 3 {
		t.Errorf("client counted at most %d in flight, want 3", got)
	}
}

func TestSingleflightCollapsesIdenticalCalls(t *testing.T) {
	srv := newFake(t, atlastest.Options{Latency: 200 * time.Millisecond})
	c, _ := newTestClient(t, srv)
	f := NewFetcher(c)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false}); err != nil {
				t.Error(err)
			}
			if _, err := f.Clusters(t.Context(), pid); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, op := range []string{"listGroupClusterBackupSnapshots", "listGroupClusters", "listGroupFlexClusters", "listGroupServerlessInstances"} {
		if n := srv.Count(op); n != 1 {
			t.Errorf("%s: %d requests, want 1", op, n)
		}
	}
}

// TestFetcherFollowsReplacement: a gone endpoint is followed to its replacement; a request that
// carries what the last result said of them goes straight there, and one that does not asks the
// gone endpoint again: the fetcher keeps nothing per target.
func TestFetcherFollowsReplacement(t *testing.T) {
	srv := newFake(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}})
	c, _ := newTestClient(t, srv)
	f := NewFetcher(c)
	req := TargetRead{Target: Target{pid, "tenant-03", KindTenant, false}}
	var known []*GoneError
	for _, tc := range []struct {
		name      string
		gone      func() []*GoneError
		askedGone int // requests to the gone endpoint
	}{
		{"nothing known", func() []*GoneError { return nil }, 1},
		{"the last result's chain", func() []*GoneError { return known }, 0},
		{"nothing known again", func() []*GoneError { return nil }, 1},
		{"a chain without a replacement", func() []*GoneError { return []*GoneError{{Kind: KindTenant}} }, 1},
		{"a chain of another kind", func() []*GoneError { return []*GoneError{{Kind: KindCloud, Replacement: KindFlex}} }, 1},
		{"a chain that goes round", func() []*GoneError {
			return []*GoneError{{Kind: KindTenant, Replacement: KindFlex}, {Kind: KindFlex, Replacement: KindTenant}}
		}, 1},
	} {
		srv.Reset()
		r := req
		r.Gone = tc.gone()
		var res Result
		f.Fetch(t.Context(), []TargetRead{r}, func(r Result) { res = r }, nil, nil)
		if res.Err != nil || res.Served.Kind != KindFlex || len(res.Snapshots) != 3 || len(res.Gone) != 1 || res.Gone[0].Err.StatusCode != 410 {
			t.Fatalf("%s: %+v", tc.name, res)
		}
		if a, b := srv.Count("listGroupClusterBackupTenantSnapshots"), srv.Count("listGroupFlexClusterBackupSnapshots"); a != tc.askedGone || b != 1 {
			t.Errorf("%s: tenant %d, flex %d requests; want %d and 1", tc.name, a, b, tc.askedGone)
		}
		if known == nil {
			known = res.Gone
		}
	}
	// Get-one requests follow the replacement too, also for a fetcher that has not learned it.
	var res Result
	f = NewFetcher(c)
	f.Fetch(t.Context(), []TargetRead{{Target: req.Target, SnapshotIDs: []string{"6a0000010000000000000008"}}}, func(r Result) { res = r }, nil, nil)
	if res.Err != nil || len(res.Snapshots) != 1 || res.Snapshots[0].Status != StatusCompleted || res.Served.Kind != KindFlex {
		t.Errorf("get-one through replacement: %+v", res)
	}
}

func TestRateLimitPausesTheWholeBucket(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 2, ClustersPerProject: 8, SnapshotsPerCluster: 3, Now: testNow})
	srv := newFake(t, atlastest.Options{Estate: est})
	srv.SetFault("listGroupClusterBackupSnapshots", "dedicated-01", &atlastest.Fault{Status: 429, RetryAfter: "30", Times: 1})
	c, rs := newTestClient(t, srv, func(c *Config) { c.Retry = RetryPolicy{MaxAttempts: 1, BaseDelay: time.Second, MaxDelay: time.Second} })
	if _, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false}); err == nil {
		t.Fatal("want the 429")
	}
	// Another cluster of the same project draws from the same Atlas bucket: it waits first.
	if _, err := c.Snapshots(t.Context(), Target{pid, "dedicated-06", KindCloud, true}); err != nil {
		t.Fatal(err)
	}
	if got := rs.got(); !reflect.DeepEqual(got, []time.Duration{30 * time.Second}) {
		t.Errorf("sleeps %v, want one 30s pause", got)
	}
	// Another project has its own bucket.
	if _, err := c.Snapshots(t.Context(), Target{"5f0000000000000000000002", "dedicated-01", KindCloud, false}); err != nil {
		t.Fatal(err)
	}
	if got := rs.got(); len(got) != 1 {
		t.Errorf("the other project waited: %v", got)
	}
}

func TestUntrustedTLSIsNotRetried(t *testing.T) {
	srv := atlastest.NewUnstartedServer(atlastest.Options{Estate: smallEstate(), ClientID: testClientID, ClientSecret: testSecret})
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, rs := newTestClient(t, srv)
	_, err := c.Projects(t.Context())
	if !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("got %v", err)
	}
	// The token request fails first; with a trusted token endpoint the API call fails the same
	// way and is not retried either.
	c2, rs2 := newTestClient(t, srv, withDigest)
	_, err = c2.Projects(t.Context())
	if err == nil || !strings.HasSuffix(err.Error(), "tls: failed to verify certificate: x509: certificate signed by unknown authority") {
		t.Fatalf("got %v", err)
	}
	if len(rs.got())+len(rs2.got()) != 0 {
		t.Errorf("retried a certificate error: %v %v", rs.got(), rs2.got())
	}
}

func TestSchedule(t *testing.T) {
	est := smallEstate()
	est.Projects[0].Cluster("dedicated-06").ExtraRetention = []atlastest.ExtraRetention{{Frequency: "MONTHLY", Days: 30}, {Frequency: "ON_DEMAND", Days: 3}}
	srv := newFake(t, atlastest.Options{Estate: est})
	c, _ := newTestClient(t, srv)
	got, err := c.Schedule(t.Context(), Target{pid, "dedicated-06", KindCloud, true})
	if err != nil {
		t.Fatal(err)
	}
	reqs := apiRequests(srv.Requests())
	if len(reqs) != 1 || reqs[0].Path != "/api/atlas/v2/groups/"+pid+"/clusters/dedicated-06/backup/schedule" ||
		reqs[0].Accept != "application/vnd.atlas.2024-08-05+json" || reqs[0].Query != "" {
		t.Errorf("requests %+v", reqs)
	}
	want := Schedule{
		NextSnapshot: smallEstate().Projects[0].Cluster("dedicated-06").NextSnapshot,
		Items: []PolicyItem{
			{"hourly", 6, "days", 2}, {"daily", 1, "days", 7}, {"weekly", 6, "weeks", 4}, {"monthly", 40, "months", 12},
		},
		ExtraRetention:    []ExtraRetention{{"monthly", 30}, {"ondemand", 3}},
		Copies:            []CopyRegion{{CloudProvider: "AWS", Region: "US_WEST_2", Frequencies: []string{"daily"}, Kept: []PolicyItem{{"daily", 0, "days", 7}}}},
		RestoreWindowDays: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("schedule\n got %+v\nwant %+v", got, want)
	}
	if d, ok := got.Interval(); d != 6*time.Hour || !ok {
		t.Errorf("Interval() = %v, %v; want 6h, true", d, ok)
	}

	_, err = c.Schedule(t.Context(), Target{pid, "flex-02", KindCloud, false})
	wantErr := "atlas: getGroupClusterBackupSchedule project=" + pid + " cluster=flex-02 GET /api/atlas/v2/groups/" + pid +
		"/clusters/flex-02/backup/schedule: HTTP 400 CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API: Flex cluster flex-02 cannot be used in the Cluster API."
	if err == nil || err.Error() != wantErr {
		t.Errorf("error\n got %v\nwant %s", err, wantErr)
	}
	srv.Reset()
	if _, err := c.Schedule(t.Context(), Target{pid, "flex-02", KindFlex, false}); err == nil || err.Error() != "atlas: flex clusters have no backup schedule to read" {
		t.Errorf("flex schedule: %v", err)
	}
	if n := len(apiRequests(srv.Requests())); n != 0 {
		t.Errorf("%d requests for a kind without a schedule", n)
	}
}

func TestScheduleInterval(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		items []PolicyItem
		want  time.Duration
	}{
		{nil, 0},
		{[]PolicyItem{{Frequency: "ondemand"}}, 0},
		{[]PolicyItem{{Frequency: "hourly", Interval: 0}}, 0}, // not a documented interval
		{[]PolicyItem{{Frequency: "hourly", Interval: 12}, {Frequency: "hourly", Interval: 1}}, time.Hour},
		{[]PolicyItem{{Frequency: "daily", Interval: 1}, {Frequency: "weekly", Interval: 7}}, day},
		{[]PolicyItem{{Frequency: "monthly", Interval: 40}, {Frequency: "weekly", Interval: 3}}, 7 * day},
		{[]PolicyItem{{Frequency: "yearly", Interval: 12}, {Frequency: "monthly", Interval: 1}}, 31 * day},
		{[]PolicyItem{{Frequency: "yearly", Interval: 1}}, 366 * day},
		{[]PolicyItem{{Frequency: "fortnightly", Interval: 1}, {Frequency: "daily"}}, day},
	} {
		d, ok := Schedule{Items: tc.items}.Interval()
		if d != tc.want || ok != (tc.want > 0) {
			t.Errorf("%+v: Interval() = %v, %v; want %v", tc.items, d, ok, tc.want)
		}
	}
}

func TestFetcherReadsScheduleOfCloudTargets(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	f := NewFetcher(c)
	srv.SetFault("getGroupClusterBackupSchedule", "dedicated-06", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	reqs := []TargetRead{
		{Target: Target{pid, "dedicated-01", KindCloud, false}, Schedule: true},
		{Target: Target{pid, "dedicated-06", KindCloud, true}, Schedule: true},
		{Target: Target{pid, "flex-02", KindFlex, false}, Schedule: true},
		{Target: Target{pid, "gone-99", KindCloud, false}, Schedule: true},
		{Target: Target{pid, "dedicated-01", KindCloud, false}, SnapshotIDs: []string{"6a0000010000000000000001"}}, // not asked for
	}
	got := map[string]Result{}
	var mu sync.Mutex
	f.Fetch(t.Context(), reqs, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Read.Target.Cluster
		if !r.Read.Schedule {
			key += " without schedule"
		}
		got[key] = r
	}, nil, nil)
	if r := got["dedicated-01"]; r.Err != nil || r.ScheduleErr != nil || r.Schedule == nil || len(r.Schedule.Items) != 4 || len(r.Snapshots) != 3 {
		t.Errorf("dedicated-01: %+v", r)
	}
	wantErr := "atlas: getGroupClusterBackupSchedule project=" + pid + " cluster=dedicated-06 GET /api/atlas/v2/groups/" + pid +
		"/clusters/dedicated-06/backup/schedule: HTTP 403 USER_UNAUTHORIZED: injected fault"
	if r := got["dedicated-06"]; r.Err != nil || len(r.Snapshots) != 3 || r.Schedule != nil || r.ScheduleErr == nil || r.ScheduleErr.Error() != wantErr {
		t.Errorf("dedicated-06: %+v\nwant schedule error %s", r, wantErr)
	}
	if r := got["flex-02"]; r.Err != nil || r.Schedule != nil || r.ScheduleErr != nil {
		t.Errorf("flex-02: %+v", r)
	}
	// A missing cluster reports the snapshot error alone.
	if r := got["gone-99"]; r.Err == nil || r.Schedule != nil || r.ScheduleErr != nil {
		t.Errorf("gone-99: %+v", r)
	}
	if r := got["dedicated-01 without schedule"]; r.Err != nil || r.Schedule != nil || r.ScheduleErr != nil || len(r.Snapshots) != 1 {
		t.Errorf("dedicated-01 without schedule: %+v", r)
	}
	if n := srv.Count("getGroupClusterBackupSchedule"); n != 3 {
		t.Errorf("%d schedule requests, want 3", n)
	}
}

func TestFetcherReadsScheduleThroughReplacement(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterSnapshots", "", &atlastest.Fault{Status: 410, ErrorCode: "VERSION_GONE"})
	c, _ := newTestClient(t, srv)
	var res Result
	NewFetcher(c).Fetch(t.Context(), []TargetRead{{Target: Target{pid, "legacy-05", KindLegacy, false}, Schedule: true}}, func(r Result) { res = r }, nil, nil)
	want := []PolicyItem{{"daily", 1, "days", 8}}
	if res.Err != nil || res.Served.Kind != KindCloud || res.Schedule == nil || !reflect.DeepEqual(res.Schedule.Items, want) {
		t.Errorf("legacy read as cloud: %+v", res)
	}
}
