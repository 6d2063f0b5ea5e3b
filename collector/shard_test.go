package collector_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// TestShardsSplitTheEstate: three shards read every snapshot listing of the estate exactly once
// between them, and the union of their per-target series is exactly what one unsharded replica
// exposes, missing targets included.
func TestShardsSplitTheEstate(t *testing.T) {
	est := atlastest.Generate(atlastest.Spec{Seed: 5, Projects: 12, ClustersPerProject: 8, SnapshotsPerCluster: 3, Now: testNow})
	projects := []config.Project{
		{DiscoverAllProjects: true},
		{Name: "project-003", Clusters: []string{"tenant-03"}, Kinds: []atlas.Kind{atlas.KindTenant}},
		{Name: "project-002", Clusters: []string{"no-such-cluster"}},
		{Name: "Prodction"},
		{ID: "5f00000000000000000000ff"},
		{DiscoverAllProjects: true, Clusters: []string{"nowhere-01"}},
	}
	collect := func(fake *atlastest.Server, shard estate.Shard) string {
		client, err := atlas.New(atlas.Config{BaseURL: fake.URL, ServiceAccount: &atlas.ServiceAccount{ClientID: "id", ClientSecret: "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		clk := rig.NewClock(testNow)
		s := defaultSettings()
		s.Projects, s.Shard = projects, shard
		eng := estate.New(t.Context(), log.NewNopLogger(), estate.Sources{"": atlas.NewFetcher(client)}, s, clk.Now)
		coll := collector.New(eng, clk.Now)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(coll)
		eng.Refresh(t.Context())
		eng.WaitIdle(t.Context())
		clk.Advance(5 * time.Minute) // the second refresh reads the all-projects listing too
		eng.Refresh(t.Context())
		eng.WaitIdle(t.Context())
		e := &env{Env: &rig.Env{Engine: eng, Coll: coll, Reg: reg}}
		return e.exposition(t)
	}
	single := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "id", ClientSecret: "secret"})
	defer single.Close()
	want := testenv.PerTarget(collect(single, estate.Shard{}), nil)

	shared := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "id", ClientSecret: "secret"})
	defer shared.Close()
	var shards [][]string
	for i := range 3 {
		out := collect(shared, estate.Shard{Index: i, Total: 3})
		if !strings.Contains(out, fmt.Sprintf("atlas_backup_exporter_shard_info{shard=\"%d\",total_shards=\"3\"} 1\n", i)) {
			t.Errorf("shard %d does not say which it is", i)
		}
		shards = append(shards, testenv.PerTarget(out, nil))
	}
	testenv.CompareShards(t, want, shards)
	if !strings.Contains(strings.Join(want, "\n"), `atlas_backup_target_missing{cluster="nowhere-01",kind="",project=""} 1`) {
		t.Error("the missing cluster no project holds is not reported")
	}
	// Every snapshot listing once across the shards, twice in two refreshes.
	listings := map[string]int{}
	for _, r := range shared.Requests() {
		if strings.Contains(r.Path, "/snapshots") {
			listings[r.Path]++
		}
	}
	for path, n := range listings {
		if n != 2 {
			t.Errorf("%s requested %d times by the shards in two refreshes, want 2", path, n)
		}
	}
}
