package atlastest

import (
	"fmt"
	"net/http"
	"time"
)

// RestoreJob is one restore job of a cluster, rendered per kind.
type RestoreJob struct {
	ID string
	// DeliveryType is automated, download or pointInTime (Flex: automated is RESTORE, download
	// DOWNLOAD; Flex has no point-in-time restores).
	DeliveryType string
	// Status is inProgress, completed, failed, cancelled or expired. Flex renders expired as a
	// completed download whose link has expired, and has no cancelled jobs.
	Status     string
	SnapshotID string
	FinishedAt time.Time
	ExpiresAt  time.Time
}

// ExportJob is one export of a snapshot to the project's export bucket.
type ExportJob struct {
	ID         string
	State      string // Queued, InProgress, Successful, Failed, Cancelled
	SnapshotID string
	CreatedAt  time.Time
	FinishedAt time.Time
}

// CopySetting is a region a Cloud Backup policy copies snapshots to.
type CopySetting struct {
	CloudProvider, Region string
	// Frequencies are the frequencies copied (rendered as copyPolicyItems); nil copies the
	// newest snapshots whatever their frequency (lastNumberOfSnapshots).
	Frequencies []string
}

// CompliancePolicy is a project's Backup Compliance Policy.
type CompliancePolicy struct {
	State                                 string // ACTIVE, ENABLING, UPDATING, DISABLING
	PIT, CopyProtection, EncryptionAtRest bool
	RestoreWindowDays                     int
	// Items are the scheduled policy items (the minimums); OnDemand the on-demand one, or nil.
	Items    []PolicyItem
	OnDemand *PolicyItem
}

// addJobsAndPolicies gives a cluster what a backup owner looks at beyond its snapshots, the
// same for every seed:
//   - a dedicated replica set has continuous backup, copies every snapshot to AWS US_WEST_2 and
//     its hourly and daily ones to AWS EU_WEST_1 (kept there 7 days), which is behind (only the
//     snapshots from the third on were copied there); it keeps its monthly snapshots 30 days
//     beyond their retention (an extra retention setting); it exports automatically, the newest export failed two
//     hours ago after one succeeded 26 hours ago; its restores: a point-in-time restore
//     completed 30 hours ago, an automated one 50 hours ago, a download 72 hours ago that
//     expired since, and an automated one in progress;
//   - a sharded dedicated cluster copies its daily snapshots to AWS US_WEST_2 (kept 7 days) and has an
//     automated restore that failed 3 hours ago, a cancelled download and an automated restore
//     completed 200 hours ago;
//   - a Flex cluster has a restore completed 20 hours ago, a download completed 25 hours ago
//     whose link expired an hour ago, and a download running.
func addJobsAndPolicies(c *Cluster, p int, now time.Time, seq *uint64) {
	if c.Policy != nil {
		c.RestoreWindowDays = 2
	}
	snap := ""
	if len(c.Snapshots) > 0 {
		snap = c.Snapshots[0].ID
	}
	id := func(prefix string) string {
		*seq++
		return fmt.Sprintf("%s%06x%016x", prefix, p+1, *seq)
	}
	ago := func(h float64) time.Time { return now.Add(-time.Duration(h * float64(time.Hour))) }
	restore := func(typ, status string, finished time.Time) RestoreJob {
		j := RestoreJob{ID: id("6d"), DeliveryType: typ, Status: status, SnapshotID: snap, FinishedAt: finished}
		if typ == "download" && !finished.IsZero() {
			j.ExpiresAt = finished.Add(24 * time.Hour)
		}
		return j
	}
	export := func(state string, created, finished time.Time) ExportJob {
		return ExportJob{ID: id("6e"), State: state, SnapshotID: snap, CreatedAt: created, FinishedAt: finished}
	}
	switch {
	case c.Kind == Dedicated && !c.Sharded:
		c.PIT, c.AutoExport = true, true
		c.Copies = []CopySetting{{"AWS", "US_WEST_2", nil}, {"AWS", "EU_WEST_1", []string{"hourly", "daily"}}}
		c.ExtraRetention = []ExtraRetention{{"MONTHLY", 30}}
		for k := range c.Snapshots {
			if c.Snapshots[k].Status != "completed" {
				continue
			}
			c.Snapshots[k].CopyRegions = []string{"US_WEST_2"}
			if k >= 2 {
				c.Snapshots[k].CopyRegions = append(c.Snapshots[k].CopyRegions, "EU_WEST_1")
			}
		}
		c.RestoreJobs = []RestoreJob{
			restore("pointInTime", "completed", ago(30)), restore("automated", "completed", ago(50)),
			restore("download", "expired", ago(72)), restore("automated", "inProgress", time.Time{}),
		}
		c.ExportJobs = []ExportJob{
			export("Failed", ago(3), ago(2)), export("Successful", ago(27), ago(26)), export("Cancelled", ago(50), ago(49)),
			export("InProgress", ago(0.5), time.Time{}), export("Queued", ago(0.1), time.Time{}),
		}
	case c.Kind == Dedicated:
		c.Copies = []CopySetting{{"AWS", "US_WEST_2", []string{"daily"}}}
		c.RestoreJobs = []RestoreJob{
			restore("automated", "failed", ago(3)), restore("download", "cancelled", time.Time{}), restore("automated", "completed", ago(200)),
		}
	case c.Kind == Flex:
		c.RestoreJobs = []RestoreJob{
			restore("automated", "completed", ago(20)), restore("download", "expired", ago(25)), restore("download", "inProgress", time.Time{}),
		}
	}
}

// cloudRestoreJob renders a DiskBackupSnapshotRestoreJob.
func cloudRestoreJob(p *Project, c *Cluster, j RestoreJob) obj {
	o := obj{"id": j.ID, "deliveryType": j.DeliveryType, "snapshotId": j.SnapshotID, "cancelled": j.Status == "cancelled",
		"failed": j.Status == "failed", "expired": j.Status == "expired", "finishedAt": ts(j.FinishedAt), "expiresAt": ts(j.ExpiresAt),
		"links": []any{}}
	if j.DeliveryType == "download" {
		o["deliveryUrl"] = []any{"https://restore.example.invalid/" + j.ID + ".tar.gz"}
	} else {
		o["targetClusterName"], o["targetGroupId"] = c.Name, p.ID
	}
	return o
}

var flexRestoreStatus = map[string]string{"inProgress": "RUNNING", "completed": "COMPLETED", "failed": "FAILED", "expired": "COMPLETED"}

// flexRestoreJob renders a FlexBackupRestoreJob20241113.
func flexRestoreJob(p *Project, c *Cluster, j RestoreJob) obj {
	o := obj{"id": j.ID, "deliveryType": "RESTORE", "status": flexRestoreStatus[j.Status], "snapshotId": j.SnapshotID,
		"instanceName": c.Name, "projectId": p.ID, "restoreFinishedDate": ts(j.FinishedAt), "links": []any{}}
	if j.DeliveryType == "download" {
		o["deliveryType"], o["snapshotUrl"] = "DOWNLOAD", "https://restore.example.invalid/"+j.ID+".tar.gz"
		o["expirationDate"] = ts(j.ExpiresAt)
		if j.Status == "expired" {
			// Flex jobs have no expired flag: the link's expiration has passed.
			o["expirationDate"] = ts(j.FinishedAt.Add(24 * time.Hour))
		}
	} else {
		o["targetDeploymentItemName"], o["targetProjectId"] = c.Name, p.ID
	}
	return o
}

// exportJob renders a DiskBackupExportJob.
func exportJob(j ExportJob) obj {
	return obj{"id": j.ID, "exportBucketId": "6f0000000000000000000001", "snapshotId": j.SnapshotID, "state": j.State,
		"createdAt": ts(j.CreatedAt), "finishedAt": ts(j.FinishedAt), "links": []any{}}
}

// copySettings renders a schedule's DiskBackupCopySetting20240805 items.
func copySettings(c *Cluster) []any {
	out := []any{}
	for i, cs := range c.Copies {
		o := obj{"cloudProvider": cs.CloudProvider, "regionName": cs.Region, "zoneId": fmt.Sprintf("6c%022x", i+1), "shouldCopyOplogs": c.PIT}
		if cs.Frequencies == nil {
			o["lastNumberOfSnapshots"] = 10
		} else {
			items := []any{}
			for _, f := range cs.Frequencies {
				items = append(items, obj{"frequencyType": f, "retentionUnit": "days", "retentionValue": 7})
			}
			o["copyPolicyItems"] = items
		}
		out = append(out, o)
	}
	return out
}

// compliancePolicy renders a DataProtectionSettings20231001, or the empty object Atlas answers
// for a project without a policy.
func compliancePolicy(p *Project) obj {
	cp := p.Compliance
	if cp == nil {
		return obj{}
	}
	o := obj{"projectId": p.ID, "authorizedEmail": "backup-officer@example.com", "authorizedUserFirstName": "Backup",
		"authorizedUserLastName": "Officer", "state": cp.State, "pitEnabled": cp.PIT, "copyProtectionEnabled": cp.CopyProtection,
		"encryptionAtRestEnabled": cp.EncryptionAtRest, "restoreWindowDays": cp.RestoreWindowDays, "deletable": false,
		"scheduledPolicyItems": policyItems(cp.Items), "updatedDate": "2026-01-05T10:00:00Z", "updatedUser": "backup-officer@example.com"}
	if od := cp.OnDemand; od != nil {
		o["onDemandPolicyItem"] = obj{"id": "6d0000000000000000000001", "frequencyType": "ondemand", "frequencyInterval": 0,
			"retentionUnit": od.RetentionUnit, "retentionValue": od.RetentionValue}
	}
	return o
}

// jobsOf answers the restore-job, export-job and compliance operations; ok is false for
// others. s.mu is held.
func (s *Server) jobsOf(r *http.Request, rt routeInfo, p *Project, c *Cluster) (any, bool) {
	var items []any
	switch rt.op {
	case "listGroupClusterBackupRestoreJobs":
		for _, j := range c.RestoreJobs {
			items = append(items, cloudRestoreJob(p, c, j))
		}
	case "listGroupFlexClusterBackupRestoreJobs":
		for _, j := range c.RestoreJobs {
			items = append(items, flexRestoreJob(p, c, j))
		}
	case "listGroupClusterBackupExports":
		for _, j := range c.ExportJobs {
			items = append(items, exportJob(j))
		}
	default:
		return nil, false
	}
	return s.paginate(r, items, true), true
}
