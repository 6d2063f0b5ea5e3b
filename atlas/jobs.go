package atlas

import "context"

// JobKind is a listing of a target's jobs, read after its snapshots. Its value is the name the
// exporter gives it (in the configuration and the logs; the metrics label it family).
type JobKind string

// The job listings.
const (
	RestoreJobKind JobKind = "restore_jobs"
	ExportJobKind  JobKind = "export_jobs"
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

// JobsResult is what reading one job listing of a target brought, after its snapshots: exactly
// one of RestoreJobs and ExportJobs is set.
type JobsResult struct {
	Read   TargetRead
	Served Target // the target whose snapshots were read: Result.Served
	// RestoreJobs and ExportJobs are the jobs read, or the error reading them; a failure is the
	// listing's own, never the snapshots'.
	RestoreJobs *Jobs[RestoreJob]
	ExportJobs  *Jobs[ExportJob]
}

// jobReads returns the reads of the job listings res.Read asks for that the kind serving
// its snapshots has, once they are read, and marks them in res as following.
func (f *Fetcher) jobReads(ctx context.Context, res *Result) []func() JobsResult {
	if res.Err != nil {
		return nil
	}
	t, base := res.Served, JobsResult{Read: res.Read, Served: res.Served}
	// Behind the snapshots of every target for a slot, and within a share of them.
	ctx = asBackground(ctx)
	var reads []func() JobsResult
	if res.Read.RestoreJobs && t.Kind.HasRestoreJobs() {
		res.RestoreJobsFollow = true
		reads = append(reads, func() JobsResult {
			jobs, err := f.RestoreJobs(ctx, t)
			jr := base
			jr.RestoreJobs = &Jobs[RestoreJob]{jobs, err}
			return jr
		})
	}
	if res.Read.ExportJobs && t.Kind.HasExportJobs() {
		res.ExportJobsFollow = true
		reads = append(reads, func() JobsResult {
			jobs, err := f.ExportJobs(ctx, t)
			jr := base
			jr.ExportJobs = &Jobs[ExportJob]{jobs, err}
			return jr
		})
	}
	return reads
}
