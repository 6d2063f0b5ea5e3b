package collector_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// static is a Source of one hand-made view at a time.
type static struct{ v *estate.View }

func (s *static) View() *estate.View { return s.v }

// render is what /metrics serves of coll alone.
func render(t *testing.T, coll *collector.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll)
	var buf bytes.Buffer
	if err := handler.WriteExposition(t.Context(), &buf, expfmt.FmtText, coll, reg); err != nil {
		t.Fatal(err)
	}
	testenv.CheckMetrics(t, buf.String())
	return buf.String()
}

// TestFamiliesOfAView: the families say what a hand-made view says, no engine needed.
func TestFamiliesOfAView(t *testing.T) {
	p := atlas.Project{ID: "5f00000000000000000000a1", Name: "alpha"}
	created := testNow.Add(-time.Hour)
	tv := &estate.TargetView{
		Project: p, Target: atlas.Target{ProjectID: p.ID, Cluster: "db", Kind: atlas.KindCloud}, OK: true, HasData: true, FetchedAt: testNow,
		Snapshots: []atlas.Snapshot{{ID: "6a00000000000000000000a1", Status: atlas.StatusCompleted, CreatedAt: created, SizeBytes: 10, HasSize: true}},
		Schedule:  &atlas.Schedule{NextSnapshot: testNow.Add(time.Hour), Items: []atlas.PolicyItem{{Frequency: "daily"}}, RestoreWindowDays: 2}, PIT: true,
		Restores: estate.Jobs[atlas.RestoreJob]{Tried: true, OK: false},
	}
	src := &static{&estate.View{
		Version: 1, SnapshotMetrics: true,
		Health: estate.Health{Up: true, Ready: true, LastRefreshDuration: 2 * time.Second, LastRequests: map[string]float64{"full": 7},
			Shard: estate.Shard{Index: 0, Total: 1}},
		Projects: []*estate.ProjectView{{Project: p, DiscoveryOK: true, DiscoveredAt: testNow,
			Clusters: []estate.ClusterView{{Cluster: atlas.Cluster{Name: "db", Kind: atlas.KindCloud, Type: "REPLICASET", Tier: "M10", State: "IDLE", MongoDBVersion: "8.0.4"}, BackupKind: atlas.KindCloud}}}},
		Targets: []*estate.TargetView{tv},
		Missing: []estate.MissingTarget{{Project: "gamma"}},
	}}
	coll := collector.New(src, func() time.Time { return testNow })
	const db = `{cluster="db",kind="cloud",project="alpha",project_id="5f00000000000000000000a1"}`
	expectLines(t, render(t, coll),
		"atlas_backup_up 1", "atlas_backup_exporter_last_refresh_duration_seconds 2", `atlas_backup_exporter_last_refresh_requests{discovery="full"} 7`,
		`atlas_backup_discovery_success{project="alpha",project_id="5f00000000000000000000a1"} 1`,
		`atlas_backup_cluster_info{cluster="db",kind="cloud",mongodb_version="8.0.4",project="alpha",project_id="5f00000000000000000000a1",state="IDLE",tier="M10",type="REPLICASET"} 1`,
		`atlas_backup_target_missing{cluster="",kind="",project="gamma"} 1`,
		"atlas_backup_collect_success"+db+" 1", "atlas_backup_storage_bytes"+db+" 10",
		"atlas_backup_schedule_interval_seconds"+db+" 86400", "atlas_backup_schedule_restore_window_seconds"+db+" 172800",
		`atlas_backup_family_collect_success{cluster="db",family="restore_jobs",kind="cloud",project="alpha",project_id="5f00000000000000000000a1"} 0`,
		`atlas_backup_snapshot_created_timestamp_seconds{cluster="db",kind="cloud",project="alpha",project_id="5f00000000000000000000a1",snapshot_id="6a00000000000000000000a1"} 1.7951724e+09`)
}

// TestTargetEncodingsFollowTheirView: what a target renders to is kept while its view is the
// same value, and made anew for a new one. (Views are never changed; this one is, to see what
// is kept.)
func TestTargetEncodingsFollowTheirView(t *testing.T) {
	p := atlas.Project{ID: "5f00000000000000000000a1", Name: "alpha"}
	tv := &estate.TargetView{Project: p, Target: atlas.Target{ProjectID: p.ID, Cluster: "db", Kind: atlas.KindCloud}, OK: true}
	src := &static{&estate.View{Version: 1, Targets: []*estate.TargetView{tv}}}
	coll := collector.New(src, func() time.Time { return testNow })
	const success = `atlas_backup_collect_success{cluster="db",kind="cloud",project="alpha",project_id="5f00000000000000000000a1"}`
	expectLines(t, render(t, coll), success+" 1")
	tv.OK = false
	src.v = &estate.View{Version: 2, Targets: []*estate.TargetView{tv}}
	expectLines(t, render(t, coll), success+" 1")
	changed := *tv
	src.v = &estate.View{Version: 3, Targets: []*estate.TargetView{&changed}}
	expectLines(t, render(t, coll), success+" 0")
}
