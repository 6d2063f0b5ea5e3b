package estate_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// twoOrgs is the rig over two organisations of two projects each (a Cloud Backup and a Flex
// cluster per project), each read with its own credential set.
func twoOrgs(t *testing.T) *rig.Env {
	t.Helper()
	return rig.NewSets(t, rig.TwoOrgs(4, 2), rig.TwoSets(), rig.TwoSetsCreds())
}

// firstRefresh is what one organisation's first refresh asks of two projects of a Cloud Backup
// and a Flex cluster each: a token, the project listing, the organisation, per project its
// three listings and compliance policy, per cluster its snapshots and restore jobs, and the
// backup schedule and export jobs of the Cloud Backup cluster.
func firstRefresh() map[string]int {
	return map[string]int{
		"oauthToken": 1, "listGroups": 1, "getOrg": 1,
		"listGroupClusters": 2, "listGroupFlexClusters": 2, "listGroupServerlessInstances": 2, "getGroupBackupCompliancePolicy": 2,
		"listGroupClusterBackupSnapshots": 2, "getGroupClusterBackupSchedule": 2, "listGroupClusterBackupRestoreJobs": 2, "listGroupClusterBackupExports": 2,
		"listGroupFlexClusterBackupSnapshots": 2, "listGroupFlexClusterBackupRestoreJobs": 2,
	}
}

// steadyRefresh is what one organisation's next refresh asks, within discovery_interval and
// jobs_interval: the all-projects cluster listing, and the snapshots.
func steadyRefresh() map[string]int {
	return map[string]int{"listClusterDetails": 1, "listGroupClusterBackupSnapshots": 2, "listGroupFlexClusterBackupSnapshots": 2}
}

// Two organisations with different credentials are read each with its own, and each
// organisation's credentials make exactly the requests of its own estate. eu-unit's lack the
// Organization Member role: Atlas answers its organisation with 401, which the client takes
// for a stale token once (a new token, asked once), and which leaves the set up with its
// organisation's name empty.
func TestTwoOrganisations(t *testing.T) {
	e := twoOrgs(t)
	e.Refresh(t)
	eu := firstRefresh()
	eu["oauthToken"], eu["getOrg"] = 2, 2
	for org, want := range map[string]map[string]int{rig.OrgA: firstRefresh(), rig.OrgB: eu, "": nil} {
		if got := e.Srv.OrgCounts(org); !maps.Equal(got, want) {
			t.Errorf("organisation %q: requests\n got %v\nwant %v", org, got, want)
		}
	}
	v := e.Engine.View()
	if got := fmt.Sprint(v.Credentials); got != fmt.Sprintf("[{billing true %s true 0s} {eu-unit true %s true 0s}]", rig.Now, rig.Now) {
		t.Errorf("credentials %s", got)
	}
	var projects []string
	for _, pv := range v.Projects {
		projects = append(projects, fmt.Sprintf("%s %s org=%s %q by %s", pv.Project.ID, pv.Project.Name, pv.Org.ID, pv.Org.Name, pv.Credentials))
	}
	want := []string{
		atlastest.ProjectID(0) + ` project-001 org=` + rig.OrgA + ` "billing" by billing`,
		atlastest.ProjectID(1) + ` project-002 org=` + rig.OrgB + ` "" by eu-unit`,
		atlastest.ProjectID(2) + ` project-003 org=` + rig.OrgA + ` "billing" by billing`,
		atlastest.ProjectID(3) + ` project-004 org=` + rig.OrgB + ` "" by eu-unit`,
	}
	if !slices.Equal(projects, want) {
		t.Errorf("projects\n got %q\nwant %q", projects, want)
	}
	// The health of both sets: requests added up, the oldest discovery.
	if len(v.Targets) != 8 || !v.Health.Up || !v.Health.Ready || len(v.Overlaps) != 0 || !maps.Equal(v.Health.LastRequests, map[string]float64{"full": 23 + 25}) ||
		!v.Health.DiscoveredAt.Equal(rig.Now) {
		t.Errorf("%d targets, health %+v, overlaps %v", len(v.Targets), v.Health, v.Overlaps)
	}
	if !strings.Contains(e.Logs.String(), `msg="reading the organisation's name for project_info (it needs the Organization Member role; org_name is empty until it succeeds)" org_id=`+rig.OrgB+` credentials=eu-unit err="atlas: getOrg GET /api/atlas/v2/orgs/`+rig.OrgB+`: HTTP 401 USER_UNAUTHORIZED`) {
		t.Errorf("the organisation's refusal is not logged:\n%s", e.Logs)
	}

	// The next refresh: each organisation's steady state, the organisations not read again.
	e.Srv.Reset()
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	for _, org := range []string{rig.OrgA, rig.OrgB} {
		if got := e.Srv.OrgCounts(org); !maps.Equal(got, steadyRefresh()) {
			t.Errorf("organisation %s: next refresh\n got %v\nwant %v", org, got, steadyRefresh())
		}
	}
}

// The two sets' refreshes run side by side: with every answer to billing slowed down, eu-unit's
// whole refresh is over while billing's is still under way.
func TestOrganisationsReadConcurrently(t *testing.T) {
	e := twoOrgs(t)
	e.Srv.SetOrgFault(rig.OrgA, "*", "", &atlastest.Fault{Latency: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.Engine.Refresh(ctx)
	eu := firstRefresh()
	eu["oauthToken"], eu["getOrg"] = 2, 2
	for deadline := time.Now().Add(10 * time.Second); !maps.Equal(e.Srv.OrgCounts(rig.OrgB), eu); {
		if time.Now().After(deadline) {
			t.Fatalf("eu-unit's refresh did not end: %v", e.Srv.OrgCounts(rig.OrgB))
		}
		time.Sleep(5 * time.Millisecond)
	}
	// billing's takes at least three answers in a row (token, projects, a project's listings),
	// each 300ms late.
	if got := e.Srv.OrgCounts(rig.OrgA); maps.Equal(got, firstRefresh()) {
		t.Errorf("billing's refresh was over before eu-unit's: %v", got)
	}
	e.Engine.WaitIdle(t.Context())
	if got := e.Srv.OrgCounts(rig.OrgA); !maps.Equal(got, firstRefresh()) {
		t.Errorf("billing: requests\n got %v\nwant %v", got, firstRefresh())
	}
}

// One organisation's credentials are revoked mid-run: the other's series stay fresh, the
// revoked one's health goes to 0, and what was read with it stays, marked failed.
func TestRevokedOrganisation(t *testing.T) {
	e := twoOrgs(t)
	e.Refresh(t)
	e.Srv.SetOrgCredentials(rig.OrgB, "", "", "", "")
	e.Srv.Reset()
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	if got := e.Srv.OrgCounts(rig.OrgA); !maps.Equal(got, steadyRefresh()) {
		t.Errorf("billing after eu-unit's revocation\n got %v\nwant %v", got, steadyRefresh())
	}
	v := e.Engine.View()
	later := rig.Now.Add(time.Minute)
	if got := fmt.Sprint(v.Credentials); got != fmt.Sprintf("[{billing true %s true 0s} {eu-unit false %s true 0s}]", later, rig.Now) {
		t.Errorf("credentials %s", got)
	}
	if v.Health.Up {
		t.Error("up with a set's credentials refused")
	}
	for _, tv := range v.Targets {
		revoked := tv.Project.OrgID == rig.OrgB
		if fresh := tv.FetchedAt.Equal(later); tv.OK == revoked || fresh == revoked {
			t.Errorf("%s/%s (revoked %v): ok %v, fetched at %s", tv.Project.Name, tv.Target.Cluster, revoked, tv.OK, tv.FetchedAt)
		}
	}
}

// One organisation's Atlas hangs: the other's refresh reads all it has, its health unharmed.
func TestHangingOrganisation(t *testing.T) {
	t.Parallel() // waits on a slow fake Atlas of its own
	e := twoOrgs(t)
	e.Srv.SetOrgFault(rig.OrgB, "*", "", &atlastest.Fault{Hang: true})
	e.Refresh(t)
	if got := e.Srv.OrgCounts(rig.OrgA); !maps.Equal(got, firstRefresh()) {
		t.Errorf("billing beside a hanging eu-unit\n got %v\nwant %v", got, firstRefresh())
	}
	v := e.Engine.View()
	if got := fmt.Sprint(v.Credentials); got != fmt.Sprintf("[{billing true %s true 0s} {eu-unit false %s true 0s}]", rig.Now, time.Time{}) {
		t.Errorf("credentials %s", got)
	}
	if len(v.Targets) != 4 {
		t.Errorf("%d targets, want billing's 4", len(v.Targets))
	}
}

// A project two sets select is read once, by the first in the order entries name the sets, and
// the overlap is shown and logged once. Here both sets are credentials of one organisation: a
// service account (billing) and an API key (ops), each discovering every project.
func TestOverlappingSets(t *testing.T) {
	o := rig.TwoOrgs(2, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	s := rig.TwoSets()
	s.Projects = []config.Project{{DiscoverAllProjects: true, Credentials: "billing"}, {DiscoverAllProjects: true, Credentials: "ops"}}
	e := rig.NewSets(t, o, s, map[string]atlas.Config{"ops": {APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}})
	e.Refresh(t)
	e.Srv.Reset()
	e.Clock.Advance(time.Minute)
	e.Refresh(t)
	// ops asks for the all-projects cluster listing only; billing reads project-001's targets.
	byAuth := map[string]map[string]int{}
	for _, q := range e.Srv.Requests() {
		if q.Status != http.StatusOK {
			continue
		}
		if byAuth[q.Auth] == nil {
			byAuth[q.Auth] = map[string]int{}
		}
		byAuth[q.Auth][q.Operation]++
	}
	steady := map[string]int{"listClusterDetails": 1, "listGroupClusterBackupSnapshots": 1, "listGroupFlexClusterBackupSnapshots": 1}
	if !maps.Equal(byAuth["bearer"], steady) || !maps.Equal(byAuth["digest"], map[string]int{"listClusterDetails": 1}) {
		t.Errorf("answered requests by auth: %v", byAuth)
	}
	v := e.Engine.View()
	p := atlas.Project{ID: atlastest.ProjectID(0), Name: "project-001", OrgID: rig.OrgA}
	if want := []estate.Overlap{{Project: p, Credentials: "ops", ReadBy: "billing"}}; !slices.Equal(v.Overlaps, want) {
		t.Errorf("overlaps %+v, want %+v", v.Overlaps, want)
	}
	if len(v.Projects) != 1 || v.Projects[0].Credentials != "billing" || len(v.Targets) != 2 {
		t.Errorf("projects %+v, %d targets", v.Projects, len(v.Targets))
	}
	const logged = `msg="project selected by several credential sets; only the first reads it" project_id=5f0000000000000000000001 project=project-001 credentials=ops read_by=billing`
	if n := strings.Count(e.Logs.String(), logged); n != 1 {
		t.Errorf("overlap logged %d times, want once:\n%s", n, e.Logs)
	}
}

// A reload that removes a set stops it and drops its series; one that adds a set starts it;
// the set that stays keeps its data and session.
func TestReconfigureSets(t *testing.T) {
	e := twoOrgs(t)
	e.Refresh(t)
	s := rig.TwoSets()
	s.Projects = s.Projects[:1]
	e.Reconfigure(s)
	v := e.Engine.View()
	if len(v.Credentials) != 1 || v.Credentials[0].Name != "billing" || len(v.Targets) != 4 || !v.Health.Ready {
		t.Errorf("after removing eu-unit: credentials %v, %d targets, health %+v", v.Credentials, len(v.Targets), v.Health)
	}
	e.Srv.Reset()
	e.Reconfigure(rig.TwoSets())
	e.Engine.WaitIdle(t.Context())
	e.Refresh(t)
	// eu-unit starts afresh (its session is the rig's, still holding its token); billing's
	// selection did not change: it is not rediscovered.
	eu := firstRefresh()
	delete(eu, "oauthToken")
	eu["getOrg"] = 1
	if got := e.Srv.OrgCounts(rig.OrgB); !maps.Equal(got, eu) {
		t.Errorf("eu-unit added again\n got %v\nwant %v", got, eu)
	}
	if got := e.Srv.OrgCounts(rig.OrgA); got != nil {
		t.Errorf("billing asked %v", got)
	}
	if v := e.Engine.View(); len(v.Credentials) != 2 || len(v.Targets) != 8 {
		t.Errorf("credentials %v, %d targets", v.Credentials, len(v.Targets))
	}
}
