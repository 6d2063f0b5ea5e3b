package atlas

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// TestHangingJobListingDoesNotHoldBackSnapshots: a restore-job listing that never answers
// holds back neither the snapshots and schedule, which Fetch delivers and returns with, nor the
// export jobs; the hanging read ends with ctx, undelivered.
func TestHangingJobListingDoesNotHoldBackSnapshots(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("listGroupClusterBackupRestoreJobs", "dedicated-01", &atlastest.Fault{Hang: true})
	c, _ := newTestClient(t, srv, func(c *Config) { c.Timeout = time.Hour })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		mu      sync.Mutex
		results []Result
		exports = make(chan JobsResult, 1)
		restore = make(chan JobsResult, 1)
		jobs    sync.WaitGroup
	)
	req := TargetRead{Target: Target{pid, "dedicated-01", KindCloud, false}, Schedule: true, RestoreJobs: true, ExportJobs: true}
	NewFetcher(c).Fetch(ctx, []TargetRead{req}, func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}, func(j JobsResult) {
		if j.ExportJobs != nil {
			exports <- j
		} else {
			restore <- j
		}
	}, &jobs)
	// Fetch returned: the snapshots are delivered, whatever the jobs do.
	mu.Lock()
	if len(results) != 1 || results[0].Err != nil || len(results[0].Snapshots) != 3 || results[0].Schedule == nil ||
		!results[0].RestoreJobsFollow || !results[0].ExportJobsFollow {
		t.Errorf("delivered %+v, want the snapshots and schedule, with both job families to follow", results)
	}
	mu.Unlock()
	if j := <-exports; j.ExportJobs.Err != nil || len(j.ExportJobs.Jobs) != 5 || j.Served != req.Target {
		t.Errorf("export jobs: %+v", j)
	}
	cancel()
	jobs.Wait()
	select {
	case j := <-restore:
		t.Errorf("the hanging restore-job read was delivered after ctx ended: %+v", j)
	default:
	}
}

// BenchmarkFetcherChurn reads rounds of new targets whose endpoint is gone (each replaced by
// Flex) through one Fetcher and reports the heap the rounds after the first keep per target:
// about 0 for a fetcher that keeps nothing per target (the first round grows the runtime's
// goroutine and connection pools once).
//
//	go test ./atlas -run '^$' -bench FetcherChurn -benchtime 1x
func BenchmarkFetcherChurn(b *testing.B) {
	const round, rounds = 1500, 4
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 1, ClustersPerProject: round * rounds, SnapshotsPerCluster: 1,
		Kinds: []atlastest.ClusterKind{atlastest.Tenant}, Now: testNow})
	srv := atlastest.NewServer(atlastest.Options{Estate: est, ClientID: testClientID, ClientSecret: testSecret,
		Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}})
	defer srv.Close()
	// A generous limiter: the rounds are not about Atlas's rate limits.
	c, err := New(Config{BaseURL: srv.URL, ServiceAccount: &ServiceAccount{testClientID, testSecret}, RateLimitFactor: 20})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	f := NewFetcher(c)
	heap := func() int64 {
		srv.Reset() // the fake's request log
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	for b.Loop() {
		var after []int64
		for r := range rounds {
			var reqs []TargetRead
			for _, cl := range est.Projects[0].Clusters[r*round : (r+1)*round] {
				reqs = append(reqs, TargetRead{Target: Target{ProjectID: est.Projects[0].ID, Cluster: cl.Name, Kind: KindTenant}})
			}
			ctx, cancel := context.WithCancel(b.Context())
			f.Fetch(ctx, reqs, func(res Result) {
				if res.Err != nil || res.Served.Kind != KindFlex {
					b.Error(res.Err)
				}
			}, nil, nil)
			cancel()
			after = append(after, heap())
		}
		b.ReportMetric(float64(after[rounds-1]-after[0])/float64(round*(rounds-1)), "retained-B/target")
	}
}
