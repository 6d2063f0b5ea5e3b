package estate_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// BenchmarkDropFailingTargets measures the refresh in which n failing clusters of one project
// vanish from its listing, and the longest wait for the engine's lock while it runs (what a
// scrape that arrives then waits before it can render): dropping a target costs what is kept
// about that target, not about every target, and no step holds the lock for long.
//
//	go test ./estate -run '^$' -bench DropFailingTargets -benchtime 1x
func BenchmarkDropFailingTargets(b *testing.B) {
	for _, n := range []int{5000, 20000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var longest time.Duration
			for range b.N {
				b.StopTimer()
				est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 1, ClustersPerProject: n, SnapshotsPerCluster: 1,
					Kinds: []atlastest.ClusterKind{atlastest.Flex}, Now: testNow})
				e := newEnv(&testing.T{}, atlastest.Options{Estate: est}, estate.Settings{MinRefreshInterval: time.Minute, RefreshTimeout: time.Hour,
					Projects: []config.Project{{ID: p1}}}, func(c *atlas.Config) { c.RateLimitFactor = 1000 })
				e.srv.SetFault("listGroupFlexClusterBackupSnapshots", "", &atlastest.Fault{Status: 500})
				e.Refresh(b)
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
						e.engine.Locked(func() { worst = max(worst, time.Since(start)) })
						time.Sleep(100 * time.Microsecond)
					}
				}()
				b.StartTimer()
				e.engine.Refresh(b.Context())
				b.StopTimer()
				e.engine.WaitIdle(b.Context())
				close(stop)
				longest = max(longest, <-waited)
				if got := len(e.engine.Targets()); got != 0 {
					b.Fatalf("%d targets left", got)
				}
				e.srv.Close()
				e.client.Close()
			}
			b.ReportMetric(float64(longest.Microseconds())/1000, "max-lock-wait-ms")
		})
	}
}
