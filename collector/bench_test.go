package collector

import (
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// benchEnv is a collector filled with a generated estate of clusters×30 snapshots.
func benchEnv(b *testing.B, projects, clusters int, snapshotMetrics bool) *env {
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: projects, ClustersPerProject: clusters, SnapshotsPerCluster: 30,
		Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}, Now: testNow})
	t := &testing.T{}
	e := newEnv(t, atlastest.Options{Estate: est}, Settings{MinRefreshInterval: time.Hour, SnapshotMetrics: snapshotMetrics,
		Projects: []config.Project{{DiscoverAllProjects: true}}})
	e.coll.Refresh(b.Context())
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
				if err := WriteText(io.Discard, e.reg, e.coll); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDropFailingTargets measures the refresh in which n failing clusters of one project
// vanish from its listing, and the longest wait for the collector's lock while it runs (what a
// scrape that arrives then waits before it can render): dropping a target costs what is kept
// about that target, not about every target, and no step holds the lock for long.
//
//	go test ./collector -run '^$' -bench DropFailingTargets -benchtime 1x
func BenchmarkDropFailingTargets(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var longest time.Duration
			for range b.N {
				b.StopTimer()
				est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 1, ClustersPerProject: n, SnapshotsPerCluster: 1,
					Kinds: []atlastest.ClusterKind{atlastest.Flex}, Now: testNow})
				e := newEnv(&testing.T{}, atlastest.Options{Estate: est}, Settings{MinRefreshInterval: time.Minute, RefreshTimeout: time.Hour,
					Projects: []config.Project{{ID: p1}}}, func(c *atlas.Config) { c.RateLimitFactor = 1000 })
				e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Status: 500})
				e.coll.Refresh(b.Context())
				e.srv.Update(func(es *atlastest.Estate) { es.Projects[0].Clusters = nil })
				e.clock.Advance(time.Hour)
				stop, waited := make(chan struct{}), make(chan time.Duration)
				go func() {
					var worst time.Duration
					for {
						select {
						case <-stop:
							waited <- worst
							return
						default:
						}
						start := time.Now()
						e.coll.mu.Lock()
						worst = max(worst, time.Since(start))
						e.coll.mu.Unlock()
						time.Sleep(100 * time.Microsecond)
					}
				}()
				b.StartTimer()
				e.coll.Refresh(b.Context())
				b.StopTimer()
				close(stop)
				longest = max(longest, <-waited)
				if got := len(e.coll.targets); got != 0 {
					b.Fatalf("%d targets left", got)
				}
				e.srv.Close()
				e.client.Close()
			}
			b.ReportMetric(float64(longest.Microseconds())/1000, "max-lock-wait-ms")
		})
	}
}
