package collector_test

import (
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/handler"
)

// benchEnv is a collector filled with a generated estate of clusters×30 snapshots.
func benchEnv(b *testing.B, projects, clusters int, snapshotMetrics bool) *env {
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: projects, ClustersPerProject: clusters, SnapshotsPerCluster: 30,
		Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}, Now: testNow})
	t := &testing.T{}
	e := newEnv(t, atlastest.Options{Estate: est}, estate.Settings{MinRefreshInterval: time.Hour, SnapshotMetrics: snapshotMetrics,
		Projects: []config.Project{{DiscoverAllProjects: true}}})
	e.Refresh(b)
	b.Cleanup(func() { e.srv.Close(); e.client.Close() })
	return e
}

// BenchmarkCollectCluster measures building the metrics of one cluster with 30 snapshots.
func BenchmarkCollectCluster(b *testing.B) {
	e := benchEnv(b, 1, 1, true)
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.coll.Collect(ch)
	}
	b.StopTimer()
	close(ch)
	<-done
}

// BenchmarkRender measures gathering and encoding the registry of 100 clusters × 30 snapshots.
func BenchmarkRender(b *testing.B) {
	for _, sm := range []bool{true, false} {
		name := "snapshot_metrics"
		if !sm {
			name = "cluster_metrics_only"
		}
		b.Run(name, func(b *testing.B) {
			e := benchEnv(b, 20, 5, sm)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := handler.WriteText(io.Discard, e.reg, e.coll); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
