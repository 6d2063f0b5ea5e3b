package collector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// The assignment must never change between versions: replicas of different versions share an
// estate during a rollout.
func TestShardOfIsStable(t *testing.T) {
	// Pinned values: FNV-1a 64 of the id string, mod the total.
	got := fmt.Sprint(ShardOf("5f0000000000000000000001", 3), ShardOf("5f0000000000000000000002", 3), ShardOf("5f0000000000000000000003", 3),
		ShardOf("64b7f3c2a1e4d5f6a7b8c9d0", 16), ShardOf("5f0000000000000000000003", 1))
	if want := "0 0 1 0 0"; got != want {
		t.Errorf("shard assignment changed: got %s, want %s", got, want)
	}
}

// TestShardOfIsBalanced: over 10,000 random project ids (shaped like Atlas's: a time, then random
// bytes), every shard of 2 to 16 gets within three standard deviations of an even share, as a
// random assignment would: 3% of even at 2 shards, 12% at 16 (go test -v shows the largest gap).
func TestShardOfIsBalanced(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08x%016x", 0x5f000000+rng.Uint32N(1<<24), rng.Uint64())
	}
	for total := 2; total <= 16; total++ {
		worst := 0.0
		counts := make([]int, total)
		for _, id := range ids {
			counts[ShardOf(id, total)]++
		}
		p := 1 / float64(total)
		even, sigma := n*p, math.Sqrt(n*p*(1-p))
		for s, c := range counts {
			off := math.Abs(float64(c) - even)
			worst = max(worst, off/even)
			if off > 3*sigma {
				t.Errorf("%d shards: shard %d has %d projects, %.0f off an even %.0f (3σ = %.0f)", total, s, c, off, even, 3*sigma)
			}
		}
		t.Logf("%2d shards: largest gap from an even share %.1f%% (σ %.1f%%)", total, 100*worst, 100*sigma/even)
	}
}

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
	collect := func(fake *atlastest.Server, shard Shard) string {
		client, err := atlas.New(atlas.Config{BaseURL: fake.URL, ServiceAccount: &atlas.ServiceAccount{ClientID: "id", ClientSecret: "secret"}})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		clk := &clock{t: testNow}
		s := defaultSettings()
		s.Projects, s.Shard = projects, shard
		coll := New(t.Context(), log.NewNopLogger(), atlas.NewFetcher(client), s, clk.Now)
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(coll)
		coll.Refresh(t.Context())
		clk.Advance(5 * time.Minute) // the second refresh reads the all-projects listing too
		coll.Refresh(t.Context())
		e := &env{coll: coll, reg: reg}
		return e.exposition(t)
	}
	single := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "id", ClientSecret: "secret"})
	defer single.Close()
	want := testenv.PerTarget(collect(single, Shard{}), nil)

	shared := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: "id", ClientSecret: "secret"})
	defer shared.Close()
	var shards [][]string
	for i := range 3 {
		out := collect(shared, Shard{Index: i, Total: 3})
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
