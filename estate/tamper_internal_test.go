package estate

import (
	"context"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestProjectMovedToAnotherSet: a project another credential set reads for a while (here
// across a refresh that timed out, so its targets' state stays) has its next listing by this
// set taken as the first: the snapshot deleted meanwhile, which the other set would have
// counted, is not compared with what this set read before the move.
func TestProjectMovedToAnotherSet(t *testing.T) {
	f := newStub()
	f.projects = []atlas.Project{pA, pB}
	f.clusters[pA.ID] = []atlas.Cluster{{ProjectID: pA.ID, Name: "db", Kind: atlas.KindCloud}}
	f.clusters[pB.ID] = []atlas.Cluster{{ProjectID: pB.ID, Name: "fy", Kind: atlas.KindFlex}}
	two := []atlas.Snapshot{
		{ID: "s1", Status: atlas.StatusCompleted, CreatedAt: stubNow.Add(-time.Hour), ExpiresAt: stubNow.Add(47 * time.Hour)},
		{ID: "s2", Status: atlas.StatusCompleted, CreatedAt: stubNow.Add(-7 * time.Hour), ExpiresAt: stubNow.Add(41 * time.Hour)},
	}
	f.snapshots = map[string][]atlas.Snapshot{"db": two}
	s := allOn()
	s.Projects = []config.Project{{DiscoverAllProjects: true, Credentials: "b"}}
	c := newClaims(log.NewNopLogger())
	c.reorder([]string{"a", "b"}, []config.Project{{DiscoverAllProjects: true, Credentials: "a"}, s.Projects[0]})
	clock := &fixed{t: stubNow}
	ctx, cancel := context.WithCancel(context.Background())
	e := newSetEngine(ctx, log.NewLogfmtLogger(&testenv.Buffer{}), "b", f, s, clock.now, c, make(chan struct{}, 1))
	t.Cleanup(func() {
		cancel()
		e.WaitIdle(context.Background())
	})
	refresh := func() {
		clock.advance(time.Minute)
		e.Refresh(t.Context())
		e.WaitIdle(t.Context())
	}
	refresh() // b reads alpha: its listing is db's baseline
	if v := e.View(); len(v.Targets) != 2 || v.Targets[0].Tamper.BaselineAt.IsZero() {
		t.Fatalf("no baseline for db: %+v", v.Targets)
	}
	// Set a now selects alpha: b's next refresh reads beta only, and times out.
	c.claim("a", "all", []atlas.Project{pA})
	s.RefreshTimeout = 100 * time.Millisecond
	e.Reconfigure(f, s)
	f.mu.Lock()
	f.between = func() { time.Sleep(300 * time.Millisecond) }
	f.mu.Unlock()
	refresh()
	f.mu.Lock()
	f.between = nil
	f.snapshots["db"] = two[:1] // s2 deleted while a read alpha
	f.mu.Unlock()
	c.claim("a", "all", nil)
	s.RefreshTimeout = time.Minute
	e.Reconfigure(f, s)
	refresh()
	for _, tv := range e.View().Targets {
		if tv.Target.Cluster == "db" && (tv.Tamper.DeletedEarly != [numCauses]uint64{} || tv.Tamper.BaselineAt.IsZero()) {
			t.Errorf("db after the move back: %+v", tv.Tamper)
		}
	}
}
