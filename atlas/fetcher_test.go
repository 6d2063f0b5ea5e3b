package atlas

import (
	"context"
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
	req := Request{Target: Target{pid, "dedicated-01", KindCloud, false}, Schedule: true, RestoreJobs: true, ExportJobs: true}
	NewFetcher(c).Fetch(ctx, []Request{req}, func(r Result) {
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
