package atlas

import (
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// clientAt is a test client whose clock reads testNow, the estate's now.
func clientAt(t *testing.T, srv *atlastest.Server) *Client {
	t.Helper()
	c, rs := newTestClient(t, srv)
	rs.clock = testNow
	return c
}

func TestRestoreJobsEveryKind(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c := clientAt(t, srv)
	h := func(n float64) time.Time { return testNow.Add(-time.Duration(n * float64(time.Hour))) }
	cases := []struct {
		target       Target
		op, path, v  string
		want         []RestoreJob
		wantRequests int
	}{
		{Target{pid, "dedicated-01", KindCloud, false}, "listGroupClusterBackupRestoreJobs", "/clusters/dedicated-01/backup/restoreJobs", "2023-01-01", []RestoreJob{
			{ID: "6d0000010000000000000001", DeliveryType: DeliveryPointInTime, Status: RestoreCompleted, FinishedAt: h(30)},
			{ID: "6d0000010000000000000002", DeliveryType: DeliveryAutomated, Status: RestoreCompleted, FinishedAt: h(50)},
			{ID: "6d0000010000000000000003", DeliveryType: DeliveryDownload, Status: RestoreExpired, FinishedAt: h(72)},
			{ID: "6d0000010000000000000004", DeliveryType: DeliveryAutomated, Status: RestoreInProgress},
		}, 1},
		{Target{pid, "dedicated-06", KindCloud, true}, "listGroupClusterBackupRestoreJobs", "/clusters/dedicated-06/backup/restoreJobs", "2023-01-01", []RestoreJob{
			{ID: "6d000001000000000000000d", DeliveryType: DeliveryAutomated, Status: RestoreFailed, FinishedAt: h(3)},
			{ID: "6d000001000000000000000e", DeliveryType: DeliveryDownload, Status: RestoreCancelled},
			{ID: "6d000001000000000000000f", DeliveryType: DeliveryAutomated, Status: RestoreCompleted, FinishedAt: h(200)},
		}, 1},
		{Target{pid, "flex-02", KindFlex, false}, "listGroupFlexClusterBackupRestoreJobs", "/flexClusters/flex-02/backup/restoreJobs", "2024-11-13", []RestoreJob{
			{ID: "6d000001000000000000000a", DeliveryType: DeliveryAutomated, Status: RestoreCompleted, RawStatus: "COMPLETED", FinishedAt: h(20)},
			// Completed 25 hours ago; its link expired an hour ago.
			{ID: "6d000001000000000000000b", DeliveryType: DeliveryDownload, Status: RestoreExpired, RawStatus: "COMPLETED", FinishedAt: h(25)},
			{ID: "6d000001000000000000000c", DeliveryType: DeliveryDownload, Status: RestoreInProgress, RawStatus: "RUNNING"},
		}, 1},
		{Target{pid, "tenant-03", KindFlex, false}, "listGroupFlexClusterBackupRestoreJobs", "/flexClusters/tenant-03/backup/restoreJobs", "2024-11-13", []RestoreJob{}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.target.Cluster, func(t *testing.T) {
			srv.Reset()
			got, err := c.RestoreJobs(t.Context(), tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("jobs\n got %+v\nwant %+v", got, tc.want)
			}
			want := []atlastest.Request{{Method: "GET", Path: "/api/atlas/v2/groups/" + pid + tc.path, Query: "includeCount=false&itemsPerPage=500",
				Operation: tc.op, Accept: "application/vnd.atlas." + tc.v + "+json", Auth: "bearer", UserAgent: "atlas_backup_exporter", Status: 200}}
			if reqs := apiRequests(srv.Requests()); !reflect.DeepEqual(reqs, want) {
				t.Errorf("requests\n got %+v\nwant %+v", reqs, want)
			}
		})
	}
	srv.Reset()
	for _, k := range []Kind{KindServerless, KindTenant, KindLegacy} {
		if _, err := c.RestoreJobs(t.Context(), Target{pid, "x", k, false}); err == nil || err.Error() != "atlas: "+string(k)+" clusters have no restore jobs to read" {
			t.Errorf("%s: %v", k, err)
		}
	}
	if n := len(apiRequests(srv.Requests())); n != 0 {
		t.Errorf("%d requests for kinds without restore jobs", n)
	}
}

// TestRestoreStatusMapping: a Cloud Backup job's flags decide in the order cancelled, failed,
// expired, then its finish time; a Flex job's status and, for a completed download, whether its
// link has expired.
func TestRestoreStatusMapping(t *testing.T) {
	done := testNow.Add(-time.Hour)
	for _, tc := range []struct {
		w    wireCloudRestoreJob
		want RestoreStatus
	}{
		{wireCloudRestoreJob{Cancelled: true, Failed: true, Expired: true, FinishedAt: done}, RestoreCancelled},
		{wireCloudRestoreJob{Failed: true, Expired: true, FinishedAt: done}, RestoreFailed},
		{wireCloudRestoreJob{Expired: true}, RestoreExpired},
		{wireCloudRestoreJob{FinishedAt: done}, RestoreCompleted},
		{wireCloudRestoreJob{}, RestoreInProgress},
	} {
		if got := tc.w.normalise(testNow).Status; got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.w, got, tc.want)
		}
	}
	for _, tc := range []struct {
		w    wireFlexRestoreJob
		want RestoreStatus
	}{
		{wireFlexRestoreJob{Status: "PENDING"}, RestoreInProgress},
		{wireFlexRestoreJob{Status: "QUEUED"}, RestoreInProgress},
		{wireFlexRestoreJob{Status: "FAILED"}, RestoreFailed},
		{wireFlexRestoreJob{Status: "COMPLETED", DeliveryType: "DOWNLOAD", ExpirationDate: testNow}, RestoreExpired},
		{wireFlexRestoreJob{Status: "COMPLETED", DeliveryType: "DOWNLOAD", ExpirationDate: testNow.Add(time.Second)}, RestoreCompleted},
		{wireFlexRestoreJob{Status: "COMPLETED", DeliveryType: "RESTORE", ExpirationDate: done}, RestoreCompleted},
		{wireFlexRestoreJob{Status: "CLOSED"}, RestoreUnknown},
	} {
		if got := tc.w.normalise(testNow).Status; got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.w, got, tc.want)
		}
	}
	for _, tc := range []struct {
		j    RestoreJob
		want bool
	}{
		{RestoreJob{Status: RestoreCompleted, FinishedAt: done}, true},
		{RestoreJob{Status: RestoreExpired, FinishedAt: done}, true},
		{RestoreJob{Status: RestoreExpired}, false},
		{RestoreJob{Status: RestoreFailed, FinishedAt: done}, false},
	} {
		if got := tc.j.Succeeded(); got != tc.want {
			t.Errorf("%+v: Succeeded() = %v", tc.j, got)
		}
	}
}

func TestExportJobs(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c := clientAt(t, srv)
	h := func(n float64) time.Time { return testNow.Add(-time.Duration(n * float64(time.Hour))) }
	got, err := c.ExportJobs(t.Context(), Target{pid, "dedicated-01", KindCloud, false})
	if err != nil {
		t.Fatal(err)
	}
	want := []ExportJob{
		{ID: "6e0000010000000000000005", State: ExportFailed, RawState: "Failed", CreatedAt: h(3), FinishedAt: h(2)},
		{ID: "6e0000010000000000000006", State: ExportSuccessful, RawState: "Successful", CreatedAt: h(27), FinishedAt: h(26)},
		{ID: "6e0000010000000000000007", State: ExportCancelled, RawState: "Cancelled", CreatedAt: h(50), FinishedAt: h(49)},
		{ID: "6e0000010000000000000008", State: ExportInProgress, RawState: "InProgress", CreatedAt: h(0.5)},
		{ID: "6e0000010000000000000009", State: ExportQueued, RawState: "Queued", CreatedAt: h(0.1)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("jobs\n got %+v\nwant %+v", got, want)
	}
	reqs := apiRequests(srv.Requests())
	if len(reqs) != 1 || reqs[0].Path != "/api/atlas/v2/groups/"+pid+"/clusters/dedicated-01/backup/exports" ||
		reqs[0].Accept != "application/vnd.atlas.2023-01-01+json" || reqs[0].Query != "includeCount=false&itemsPerPage=500" {
		t.Errorf("requests %+v", reqs)
	}
	if got, err := c.ExportJobs(t.Context(), Target{pid, "dedicated-06", KindCloud, true}); err != nil || len(got) != 0 {
		t.Errorf("dedicated-06: %v, %v", got, err)
	}
	srv.Reset()
	if _, err := c.ExportJobs(t.Context(), Target{pid, "flex-02", KindFlex, false}); err == nil || err.Error() != "atlas: flex clusters have no export jobs to read" {
		t.Errorf("flex: %v", err)
	}
	if n := len(apiRequests(srv.Requests())); n != 0 {
		t.Errorf("%d requests for a kind without export jobs", n)
	}
	for _, tc := range []struct {
		j    ExportJob
		want time.Time
	}{
		{ExportJob{State: ExportFailed, CreatedAt: h(3), FinishedAt: h(2)}, h(2)},
		{ExportJob{State: ExportFailed, CreatedAt: h(3)}, h(3)},
		{ExportJob{State: ExportInProgress, CreatedAt: h(3)}, time.Time{}},
	} {
		if got := tc.j.EndedAt(); !got.Equal(tc.want) {
			t.Errorf("%+v: EndedAt() = %v, want %v", tc.j, got, tc.want)
		}
	}
}

func TestCompliancePolicy(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 2, ClustersPerProject: 1, SnapshotsPerCluster: 1, Now: testNow})
	est.Projects[0].Compliance.Items = append(est.Projects[0].Compliance.Items, atlastest.PolicyItem{Frequency: "hourly", Interval: 12, RetentionUnit: "days", RetentionValue: 2},
		atlastest.PolicyItem{Frequency: "yearly", Interval: 1, RetentionUnit: "years", RetentionValue: 7})
	est.Projects[0].Compliance.OnDemand = &atlastest.PolicyItem{RetentionUnit: "weeks", RetentionValue: 1}
	srv := newFake(t, atlastest.Options{Estate: est})
	c := clientAt(t, srv)
	got, err := c.CompliancePolicy(t.Context(), pid)
	want := &CompliancePolicy{State: "ACTIVE", PITEnabled: true, CopyProtectionEnabled: true, RestoreWindowDays: 2,
		Items: []PolicyItem{{"daily", 1, "days", 7}, {"hourly", 12, "days", 2}, {"yearly", 1, "years", 7}, {"ondemand", 0, "weeks", 1}}}
	if err != nil || !reflect.DeepEqual(got, want) || !got.InForce() {
		t.Errorf("project with a policy: %+v, %v", got, err)
	}
	if got.MinimumFor("yearly") != 7*got.MinimumFor("monthly")+7*31556952*time.Second || got.MinimumFor("ondemand") != 7*24*time.Hour ||
		got.MinimumFor("weekly") != 0 {
		t.Errorf("minimums: yearly %v, ondemand %v, weekly %v", got.MinimumFor("yearly"), got.MinimumFor("ondemand"), got.MinimumFor("weekly"))
	}
	reqs := apiRequests(srv.Requests())
	if len(reqs) != 1 || reqs[0].Path != "/api/atlas/v2/groups/"+pid+"/backupCompliancePolicy" ||
		reqs[0].Accept != "application/vnd.atlas.2023-10-01+json" || reqs[0].Query != "" {
		t.Errorf("requests %+v", reqs)
	}
	// Atlas answers an empty object for a project without a policy.
	const p2 = "5f0000000000000000000002"
	if got, err := c.CompliancePolicy(t.Context(), p2); got != nil || err != nil {
		t.Errorf("project without a policy: %+v, %v", got, err)
	}
	// The 404 the API description documents means the same.
	srv.SetFault("getGroupBackupCompliancePolicy", "", &atlastest.Fault{Status: 404, ErrorCode: "RESOURCE_NOT_FOUND", Times: 1})
	if got, err := c.CompliancePolicy(t.Context(), pid); got != nil || err != nil {
		t.Errorf("404: %+v, %v", got, err)
	}
	// A project that does not exist is an error.
	_, err = c.CompliancePolicy(t.Context(), "5f00000000000000000000ff")
	if !ProjectNotFound(err) {
		t.Errorf("missing project: %v", err)
	}
	// A key without the Project Owner role.
	srv.SetFault("getGroupBackupCompliancePolicy", "", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	_, err = c.CompliancePolicy(t.Context(), pid)
	const wantRefused = "atlas: getGroupBackupCompliancePolicy: HTTP 403 USER_UNAUTHORIZED: the credentials need the Project Owner role on the project"
	if r := Refused(err); r == nil || r.Error() != wantRefused {
		t.Errorf("403: %v, refused %v", err, r)
	}
	for _, state := range []string{"ENABLING", "DISABLING"} {
		if (CompliancePolicy{State: state}).InForce() {
			t.Errorf("%s in force", state)
		}
	}
	if !(CompliancePolicy{State: "UPDATING"}).InForce() {
		t.Error("UPDATING not in force")
	}
}

func TestRolesAndRefusals(t *testing.T) {
	for op, want := range map[string]string{
		"listGroupClusterBackupRestoreJobs":     "Project Backup Manager",
		"listGroupClusterBackupExports":         "Project Backup Manager",
		"getGroupBackupCompliancePolicy":        "Project Owner",
		"listGroupFlexClusterBackupRestoreJobs": "Project Read Only",
		"listGroupClusterBackupSnapshots":       "Project Read Only",
		"getOrg":                                "Organization Member",
	} {
		if got := RoleRequired(op); got != want {
			t.Errorf("%s: %s, want %s", op, got, want)
		}
	}
	a := &Error{Operation: "listGroupClusterBackupExports", ProjectID: pid, Cluster: "a", StatusCode: 403}
	b := &Error{Operation: "listGroupClusterBackupExports", ProjectID: pid, Cluster: "b", StatusCode: 403}
	if Refused(a).Error() != Refused(b).Error() ||
		Refused(a).Error() != "atlas: listGroupClusterBackupExports: HTTP 403: the credentials need the Project Backup Manager role on the project" {
		t.Errorf("refusals differ per cluster: %v / %v", Refused(a), Refused(b))
	}
	if got := Refused(&Error{Operation: "getOrg", StatusCode: 403}).Error(); got != "atlas: getOrg: HTTP 403: the credentials need the Organization Member role on the organization" {
		t.Errorf("organisation refusal: %s", got)
	}
	if Refused(&Error{StatusCode: 404}) != nil || Refused(nil) != nil {
		t.Error("a 404 or no error reads as a refusal")
	}
}

func TestCopyRegions(t *testing.T) {
	var ws []wireCopySetting
	raw := `[
		{"cloudProvider": "AWS", "regionName": "EU_WEST_1", "frequencies": ["DAILY", "ON_DEMAND"]},
		{"cloudProvider": "AWS", "regionName": "EU_WEST_1", "copyPolicyItems": [{"frequencyType": "weekly", "retentionUnit": "weeks", "retentionValue": 2}, {"frequencyType": "daily", "retentionUnit": "days", "retentionValue": 7}]},
		{"cloudProvider": "GCP", "regionName": "EUROPE_WEST_3", "copyPolicyItems": [{"frequencyType": "monthly", "retentionUnit": "months", "retentionValue": 3}]},
		{"cloudProvider": "GCP", "regionName": "EUROPE_WEST_3", "lastNumberOfSnapshots": 5},
		{"cloudProvider": "AWS", "regionName": "US_WEST_2", "copyPolicyItems": [{"frequencyType": "ondemand"}]},
		{"cloudProvider": "AZURE", "regionName": "US_EAST_2"}
	]`
	if err := json.Unmarshal([]byte(raw), &ws); err != nil {
		t.Fatal(err)
	}
	got := copyRegions(ws)
	want := []CopyRegion{
		{"AWS", "EU_WEST_1", []string{"daily", "ondemand", "weekly"}, []PolicyItem{{"weekly", 0, "weeks", 2}, {"daily", 0, "days", 7}}},
		{"AWS", "US_WEST_2", []string{"ondemand"}, nil},
		{"AZURE", "US_EAST_2", nil, nil},
		{"GCP", "EUROPE_WEST_3", nil, nil}, // one of its settings copies every snapshot
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("copyRegions\n got %+v\nwant %+v", got, want)
	}
	s := Schedule{Items: []PolicyItem{{"hourly", 6, "days", 2}, {"daily", 1, "days", 7}, {"weekly", 6, "weeks", 4}}}
	for i, w := range []time.Duration{24 * time.Hour, 0, 6 * time.Hour, 6 * time.Hour} {
		if d, ok := s.CopyInterval(got[i]); d != w || ok != (w > 0) {
			t.Errorf("%s: CopyInterval() = %v, %v; want %v", got[i].Region, d, ok, w)
		}
	}
	snaps := []Snapshot{
		{Status: StatusFailed, CreatedAt: testNow, CopyRegions: []string{"EU_WEST_1"}},
		{Status: StatusCompleted, CreatedAt: testNow.Add(-time.Hour), CopyRegions: []string{"US_WEST_2"}},
		{Status: StatusCompleted, CreatedAt: testNow.Add(-3 * time.Hour), CopyRegions: []string{"US_WEST_2", "EU_WEST_1"}},
		{Status: StatusCompleted, CreatedAt: testNow.Add(-2 * time.Hour), CopyRegions: []string{"EU_WEST_1"}},
	}
	if at, ok := LastCopied(snaps, "EU_WEST_1"); !ok || !at.Equal(testNow.Add(-2*time.Hour)) {
		t.Errorf("EU_WEST_1: %v, %v", at, ok)
	}
	if at, ok := LastCopied(snaps, "US_EAST_2"); ok {
		t.Errorf("US_EAST_2: %v", at)
	}
}

func TestFetcherReadsJobs(t *testing.T) {
	srv := newFake(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}})
	c := clientAt(t, srv)
	srv.SetFault("listGroupClusterBackupExports", "dedicated-06", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	both := func(cluster string, k Kind, sharded bool) TargetRead {
		return TargetRead{Target: Target{pid, cluster, k, sharded}, RestoreJobs: true, ExportJobs: true}
	}
	reqs := []TargetRead{
		both("dedicated-01", KindCloud, false), both("dedicated-06", KindCloud, true), both("flex-02", KindFlex, false),
		both("tenant-03", KindTenant, false), // gone: read as Flex
		both("serverless-04", KindServerless, false), both("gone-99", KindCloud, false),
		{Target: Target{pid, "dedicated-01", KindCloud, false}, SnapshotIDs: []string{"6a0000010000000000000001"}}, // not asked for
	}
	keyOf := func(r TargetRead) string {
		if !r.RestoreJobs {
			return r.Target.Cluster + " without jobs"
		}
		return r.Target.Cluster
	}
	got := map[string]Result{}
	restores, exports := map[string]*Jobs[RestoreJob]{}, map[string]*Jobs[ExportJob]{}
	var mu sync.Mutex
	NewFetcher(c).Fetch(t.Context(), reqs, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		got[keyOf(r.Read)] = r
	}, func(j JobsResult) {
		mu.Lock()
		defer mu.Unlock()
		key := keyOf(j.Read)
		r, delivered := got[key]
		if !delivered || j.Served != r.Served {
			t.Errorf("%s: jobs delivered before the snapshots, or for another target: %+v", key, j)
		}
		if j.RestoreJobs != nil {
			restores[key] = j.RestoreJobs
		}
		if j.ExportJobs != nil {
			exports[key] = j.ExportJobs
		}
	}, nil)
	count := func(j any) int {
		switch j := j.(type) {
		case *Jobs[RestoreJob]:
			if j == nil || j.Err != nil {
				return -1
			}
			return len(j.Jobs)
		case *Jobs[ExportJob]:
			if j == nil || j.Err != nil {
				return -1
			}
			return len(j.Jobs)
		}
		return -2
	}
	for _, tc := range []struct {
		key               string
		restores, exports int // -1: not read or failed
	}{
		{"dedicated-01", 4, 5}, {"flex-02", 3, -1}, {"tenant-03", 0, -1}, {"serverless-04", -1, -1}, {"gone-99", -1, -1},
		{"dedicated-01 without jobs", -1, -1},
	} {
		if r, e := count(restores[tc.key]), count(exports[tc.key]); r != tc.restores || e != tc.exports {
			t.Errorf("%s: %d restore and %d export jobs, want %d and %d (%+v)", tc.key, r, e, tc.restores, tc.exports, got[tc.key])
		}
	}
	for key, r := range got {
		if _, ok := restores[key]; ok != r.RestoreJobsFollow {
			t.Errorf("%s: restore jobs delivered %v, said to follow %v", key, ok, r.RestoreJobsFollow)
		}
		if _, ok := exports[key]; ok != r.ExportJobsFollow {
			t.Errorf("%s: export jobs delivered %v, said to follow %v", key, ok, r.ExportJobsFollow)
		}
	}
	for _, key := range []string{"flex-02", "tenant-03", "serverless-04", "gone-99", "dedicated-01 without jobs"} {
		if exports[key] != nil {
			t.Errorf("%s: export jobs read", key)
		}
	}
	// Refused exports leave the snapshots and restore jobs alone.
	r := got["dedicated-06"]
	if r.Err != nil || len(r.Snapshots) != 3 || count(restores["dedicated-06"]) != 3 || exports["dedicated-06"] == nil || Refused(exports["dedicated-06"].Err) == nil {
		t.Errorf("dedicated-06: %+v", r)
	}
	if r := got["tenant-03"]; r.Served.Kind != KindFlex {
		t.Errorf("tenant-03 served as %s", r.Served.Kind)
	}
	for op, want := range map[string]int{"listGroupClusterBackupRestoreJobs": 2, "listGroupFlexClusterBackupRestoreJobs": 2, "listGroupClusterBackupExports": 2} {
		if n := srv.Count(op); n != want {
			t.Errorf("%d %s requests, want %d", n, op, want)
		}
	}
}
