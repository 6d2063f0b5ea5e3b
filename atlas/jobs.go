package atlas

import (
	"context"
	"sync"
)

// Jobs is what one read of a target's restore or export jobs brought.
type Jobs[J any] struct {
	Jobs []J
	Err  error
}

// RestoreJobs implements API.
func (f *Fetcher) RestoreJobs(ctx context.Context, t Target) ([]RestoreJob, error) {
	return do(f, targetKey("restoreJobs", t), func() ([]RestoreJob, error) { return f.client().RestoreJobs(ctx, t) })
}

// ExportJobs implements API.
func (f *Fetcher) ExportJobs(ctx context.Context, t Target) ([]ExportJob, error) {
	return do(f, targetKey("exportJobs", t), func() ([]ExportJob, error) { return f.client().ExportJobs(ctx, t) })
}

// CompliancePolicy implements API.
func (f *Fetcher) CompliancePolicy(ctx context.Context, projectID string) (*CompliancePolicy, error) {
	return do(f, "compliancePolicy\x00"+projectID, func() (*CompliancePolicy, error) { return f.client().CompliancePolicy(ctx, projectID) })
}

// readJobs reads the jobs res.Request asks for, both at once, once its snapshots are read and
// the kind that serves them is known; a failure is the family's own, never the snapshots'.
func (f *Fetcher) readJobs(ctx context.Context, res *Result) {
	if res.Err != nil {
		return
	}
	t := res.Served
	var wg sync.WaitGroup
	if res.Request.RestoreJobs && t.Kind.HasRestoreJobs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, err := f.RestoreJobs(ctx, t)
			res.RestoreJobs = &Jobs[RestoreJob]{jobs, err}
		}()
	}
	if res.Request.ExportJobs && t.Kind.HasExportJobs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, err := f.ExportJobs(ctx, t)
			res.ExportJobs = &Jobs[ExportJob]{jobs, err}
		}()
	}
	wg.Wait()
}
