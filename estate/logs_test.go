package estate_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// loggedTopics counts what the engine remembers having logged: in all, and about the
// project id and its targets.
func loggedTopics(e *env, id string) (all, about int) { return e.engine.LoggedTopics(id) }

// TestDroppedSubjectsTakeTheirLogs: what was logged about a target or a project goes when it is
// dropped, whichever way: a cluster Atlas no longer has, a project Atlas no longer has.
func TestDroppedSubjectsTakeTheirLogs(t *testing.T) {
	s := defaultSettings()
	s.MinRefreshInterval, s.Projects = time.Minute, []config.Project{{ID: p1}, {ID: p2}}
	e := newEnv(t, atlastest.Options{}, s)
	e.refresh(t)
	// flex-02 fails in both projects; serverless-04 is read through a deprecated endpoint.
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", &atlastest.Fault{Status: 500})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	// Two topics about each project (flex-02, serverless-04), and two about the exporter: the
	// API versions Atlas says are deprecated.
	all, about1 := loggedTopics(e, p1)
	_, about2 := loggedTopics(e, p2)
	if about1 != 2 || about2 != 2 || all != 6 {
		t.Fatalf("topics logged: %d in all, %d about project-001, %d about project-002; want 6, 2, 2:\n%s", all, about1, about2, e.logs)
	}

	// flex-02 is deleted from project-001: the listing answers 404 CLUSTER_NOT_FOUND.
	e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "flex-02", nil)
	removeCluster(e, 0, "flex-02")
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if all, about1 := loggedTopics(e, p1); about1 != 1 || all != 5 {
		t.Errorf("after a cluster was deleted: %d topics in all, %d about project-001; want 5, 1", all, about1)
	}

	// Project-001 is deleted: its listings answer 404 GROUP_NOT_FOUND; at the next refresh the
	// selector that named it says so (one topic).
	e.srv.Update(func(es *atlastest.Estate) {
		es.Projects = slices.DeleteFunc(es.Projects, func(p *atlastest.Project) bool { return p.ID == p1 })
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	e.clock.Advance(time.Minute)
	e.refresh(t)
	if !strings.Contains(e.logs.String(), `msg="configured project not found" selector="id=`+p1+`"`) {
		t.Errorf("the deleted project is not logged as not found:\n%s", e.logs)
	}
	if all, about1 := loggedTopics(e, p1); about1 != 0 || all != 5 {
		t.Errorf("after a project was deleted: %d topics in all, %d about project-001; want 5, 0", all, about1)
	}
}
