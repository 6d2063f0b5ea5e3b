package collector_test

import (
	"io"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// benchView is the view of a generated estate of clusters×30 snapshots.
func benchView(b *testing.B, projects, clusters int, snapshotMetrics bool) *estate.View {
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: projects, ClustersPerProject: clusters, SnapshotsPerCluster: 30,
		Retention: 31 * 24 * time.Hour, Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}, Now: testNow})
	t := &testing.T{}
	e := newEnv(t, atlastest.Options{Estate: est}, estate.Settings{MinRefreshInterval: time.Hour, SnapshotMetrics: snapshotMetrics,
		Projects: []config.Project{{DiscoverAllProjects: true}}})
	e.Refresh(b)
	b.Cleanup(func() { e.srv.Close(); e.client.Close() })
	return e.engine.View()
}

// BenchmarkRenderCluster measures rendering one cluster with 30 snapshots in full.
func BenchmarkRenderCluster(b *testing.B) {
	v := benchView(b, 1, 1, true)
	b.ReportAllocs()
	for b.Loop() {
		collector.New(&static{v}, time.Now).Exposition(b.Context(), true)
	}
}

// BenchmarkRender measures rendering 100 clusters × 30 snapshots in full, as after a start.
func BenchmarkRender(b *testing.B) {
	for _, sm := range []bool{true, false} {
		name := "snapshot_metrics"
		if !sm {
			name = "cluster_metrics_only"
		}
		b.Run(name, func(b *testing.B) {
			v := benchView(b, 20, 5, sm)
			b.ReportAllocs()
			for b.Loop() {
				collector.New(&static{v}, time.Now).Exposition(b.Context(), true)
			}
		})
	}
}

// BenchmarkScrape measures what a scrape between versions costs the data part: writing the
// compressed body of 100 clusters × 30 snapshots.
func BenchmarkScrape(b *testing.B) {
	body := collector.New(&static{benchView(b, 20, 5, true)}, time.Now).Exposition(b.Context(), true)
	b.ReportAllocs()
	for b.Loop() {
		if err := body.WriteGzip(io.Discard, collector.OpenMetrics); err != nil {
			b.Fatal(err)
		}
	}
}
