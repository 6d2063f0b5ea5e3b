package atlas

import (
	"context"
	"fmt"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// ExportState is the state of a snapshot export job.
type ExportState string

// The export states (Atlas's Queued, InProgress, Successful, Failed, Cancelled). ExportUnknown
// stands for a value Atlas does not document.
const (
	ExportQueued     ExportState = "queued"
	ExportInProgress ExportState = "in_progress"
	ExportSuccessful ExportState = "successful"
	ExportFailed     ExportState = "failed"
	ExportCancelled  ExportState = "cancelled"
	ExportUnknown    ExportState = "unknown"
)

// ExportStates lists the documented states in a stable order.
var ExportStates = []ExportState{ExportQueued, ExportInProgress, ExportSuccessful, ExportFailed, ExportCancelled}

// HasExportJobs reports whether the exporter reads export jobs of k's clusters: Atlas exports
// Cloud Backup snapshots only.
func (k Kind) HasExportJobs() bool { return k == KindCloud }

// ExportJob is one export of a snapshot to the project's export bucket.
type ExportJob struct {
	ID         string
	State      ExportState
	RawState   string // as Atlas sent it, for logging unknown ones
	CreatedAt  time.Time
	FinishedAt time.Time // zero until it ends
}

// EndedAt is when the job ended: its finish time, or, for an ended job Atlas gives none for,
// its creation time. Zero while it runs.
func (j ExportJob) EndedAt() time.Time {
	switch {
	case !j.FinishedAt.IsZero():
		return j.FinishedAt
	case j.State == ExportSuccessful || j.State == ExportFailed || j.State == ExportCancelled:
		return j.CreatedAt
	}
	return time.Time{}
}

// DiskBackupExportJob.
type wireExportJob struct {
	ID         string    `json:"id"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"createdAt"`
	FinishedAt time.Time `json:"finishedAt"`
}

var exportStates = map[string]ExportState{
	"Queued": ExportQueued, "InProgress": ExportInProgress, "Successful": ExportSuccessful, "Failed": ExportFailed, "Cancelled": ExportCancelled,
}

func (w wireExportJob) normalise(time.Time) ExportJob {
	return ExportJob{ID: w.ID, State: lookup(exportStates, w.State, ExportUnknown), RawState: w.State, CreatedAt: w.CreatedAt, FinishedAt: w.FinishedAt}
}

// ExportJobs lists every snapshot export job of a Cloud Backup target.
func (c *Client) ExportJobs(ctx context.Context, t Target) ([]ExportJob, error) {
	if !t.Kind.HasExportJobs() {
		return nil, fmt.Errorf("atlas: %s clusters have no export jobs to read", t.Kind)
	}
	sc := scope{ProjectID: t.ProjectID, Cluster: t.Cluster}
	ws, err := list[wireExportJob](ctx, c, spec.ListGroupClusterBackupExports, sc, spec.ListGroupClusterBackupExports.Expand(t.ProjectID, t.Cluster), nil)
	return normaliseJobs(ws, err, c.now(), ExportJob.id)
}

func (j ExportJob) id() string { return j.ID }
