package estate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

const (
	d1 = `{cluster="dedicated-01",family="%s",kind="cloud",project="project-001",project_id="5f0000000000000000000001"}`
	d6 = `{cluster="dedicated-06",family="%s",kind="cloud",project="project-001",project_id="5f0000000000000000000001"}`
)

func familyLine(labels, family string, v int) string {
	return "atlas_backup_family_collect_success" + strings.Replace(labels, "%s", family, 1) + map[int]string{0: " 0", 1: " 1"}[v]
}

var refusedOps = []string{"listGroupClusterBackupRestoreJobs", "listGroupClusterBackupExports", "getGroupBackupCompliancePolicy"}

// opCounts returns how many requests of each of ops the fake received since its last Reset.
func opCounts(e *env, ops ...string) map[string]int {
	out := map[string]int{}
	for _, op := range ops {
		out[op] = e.srv.Count(op)
	}
	return out
}

// TestRefusedFamilies: a key with the Project Read Only role only is refused the Cloud Backup
// restore and export jobs (Project Backup Manager) and the compliance policy (Project Owner).
// The snapshots are not affected, each refusal is logged once per project and shown in
// family_collect_success, and each family is asked for again by one cluster per project per
// jobs_interval (the policy at each discovery) until the role is granted.
func TestRefusedFamilies(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	for _, op := range refusedOps {
		e.srv.SetFault(op, "", &atlastest.Fault{Status: 403, ErrorCode: "USER_UNAUTHORIZED"})
	}
	e.refresh(t)
	out := e.exposition(t)
	expectLines(t, out, cloudOK, flexSuccess+" 1", "atlas_backup_up 1",
		familyLine(d1, string(atlas.RestoreJobKind), 0), familyLine(d6, string(atlas.RestoreJobKind), 0),
		familyLine(d1, string(atlas.ExportJobKind), 0), familyLine(d6, string(atlas.ExportJobKind), 0),
		`atlas_backup_family_collect_success{cluster="",family="compliance_policy",kind="",project="project-001",project_id="5f0000000000000000000001"} 0`,
		`atlas_backup_family_collect_success{cluster="flex-02",family="restore_jobs",kind="flex",project="project-001",project_id="5f0000000000000000000001"} 1`,
		`atlas_backup_snapshots{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="completed"} 3`)
	for _, name := range []string{"atlas_backup_compliance_policy_enabled", "atlas_backup_export_jobs",
		`atlas_backup_restore_jobs{cluster="dedicated-01"`} {
		if strings.Contains(out, name) {
			t.Errorf("%s exposed though Atlas refused it", name)
		}
	}
	if got, want := opCounts(e, refusedOps...), map[string]int{refusedOps[0]: 2, refusedOps[1]: 2, refusedOps[2]: 1}; !equalCounts(got, want) {
		t.Errorf("first refresh sent %v, want %v", got, want)
	}

	// Within jobs_interval nothing is asked again; past it, one cluster per project asks.
	step := func(d time.Duration, want ...int) {
		t.Helper()
		e.srv.Reset()
		e.clock.Advance(d)
		e.refresh(t)
		if got, w := opCounts(e, refusedOps...), map[string]int{refusedOps[0]: want[0], refusedOps[1]: want[1], refusedOps[2]: want[2]}; !equalCounts(got, w) {
			t.Errorf("refresh %v later sent %v, want %v", d, got, w)
		}
	}
	step(5*time.Minute, 0, 0, 0)
	step(25*time.Minute, 1, 1, 0)
	step(5*time.Minute, 0, 0, 0)
	step(30*time.Minute, 1, 1, 1) // and a full discovery
	for _, line := range []string{
		`level=warn msg="Atlas refuses restore_jobs in this project; one cluster asks again every jobs_interval" project_id=5f0000000000000000000001 project=project-001 kind=cloud err="atlas: listGroupClusterBackupRestoreJobs: HTTP 403 USER_UNAUTHORIZED: the credentials need the Project Backup Manager role on the project"`,
		`level=warn msg="Atlas refuses export_jobs in this project; one cluster asks again every jobs_interval" project_id=5f0000000000000000000001 project=project-001 kind=cloud err="atlas: listGroupClusterBackupExports: HTTP 403 USER_UNAUTHORIZED: the credentials need the Project Backup Manager role on the project"`,
		`level=warn msg="Atlas refuses to show the Backup Compliance Policy; asking again at each discovery" project_id=5f0000000000000000000001 project=project-001 err="atlas: getGroupBackupCompliancePolicy: HTTP 403 USER_UNAUTHORIZED: the credentials need the Project Owner role on the project"`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, line, e.logs)
		}
	}

	// The roles are granted: the probe succeeds, and the other cluster follows at the next refresh.
	for _, op := range refusedOps {
		e.srv.SetFault(op, "", nil)
	}
	step(30*time.Minute, 1, 1, 0)
	step(time.Minute, 1, 1, 0)
	step(time.Minute, 0, 0, 0)
	expectLines(t, e.exposition(t), familyLine(d1, string(atlas.RestoreJobKind), 1), familyLine(d6, string(atlas.RestoreJobKind), 1),
		familyLine(d1, string(atlas.ExportJobKind), 1), familyLine(d6, string(atlas.ExportJobKind), 1),
		`atlas_backup_restore_jobs{cluster="dedicated-06",delivery_type="automated",kind="cloud",project="project-001",project_id="5f0000000000000000000001",status="failed"} 1`)
	for _, line := range []string{
		`level=info msg="Atlas no longer refuses restore_jobs in this project" project_id=5f0000000000000000000001 project=project-001 kind=cloud status=recovered`,
		`level=info msg="Atlas no longer refuses export_jobs in this project" project_id=5f0000000000000000000001 project=project-001 kind=cloud status=recovered`,
	} {
		if n := strings.Count(e.logs.String(), line+"\n"); n != 1 {
			t.Errorf("logged %d times, want once: %s\n%s", n, line, e.logs)
		}
	}
}

// TestJobsKeepLastGoodData: a failing read of a cluster's jobs keeps the jobs read before and
// says so in family_collect_success, is asked again at every refresh until it succeeds, and is
// logged once.
func TestJobsKeepLastGoodData(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	const lastFailed = `atlas_backup_last_failed_restore_timestamp_seconds{cluster="dedicated-06",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 1.7951652e+09`
	expectLines(t, e.exposition(t), lastFailed, familyLine(d6, string(atlas.RestoreJobKind), 1))
	e.srv.SetFault("listGroupClusterBackupRestoreJobs", "dedicated-06", &atlastest.Fault{Status: 500})
	e.clock.Advance(30 * time.Minute)
	for range 3 {
		e.refresh(t)
		e.clock.Advance(time.Minute)
	}
	// Both clusters at first and when jobs_interval has passed, then the failing one at each refresh.
	if n := e.srv.Count("listGroupClusterBackupRestoreJobs"); n != 2+2+1+1 {
		t.Errorf("%d restore-job requests, want 6", n)
	}
	expectLines(t, e.exposition(t), lastFailed, familyLine(d6, string(atlas.RestoreJobKind), 0), familyLine(d1, string(atlas.RestoreJobKind), 1), cloudOK)
	if n := strings.Count(e.logs.String(), `msg="restore_jobs collection" project_id=5f0000000000000000000001 project=project-001 cluster=dedicated-06 kind=cloud err=`); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
}

// TestFamiliesOff: with restore_jobs, export_jobs and compliance_policy off nothing of theirs
// is read or shown, and a reload that turns them off drops their series at once.
func TestFamiliesOff(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	names := []string{"atlas_backup_family_collect_success", "atlas_backup_restore_jobs", "atlas_backup_last_restore_timestamp_seconds",
		"atlas_backup_export_jobs", "atlas_backup_compliance_policy_enabled", "atlas_backup_compliance_policy_info"}
	out := e.exposition(t)
	for _, n := range names {
		if !strings.Contains(out, n+"{") {
			t.Fatalf("%s not exposed with every family on", n)
		}
	}
	s := oneProject()
	s.RestoreJobs, s.ExportJobs, s.CompliancePolicy = false, false, false
	e.Reconfigure(s)
	e.refresh(t) // the rediscovery the reload started (compliance_policy is read with discovery)
	e.srv.Reset()
	e.clock.Advance(2 * time.Hour)
	e.refresh(t)
	out = e.exposition(t)
	for _, n := range names {
		if strings.Contains(out, n+"{") {
			t.Errorf("%s still exposed", n)
		}
	}
	if got := opCounts(e, "listGroupClusterBackupRestoreJobs", "listGroupFlexClusterBackupRestoreJobs", "listGroupClusterBackupExports",
		"getGroupBackupCompliancePolicy"); sum(got) != 0 {
		t.Errorf("families off, yet sent %v", got)
	}
	// Copies and the restore window come with the schedule.
	expectLines(t, out, cloudOK,
		`atlas_backup_copy_region_info{cloud_provider="AWS",cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001",region="EU_WEST_1"} 1`,
		`atlas_backup_schedule_restore_window_seconds{cluster="dedicated-01",kind="cloud",project="project-001",project_id="5f0000000000000000000001"} 172800`)
}

// TestCompliancePolicyChanges: the policy is read again with each discovery; one being disabled
// is no longer in force, and one removed leaves enabled 0 and no info.
func TestCompliancePolicyChanges(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.refresh(t)
	const enabled = `atlas_backup_compliance_policy_enabled{project="project-001",project_id="5f0000000000000000000001"}`
	expectLines(t, e.exposition(t), enabled+" 1",
		`atlas_backup_compliance_policy_info{copy_protection_enabled="true",encryption_at_rest_enabled="false",pit_enabled="true",project="project-001",project_id="5f0000000000000000000001",state="ACTIVE"} 1`)
	e.srv.Update(func(es *atlastest.Estate) { es.Projects[0].Compliance.State = "DISABLING" })
	e.clock.Advance(time.Hour)
	e.refresh(t)
	expectLines(t, e.exposition(t), enabled+" 0",
		`atlas_backup_compliance_policy_info{copy_protection_enabled="true",encryption_at_rest_enabled="false",pit_enabled="true",project="project-001",project_id="5f0000000000000000000001",state="DISABLING"} 1`)
	e.srv.Update(func(es *atlastest.Estate) { es.Projects[0].Compliance = nil })
	e.clock.Advance(time.Hour)
	e.refresh(t)
	out := e.exposition(t)
	expectLines(t, out, enabled+" 0")
	for _, name := range []string{"atlas_backup_compliance_policy_info{", "atlas_backup_compliance_policy_restore_window_seconds{"} {
		if strings.Contains(out, name) {
			t.Errorf("%s still exposed for a project without a policy", name)
		}
	}
	if n := e.srv.Count("getGroupBackupCompliancePolicy"); n != 3 {
		t.Errorf("%d policy requests over three discoveries", n)
	}
}

// TestUnknownJobStatusIsCountedAndLogged: a Flex restore status Atlas does not document is
// counted under status="unknown" and logged once.
func TestUnknownJobStatusIsCountedAndLogged(t *testing.T) {
	e := newEnv(t, atlastest.Options{}, oneProject())
	e.srv.SetFault("listGroupFlexClusterBackupRestoreJobs", "flex-02", &atlastest.Fault{
		Body: `{"results": [{"id": "6d0000000000000000000099", "deliveryType": "RESTORE", "status": "CLOSED"}], "links": []}`})
	e.refresh(t)
	e.clock.Advance(time.Hour)
	e.refresh(t)
	expectLines(t, e.exposition(t),
		`atlas_backup_restore_jobs{cluster="flex-02",delivery_type="automated",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="unknown"} 1`,
		`atlas_backup_restore_jobs{cluster="flex-02",delivery_type="automated",kind="flex",project="project-001",project_id="5f0000000000000000000001",status="completed"} 0`)
	if n := strings.Count(e.logs.String(), `msg="a job has a status Atlas does not document" family=restore_jobs status=CLOSED project_id=5f0000000000000000000001 cluster=flex-02 id=6d0000000000000000000099`); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
}

// TestJobErrorLoggedOncePerServedTarget: tenant-03 of project-002 is configured as a tenant
// cluster, whose endpoint is gone, and discovered as the Flex cluster that replaces it: two
// configured targets, one served. A failing restore-job listing of it is logged once.
func TestJobErrorLoggedOncePerServedTarget(t *testing.T) {
	s := defaultSettings()
	s.MinRefreshInterval = time.Minute
	s.Projects = []config.Project{{ID: p2}, {Name: "project-002", Clusters: []string{"tenant-03"}, Kinds: []atlas.Kind{atlas.KindTenant}}}
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}}, s)
	e.srv.SetFault("listGroupFlexClusterBackupRestoreJobs", "tenant-03", &atlastest.Fault{Status: 500})
	for range 2 {
		e.refresh(t)
		e.clock.Advance(time.Minute)
	}
	const logged = `msg="restore_jobs collection" project_id=5f0000000000000000000002 project=project-002 cluster=tenant-03 kind=flex err=`
	if n := strings.Count(e.logs.String(), logged); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, e.logs)
	}
	expectLines(t, e.exposition(t), `atlas_backup_family_collect_success{cluster="tenant-03",family="restore_jobs",kind="flex",project="project-002",project_id="5f0000000000000000000002"} 0`)
	e.srv.SetFault("listGroupFlexClusterBackupRestoreJobs", "tenant-03", nil)
	e.refresh(t)
	const recovered = `level=info msg="restore_jobs collection" project_id=5f0000000000000000000002 project=project-002 cluster=tenant-03 kind=flex status=recovered`
	if n := strings.Count(e.logs.String(), recovered); n != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", n, e.logs)
	}
}
