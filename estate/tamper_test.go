package estate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// tamperEstate is project-001 and -002 with six snapshots per cluster, every one completed on
// dedicated-01 (its profile is healthy), all expiring two days after the newest.
func tamperEstate() atlastest.Options {
	return atlastest.Options{Estate: atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 2, ClustersPerProject: 8, SnapshotsPerCluster: 6, Now: testNow})}
}

const (
	scheduleOp = "getGroupClusterBackupSchedule"
	cloudList  = "listGroupClusterBackupSnapshots"
)

// tamperLines are the exposition's lines of the early-deletion and shortened counters.
func tamperLines(out string) []string {
	return append(grep(out, "atlas_backup_snapshots_deleted_early_total{"), grep(out, "atlas_backup_snapshots_expiry_shortened_total{")...)
}

// wantTamper is tamperLines with every watched target of project-001 at 0 but those of
// nonzero, keyed "family cluster cause" (family deleted_early or expiry_shortened).
func wantTamper(nonzero map[string]int) []string {
	var want []string
	for _, fam := range []string{"deleted_early", "expiry_shortened"} {
		for _, tg := range [][2]string{{"dedicated-01", "cloud"}, {"dedicated-06", "cloud"}, {"serverless-04", "serverless"}} {
			for _, cause := range estate.Causes {
				want = append(want, fmt.Sprintf(`atlas_backup_snapshots_%s_total{cause="%s",cluster="%s",kind="%s",project="project-001",project_id="%s"} %d`,
					fam, cause, tg[0], tg[1], p1, nonzero[fam+" "+tg[0]+" "+cause]))
			}
		}
	}
	return grep(strings.Join(want, "\n"), "atlas_backup")
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// snapIDs are the ids of a cluster of project-001 in the fake, newest first.
func snapIDs(e *env, cluster string) []string {
	var ids []string
	e.srv.Update(func(es *atlastest.Estate) {
		for _, sn := range es.Projects[0].Cluster(cluster).Snapshots {
			ids = append(ids, sn.ID)
		}
	})
	return ids
}

func deleteSnaps(e *env, cluster string, ids ...string) {
	e.srv.Update(func(es *atlastest.Estate) { es.Projects[0].Cluster(cluster).DeleteSnapshots(ids...) })
}

// TestDeletedEarly: deleting the two newest snapshots of one cluster between two refreshes
// counts exactly 2, unexplained, in that cluster's counter and 0 elsewhere, with one log line
// each; the one extra request is that cluster's schedule, read to explain them.
func TestDeletedEarly(t *testing.T) {
	e := newEnv(t, tamperEstate(), oneProject())
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(nil))
	ids := snapIDs(e, "dedicated-01")
	deleteSnaps(e, "dedicated-01", ids[0], ids[1])
	e.clock.Advance(time.Minute)
	e.srv.Reset()
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(map[string]int{"deleted_early dedicated-01 unexplained": 2}))
	var schedules []string
	for _, r := range e.srv.Requests() {
		if r.Operation == scheduleOp {
			schedules = append(schedules, r.Path)
		}
	}
	if want := "/api/atlas/v2/groups/" + p1 + "/clusters/dedicated-01/backup/schedule"; strings.Join(schedules, " ") != want {
		t.Errorf("schedules read: %q, want only %s", schedules, want)
	}
	logged := grep(e.logs.String(), "snapshot deleted before its expiry")
	if len(logged) != 2 {
		t.Fatalf("logged %d lines, want 2:\n%s", len(logged), e.logs)
	}
	for i, id := range ids[:2] {
		if !strings.Contains(e.logs.String(), "snapshot_id="+id+" ") {
			t.Errorf("deletion %d of %s not logged:\n%s", i, id, strings.Join(logged, "\n"))
		}
	}
	want := `level=warn msg="snapshot deleted before its expiry" project_id=` + p1 + ` project=project-001 cluster=dedicated-01 kind=cloud snapshot_id=` + ids[0]
	if !strings.HasPrefix(logged[0], want) && !strings.HasPrefix(logged[1], want) {
		t.Errorf("no line starts %s:\n%s", want, strings.Join(logged, "\n"))
	}
	if !strings.Contains(strings.Join(logged, "\n"), "frequency=hourly cause=unexplained") {
		t.Errorf("lines lack the frequency and cause:\n%s", strings.Join(logged, "\n"))
	}
	// Counted once: the next refresh finds nothing new, and reads no schedule for it.
	e.clock.Advance(time.Minute)
	e.srv.Reset()
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(map[string]int{"deleted_early dedicated-01 unexplained": 2}))
	if n := e.srv.Count(scheduleOp); n != 0 {
		t.Errorf("%d schedule reads with nothing found", n)
	}
}

// TestDeletedByPolicy: with the policy's six-hourly retention cut to a day before the listing,
// the snapshot a day old that went counts as policy, the newest as unexplained.
func TestDeletedByPolicy(t *testing.T) {
	e := newEnv(t, tamperEstate(), oneProject())
	e.refresh(t)
	ids := snapIDs(e, "dedicated-01")
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-01")
		c.Policy[0].RetentionValue = 1 // hourly, kept 1 day
		c.DeleteSnapshots(ids[0], ids[4])
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(map[string]int{
		"deleted_early dedicated-01 unexplained": 1, "deleted_early dedicated-01 policy": 1}))
	if !strings.Contains(e.logs.String(), "snapshot_id="+ids[4]+" ") || !strings.Contains(e.logs.String(), "cause=policy") {
		t.Errorf("the deletion the policy explains is not logged with its cause:\n%s", e.logs)
	}
}

// TestExpiryShortened: three snapshots whose expiry moves a day earlier count 3 in that
// cluster's counter, logged in one line for the cluster and refresh.
func TestExpiryShortened(t *testing.T) {
	e := newEnv(t, tamperEstate(), oneProject())
	e.refresh(t)
	ids := snapIDs(e, "dedicated-06")
	e.srv.Update(func(es *atlastest.Estate) {
		c := es.Projects[0].Cluster("dedicated-06")
		for _, id := range ids[2:5] {
			c.SetExpiry(id, testNow.Add(2*time.Hour)) // well before the policy's two days
		}
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(map[string]int{"expiry_shortened dedicated-06 unexplained": 3}))
	logged := grep(e.logs.String(), "expiry shortened")
	want := `level=warn msg="snapshots' expiry shortened" project_id=` + p1 + ` project=project-001 cluster=dedicated-06 kind=cloud snapshots=3 unexplained=3 policy=0 snapshot_ids=` + strings.Join(ids[2:5], ",")
	if len(logged) != 1 || logged[0] != want {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(logged, "\n"), want)
	}
}

// TestNoFalseAlarms: what must count 0.
func TestNoFalseAlarms(t *testing.T) {
	for _, tc := range []struct {
		name string
		// between runs after the first refresh, and before the second; after, if set, before
		// a third refresh that must find what between did (nothing was missed).
		between func(t *testing.T, e *env)
		after   func(e *env)
		missed  map[string]int
	}{
		{name: "snapshots expiring on schedule", between: func(t *testing.T, e *env) {
			e.clock.Advance(48*time.Hour + time.Hour)
			e.srv.Update(func(es *atlastest.Estate) {
				if es.Expire(e.clock.Now()) == 0 {
					t.Fatal("nothing expired")
				}
			})
		}},
		{name: "a failed listing", between: func(t *testing.T, e *env) {
			deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
			e.srv.SetFault(cloudList, "dedicated-01", &atlastest.Fault{Status: 500})
		}, after: func(e *env) { e.srv.SetFault(cloudList, "dedicated-01", nil) }, missed: map[string]int{"deleted_early dedicated-01 unexplained": 2}},
		{name: "a capped listing", between: func(t *testing.T, e *env) {
			deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
			e.srv.SetFault(cloudList, "dedicated-01", &atlastest.Fault{Endless: true, PageItems: 5000})
		}, after: func(e *env) { e.srv.SetFault(cloudList, "dedicated-01", nil) }, missed: map[string]int{"deleted_early dedicated-01 unexplained": 2}},
		{name: "a cluster deleted whole", between: func(t *testing.T, e *env) { removeCluster(e, 0, "dedicated-01") }},
		{name: "a reload that changed the selection", between: func(t *testing.T, e *env) {
			deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
			s := oneProject()
			s.Projects = append(s.Projects, config.Project{ID: p2, Clusters: []string{"dedicated-01"}})
			e.Reconfigure(s)
		}},
		{name: "a restart without state", between: func(t *testing.T, e *env) {
			deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
			e.Engine = estate.New(t.Context(), log.NewNopLogger(), e.Sources, oneProject(), e.clock.Now)
			e.engine = e.Engine
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tamperEstate(), oneProject())
			e.refresh(t)
			tc.between(t, e)
			e.clock.Advance(time.Minute)
			e.refresh(t)
			if tc.name == "a restart without state" {
				v := e.engine.View()
				for _, tv := range v.Targets {
					if tv.Tamper.DeletedEarly != [2]uint64{} {
						t.Errorf("%s: %v", tv.Target.Cluster, tv.Tamper.DeletedEarly)
					}
				}
				return
			}
			out := e.exposition(t)
			want := wantTamper(nil)
			if tc.name == "a cluster deleted whole" {
				want = grep(strings.Join(want, "\n"), "dedicated-06")
				want = append(want, grep(strings.Join(wantTamper(nil), "\n"), "serverless-04")...)
				want = grep(strings.Join(want, "\n"), "atlas_backup")
			}
			sameLines(t, grep(strings.Join(tamperLines(out), "\n"), p1), want)
			if n := strings.Count(e.logs.String(), "deleted before its expiry"); n != 0 {
				t.Errorf("logged %d deletions:\n%s", n, e.logs)
			}
			if tc.after != nil {
				tc.after(e)
				e.clock.Advance(time.Minute)
				e.refresh(t)
				sameLines(t, tamperLines(e.exposition(t)), wantTamper(tc.missed))
			}
		})
	}
}

// TestShiftedListing: a listing that moved under both reads (its newest snapshot deleted
// whenever its first page is served) is not compared; the deletions show at the next steady
// listing.
func TestShiftedListing(t *testing.T) {
	o := tamperEstate()
	o.PageCap = 2
	e := newEnv(t, o, oneProject())
	e.refresh(t)
	deleted := 0
	e.srv.OnPage(cloudList, "dedicated-01", func(page int, es *atlastest.Estate) {
		if page == 1 {
			c := es.Projects[0].Cluster("dedicated-01")
			deleted += c.DeleteSnapshots(c.Snapshots[0].ID)
		}
	})
	e.clock.Advance(time.Minute)
	e.refresh(t)
	e.srv.OnPage(cloudList, "dedicated-01", nil)
	if !strings.Contains(e.logs.String(), atlas.ErrListingShifted.Error()) {
		t.Fatalf("the listing did not shift:\n%s", e.logs)
	}
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(nil))
	e.clock.Advance(time.Minute)
	e.refresh(t)
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(map[string]int{"deleted_early dedicated-01 unexplained": deleted}))
}

// restart starts another engine on the same sources, as the exporter restarting, with s.
func restart(t *testing.T, e *env, s estate.Settings) *estate.Engine {
	return estate.New(t.Context(), log.NewLogfmtLogger(e.logs), e.Sources, s, e.clock.Now)
}

// tamperIn refreshes eng and returns what its view counts per watched cluster of project-001:
// snapshots deleted early and expiries shortened, every cause.
func tamperIn(t *testing.T, eng *estate.Engine) map[string][2]uint64 {
	eng.Refresh(t.Context())
	eng.WaitIdle(t.Context())
	out := map[string][2]uint64{}
	for _, tv := range eng.View().Targets {
		if tv.Tamper.Watched && tv.Project.ID == p1 {
			d, sh := tv.Tamper.DeletedEarly, tv.Tamper.Shortened
			out[tv.Target.Cluster] = [2]uint64{d[estate.CausePolicy] + d[estate.CauseUnexplained], sh[estate.CausePolicy] + sh[estate.CauseUnexplained]}
		}
	}
	return out
}

// TestStateFileAcrossRestart: with --storage.path, snapshots deleted and expiries shortened
// while the exporter was down are found and logged at its first refresh, and counted from the
// third: the first refresh is the exporter's own, at start, and a scrape may start the second,
// so only by then has every scrape seen the restarted exporter's counters at 0, which
// increase() needs to see them move. A state file a day old, of another shard, or unreadable
// is ignored (logged), and nothing counts.
func TestStateFileAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(e *env, path string)
		found  bool
		logged string
	}{
		{name: "deleted while down", found: true, logged: `msg="state file read" path=%s baselines=3`},
		{name: "a day old", change: func(e *env, _ string) { e.clock.Advance(24*time.Hour + time.Minute) }, logged: `msg="state file read" path=%s baselines=0`},
		{name: "unreadable", change: func(e *env, path string) { writeFile(t, path, "{") },
			logged: `msg="state file ignored: the first listings are baselines, as after a start without one" path=%[1]s err="%[1]s: unexpected end of JSON input"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			s := oneProject()
			s.StoragePath = path
			e := newEnv(t, tamperEstate(), s)
			e.refresh(t)
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("no state file after a refresh: %v", err)
			}
			deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
			e.srv.Update(func(es *atlastest.Estate) {
				c := es.Projects[0].Cluster("dedicated-06")
				for _, sn := range c.Snapshots[2:5] {
					c.SetExpiry(sn.ID, testNow.Add(2*time.Hour))
				}
			})
			e.clock.Advance(time.Minute)
			if tc.change != nil {
				tc.change(e, path)
			}
			eng := restart(t, e, s)
			var found [2]uint64
			if tc.found {
				found = [2]uint64{2, 3}
			}
			for i, counted := range []bool{false, false, true} {
				if i > 0 {
					e.clock.Advance(time.Minute) // oneProject's min_refresh_interval
				}
				got := tamperIn(t, eng)
				want := map[string][2]uint64{"dedicated-01": {}, "dedicated-06": {}, "serverless-04": {}}
				if counted {
					want["dedicated-01"], want["dedicated-06"] = [2]uint64{found[0], 0}, [2]uint64{0, found[1]}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("refresh %d after the restart: [deleted early, shortened] %v, want %v", i+1, got, want)
				}
				// Logged when found, once.
				deleted, shortened := strings.Count(e.logs.String(), "snapshot deleted before its expiry"), strings.Count(e.logs.String(), "snapshots' expiry shortened")
				if uint64(deleted) != found[0] || (shortened == 1) != tc.found {
					t.Errorf("refresh %d after the restart: logged %d deletions and %d shortenings:\n%s", i+1, deleted, shortened, e.logs)
				}
			}
			if l := fmt.Sprintf(tc.logged, path); !strings.Contains(e.logs.String(), l) {
				t.Errorf("not logged: %s\n%s", l, e.logs)
			}
		})
	}
	t.Run("another shard", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state.json")
		s := oneProject()
		s.StoragePath = path
		e := newEnv(t, tamperEstate(), s)
		e.refresh(t)
		deleteSnaps(e, "dedicated-01", snapIDs(e, "dedicated-01")[:2]...)
		s.Shard = estate.Shard{Index: 0, Total: 2}
		eng := restart(t, e, s)
		for i := range 3 {
			e.clock.Advance(time.Minute)
			if got := tamperIn(t, eng); got["dedicated-01"] != [2]uint64{} {
				t.Errorf("refresh %d after the restart: [deleted early, shortened] %v, want none", i+1, got)
			}
		}
		if !strings.Contains(e.logs.String(), "written by shard 0 of 0, this is 0 of 2") {
			t.Errorf("not logged:\n%s", e.logs)
		}
	})
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFakeExpiresOnSchedule: snapshots the fake's deletion job removes after their expiry
// (Options.ExpireSnapshots) count nowhere.
func TestFakeExpiresOnSchedule(t *testing.T) {
	o := tamperEstate()
	var mu sync.Mutex
	now := testNow
	o.ExpireSnapshots, o.Now = true, func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, o, oneProject())
	e.refresh(t)
	before := len(snapIDs(e, "dedicated-01"))
	// The oldest six-hourly snapshots, taken up to a day and a half ago, pass their two days.
	mu.Lock()
	now = now.Add(22 * time.Hour)
	mu.Unlock()
	e.clock.Advance(22 * time.Hour)
	e.refresh(t)
	if after := len(snapIDs(e, "dedicated-01")); after >= before {
		t.Fatalf("%d snapshots before, %d after: none expired", before, after)
	}
	if !strings.Contains(e.exposition(t), `atlas_backup_tamper_baseline_timestamp_seconds{cluster="dedicated-01",kind="cloud",project="project-001",project_id="`+p1+`"} `) {
		t.Fatal("no baseline")
	}
	sameLines(t, tamperLines(e.exposition(t)), wantTamper(nil))
}
