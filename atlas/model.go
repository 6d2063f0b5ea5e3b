// Package atlas is a client for the backup-snapshot and discovery endpoints of the MongoDB Atlas
// Administration API (v2). It knows nothing of Prometheus: it returns normalised snapshots and
// typed errors, and reports each HTTP request through the Observer interface.
package atlas

import (
	"strings"
	"time"
)

// Kind is the set of snapshot endpoints a cluster's backups are read from.
type Kind string

// The snapshot kinds, matching the exporter's `kind` label.
const (
	KindCloud      Kind = "cloud"      // Cloud Backup (dedicated clusters, replica set or sharded)
	KindFlex       Kind = "flex"       // Flex clusters (including migrated M2/M5 and serverless)
	KindServerless Kind = "serverless" // serverless instances (sunset 2026-01-22)
	KindTenant     Kind = "tenant"     // shared-tier M2/M5 (sunset 2026-01-22)
	KindLegacy     Kind = "legacy"     // legacy backup (deprecated, no sunset date)
)

// Kinds lists every kind in a stable order.
var Kinds = []Kind{KindCloud, KindFlex, KindServerless, KindTenant, KindLegacy}

// ParseKind returns the Kind named s, or false.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Lifecycle says whether Atlas has deprecated a kind's endpoints, when they sunset, and what
// replaces them.
type Lifecycle struct {
	Deprecated  bool
	Sunset      time.Time // when Atlas removes the endpoints; zero when no date is announced
	Replacement Kind      // kind to read instead once the endpoint is gone, or ""
}

// lifecycles holds the deprecation facts of the OpenAPI description (x-sunset markers of
// 2026-08-21); only kinds listed here are deprecated.
var lifecycles = map[Kind]Lifecycle{
	KindServerless: {Deprecated: true, Sunset: time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC), Replacement: KindFlex},
	KindTenant:     {Deprecated: true, Sunset: time.Date(2026, 1, 22, 0, 0, 0, 0, time.UTC), Replacement: KindFlex},
	KindLegacy:     {Deprecated: true, Replacement: KindCloud},
}

// LifecycleOf returns the deprecation status of k's snapshot endpoints as known when the
// exporter was built; EndpointLifecycle adds what Atlas's answers said since.
func LifecycleOf(k Kind) Lifecycle { return lifecycles[k] }

// Status is a snapshot status normalised across kinds.
type Status string

// The normalised statuses. StatusUnknown stands for a value Atlas sent that no kind documents.
const (
	StatusQueued     Status = "queued"
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusFailed     Status = "failed"
	StatusUnknown    Status = "unknown"
)

// Statuses lists the documented statuses in a stable order.
var Statuses = []Status{StatusQueued, StatusInProgress, StatusCompleted, StatusFailed}

// normaliseStatus maps Cloud Backup / serverless (queued, inProgress, completed, failed) and
// Flex / tenant (PENDING, QUEUED, RUNNING, FAILED, COMPLETED) values onto Status.
func normaliseStatus(s string) Status {
	switch strings.ToLower(s) {
	case "queued", "pending":
		return StatusQueued
	case "inprogress", "running":
		return StatusInProgress
	case "completed":
		return StatusCompleted
	case "failed":
		return StatusFailed
	}
	return StatusUnknown
}

// Snapshot is one backup snapshot of any kind. Zero times mean Atlas did not give that time.
type Snapshot struct {
	ID     string
	Status Status
	// RawStatus is the status exactly as Atlas sent it, for logging unknown values.
	RawStatus string

	CreatedAt time.Time // when the snapshot was taken (the point in time it restores to)
	ExpiresAt time.Time

	// SizeBytes is the storage the snapshot takes (legacy: its parts summed, saturating at
	// math.MaxInt64); HasSize says whether Atlas gave it.
	SizeBytes int64
	HasSize   bool
	// InvalidSize is a negative size Atlas gave (legacy: of a part), which no snapshot can take:
	// the snapshot then has no size. 0 when Atlas gave none.
	InvalidSize int64

	Type           string // scheduled, onDemand, fallback ("" where the kind has none)
	Frequency      string // hourly, daily, weekly, monthly, yearly ("" where the kind has none)
	MongoDBVersion string
	// CopyRegions are the regions Atlas copied the snapshot to (Cloud Backup replica sets only:
	// Atlas's sharded listing does not say).
	CopyRegions []string
}

// Project is an Atlas project (group).
type Project struct {
	ID   string
	Name string
	// OrgID is the organisation the project belongs to; "" where the answer did not say.
	OrgID string
}

// Cluster is a deployment found by discovery, classified into the snapshot kind that serves its
// backups.
type Cluster struct {
	ProjectID string
	Name      string
	Kind      Kind // "" when the cluster has no backups to read (M0, backup disabled)
	Sharded   bool // cloud kind: read the sharded-cluster endpoints

	Type           string // REPLICASET, SHARDED, GEOSHARDED, or FLEX/SERVERLESS/TENANT for those
	Tier           string // M10..., M0, FLEX, SERVERLESS
	State          string // IDLE, CREATING, ...
	Paused         bool
	BackupEnabled  bool
	MongoDBVersion string
	PITEnabled     bool // continuous Cloud Backup (point-in-time restores) is on
}

// Target is one (project, cluster, kind) whose snapshots the exporter reads.
type Target struct {
	ProjectID string
	Cluster   string
	Kind      Kind
	Sharded   bool
}

// Schedule is a Cloud Backup cluster's backup policy (DiskBackupSnapshotSchedule20240805).
type Schedule struct {
	// NextSnapshot is when Atlas plans the next scheduled snapshot; zero when it gave none.
	NextSnapshot time.Time
	Items        []PolicyItem
	// ExtraRetention are the extra retention settings, in the order Atlas gives them.
	ExtraRetention []ExtraRetention
	// Copies are the other regions the policy copies snapshots to.
	Copies []CopyRegion
	// RestoreWindowDays is how far back a point-in-time restore reaches; Atlas gives it whether
	// or not continuous backup is on (Cluster.PITEnabled says).
	RestoreWindowDays int
	AutoExport        bool // Atlas exports snapshots to the project's export bucket on its own
}

// PolicyItem is one item of a backup policy: how often Atlas snapshots and how long it keeps them.
type PolicyItem struct {
	Frequency      string // hourly, daily, weekly, monthly, yearly, ondemand
	Interval       int    // hours for hourly items; the day, weekday or month for the others
	RetentionUnit  string // days, weeks, months, years
	RetentionValue int
}

// Period is the longest time the item lets pass between two of its snapshots, or 0 when the
// item schedules none (ondemand) or is not understood. Months and years are taken at their
// longest, so that a threshold built on it never fires early.
func (p PolicyItem) Period() time.Duration {
	const day = 24 * time.Hour
	switch p.Frequency {
	case "hourly":
		if p.Interval >= 1 && p.Interval <= 24 {
			return time.Duration(p.Interval) * time.Hour
		}
	case "daily":
		return day
	case "weekly":
		return 7 * day
	case "monthly":
		return 31 * day
	case "yearly":
		return 366 * day
	}
	return 0
}

// Interval is the longest time the policy lets pass between two scheduled snapshots: the period
// of its most frequent item. It is false when the policy schedules no snapshot.
func (s Schedule) Interval() (time.Duration, bool) {
	var shortest time.Duration
	for _, it := range s.Items {
		if d := it.Period(); d > 0 && (shortest == 0 || d < shortest) {
			shortest = d
		}
	}
	return shortest, shortest > 0
}
