package atlas

import (
	"context"
	"fmt"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// RestoreStatus is the state of a restore job, derived the same way for every kind.
type RestoreStatus string

// The restore statuses. RestoreUnknown stands for a Flex status no version documents.
const (
	RestoreInProgress RestoreStatus = "in_progress"
	RestoreCompleted  RestoreStatus = "completed"
	RestoreFailed     RestoreStatus = "failed"
	RestoreCancelled  RestoreStatus = "cancelled"
	RestoreExpired    RestoreStatus = "expired"
	RestoreUnknown    RestoreStatus = "unknown"
)

// RestoreStatuses lists the documented statuses in a stable order.
var RestoreStatuses = []RestoreStatus{RestoreInProgress, RestoreCompleted, RestoreFailed, RestoreCancelled, RestoreExpired}

// The delivery types of restore jobs, normalised across kinds.
const (
	DeliveryAutomated   = "automated"     // restored into a cluster (Flex: RESTORE)
	DeliveryDownload    = "download"      // snapshot files to download (Flex: DOWNLOAD)
	DeliveryPointInTime = "point_in_time" // restored into a cluster at a point in time (Cloud Backup only)
	DeliveryUnknown     = "unknown"
)

// DeliveryTypes lists the delivery types of k's restore jobs; none for kinds without restore
// jobs to read.
func (k Kind) DeliveryTypes() []string {
	switch k {
	case KindCloud:
		return []string{DeliveryAutomated, DeliveryDownload, DeliveryPointInTime}
	case KindFlex:
		return []string{DeliveryAutomated, DeliveryDownload}
	}
	return nil
}

// HasRestoreJobs reports whether the exporter reads restore jobs of k's clusters.
func (k Kind) HasRestoreJobs() bool { return len(k.DeliveryTypes()) > 0 }

// RestoreJob is one restore job of any kind.
type RestoreJob struct {
	ID           string
	DeliveryType string
	Status       RestoreStatus
	RawStatus    string    // Flex: the status as Atlas sent it, for logging unknown ones
	FinishedAt   time.Time // zero when Atlas gives none
}

// Succeeded reports whether the job restored its snapshot: it completed, or completed and has
// expired since (a download whose link lapsed). Only such a job with a finish time proves a
// restore.
func (j RestoreJob) Succeeded() bool {
	return (j.Status == RestoreCompleted || j.Status == RestoreExpired) && !j.FinishedAt.IsZero()
}

// DiskBackupSnapshotRestoreJob.
type wireCloudRestoreJob struct {
	ID           string    `json:"id"`
	DeliveryType string    `json:"deliveryType"`
	Cancelled    bool      `json:"cancelled"`
	Failed       bool      `json:"failed"`
	Expired      bool      `json:"expired"`
	FinishedAt   time.Time `json:"finishedAt"`
}

// FlexBackupRestoreJob20241113.
type wireFlexRestoreJob struct {
	ID                  string    `json:"id"`
	DeliveryType        string    `json:"deliveryType"`
	Status              string    `json:"status"`
	RestoreFinishedDate time.Time `json:"restoreFinishedDate"`
	ExpirationDate      time.Time `json:"expirationDate"`
}

// Atlas's delivery types per kind.
var (
	cloudDeliveryTypes = map[string]string{"automated": DeliveryAutomated, "download": DeliveryDownload, "pointInTime": DeliveryPointInTime}
	flexDeliveryTypes  = map[string]string{"RESTORE": DeliveryAutomated, "DOWNLOAD": DeliveryDownload}
)

// lookup returns m[k], or unknown when m lacks k.
func lookup[V any](m map[string]V, k string, unknown V) V {
	if v, ok := m[k]; ok {
		return v
	}
	return unknown
}

// normalise derives a Cloud Backup job's status from its flags, the first that is set in the
// order cancelled, failed, expired, and otherwise from whether it has finished.
func (w wireCloudRestoreJob) normalise(time.Time) RestoreJob {
	j := RestoreJob{ID: w.ID, DeliveryType: lookup(cloudDeliveryTypes, w.DeliveryType, DeliveryUnknown), FinishedAt: w.FinishedAt}
	switch {
	case w.Cancelled:
		j.Status = RestoreCancelled
	case w.Failed:
		j.Status = RestoreFailed
	case w.Expired:
		j.Status = RestoreExpired
	case !w.FinishedAt.IsZero():
		j.Status = RestoreCompleted
	default:
		j.Status = RestoreInProgress
	}
	return j
}

// normalise maps a Flex job's status: PENDING, QUEUED and RUNNING are in progress; a completed
// download whose link has expired by now is expired (Flex jobs have no expired flag).
func (w wireFlexRestoreJob) normalise(now time.Time) RestoreJob {
	j := RestoreJob{ID: w.ID, DeliveryType: lookup(flexDeliveryTypes, w.DeliveryType, DeliveryUnknown), RawStatus: w.Status, FinishedAt: w.RestoreFinishedDate}
	switch w.Status {
	case "PENDING", "QUEUED", "RUNNING":
		j.Status = RestoreInProgress
	case "FAILED":
		j.Status = RestoreFailed
	case "COMPLETED":
		j.Status = RestoreCompleted
		if j.DeliveryType == DeliveryDownload && !w.ExpirationDate.IsZero() && !now.Before(w.ExpirationDate) {
			j.Status = RestoreExpired
		}
	default:
		j.Status = RestoreUnknown
	}
	return j
}

// RestoreJobs lists every restore job of a Cloud Backup or Flex target.
func (c *Client) RestoreJobs(ctx context.Context, t Target) ([]RestoreJob, error) {
	sc := scope{ProjectID: t.ProjectID, Cluster: t.Cluster}
	now := c.now()
	switch t.Kind {
	case KindCloud:
		ws, err := list[wireCloudRestoreJob](ctx, c, spec.ListGroupClusterBackupRestoreJobs, sc, spec.ListGroupClusterBackupRestoreJobs.Expand(t.ProjectID, t.Cluster), nil)
		return normaliseJobs(ws, err, now, RestoreJob.id)
	case KindFlex:
		ws, err := list[wireFlexRestoreJob](ctx, c, spec.ListGroupFlexClusterBackupRestoreJobs, sc, spec.ListGroupFlexClusterBackupRestoreJobs.Expand(t.ProjectID, t.Cluster), nil)
		return normaliseJobs(ws, err, now, RestoreJob.id)
	}
	return nil, fmt.Errorf("atlas: %s clusters have no restore jobs to read", t.Kind)
}

func (j RestoreJob) id() string { return j.ID }

// jobNormaliser is a job listing's wire type.
type jobNormaliser[J any] interface {
	normalise(now time.Time) J
}

// normaliseJobs turns a listing into jobs, keeping the first of two with one id (as snapshots).
func normaliseJobs[W jobNormaliser[J], J any](ws []W, err error, now time.Time, id func(J) string) ([]J, error) {
	if err != nil {
		return nil, err
	}
	out := make([]J, 0, len(ws))
	seen := make(map[string]bool, len(ws))
	for _, w := range ws {
		j := w.normalise(now)
		if !seen[id(j)] {
			seen[id(j)] = true
			out = append(out, j)
		}
	}
	return out, nil
}
