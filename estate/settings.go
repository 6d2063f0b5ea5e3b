package estate

import (
	"context"
	"sync"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// Fetcher is what the engine needs from the atlas package (atlas.Fetcher).
type Fetcher interface {
	Projects(ctx context.Context) ([]atlas.Project, error)
	ProjectByName(ctx context.Context, name string) (atlas.Project, error)
	Clusters(ctx context.Context, projectID string) (atlas.ClusterList, error)
	ClusterNames(ctx context.Context) ([]atlas.ProjectClusters, error)
	CompliancePolicy(ctx context.Context, projectID string) (*atlas.CompliancePolicy, error)
	Organization(ctx context.Context, id string) (atlas.Organization, error)
	Schedule(ctx context.Context, t atlas.Target) (atlas.Schedule, error)
	Fetch(ctx context.Context, reads []atlas.TargetRead, deliver func(atlas.Result), deliverJobs func(atlas.JobsResult), jobs *sync.WaitGroup)
	RequestsSent() uint64
	Notices() []atlas.Notice
}

// Settings is the part of the configuration the engine uses.
type Settings struct {
	Projects           []config.Project
	MinRefreshInterval time.Duration
	RefreshTimeout     time.Duration
	// DiscoveryInterval is how often projects and clusters are rediscovered in full; 0 means on
	// every refresh.
	DiscoveryInterval time.Duration
	// SnapshotMetrics asks for per-snapshot series: the engine passes it on in the View.
	SnapshotMetrics bool
	BackupSchedules bool
	// Named says the configuration names credential sets: each project's organisation is read
	// and the View tells the sets apart (Credentials).
	Named bool
	// Shard is the part of the estate this replica reads (--shard, --total-shards).
	Shard Shard
	// StoragePath is the state file keeping the tamper baselines across restarts
	// (--storage.path, storage.go); "" keeps none. Read at start only.
	StoragePath string
	// RestoreJobs, ExportJobs and CompliancePolicy turn those reads on: restore and export
	// jobs at most once per JobsInterval per target, the policy with each discovery of its
	// project.
	RestoreJobs, ExportJobs, CompliancePolicy bool
	JobsInterval                              time.Duration
}

// SettingsFrom extracts Settings from a loaded configuration; the shard and the state file's
// path come from flags.
func SettingsFrom(c *config.Config) Settings {
	return Settings{
		Projects: c.Projects, MinRefreshInterval: c.MinRefreshInterval.D(),
		RefreshTimeout: c.RefreshTimeout.D(), DiscoveryInterval: c.DiscoveryInterval.D(),
		SnapshotMetrics: c.SnapshotMetricsEnabled(), BackupSchedules: c.BackupSchedulesEnabled(),
		RestoreJobs: c.RestoreJobsEnabled(), ExportJobs: c.ExportJobsEnabled(), CompliancePolicy: c.CompliancePolicyEnabled(),
		JobsInterval: c.JobsInterval.D(), Named: c.Named(),
	}
}

// sameSelection reports whether a and b select the same targets and read the same about them.
// The compliance policy is read with discovery, so turning it on rediscovers; jobs that turn on
// are due at the next refresh anyway.
func sameSelection(a, b Settings) bool {
	if a.BackupSchedules != b.BackupSchedules || a.CompliancePolicy != b.CompliancePolicy || a.Shard != b.Shard || len(a.Projects) != len(b.Projects) {
		return false
	}
	for i := range a.Projects {
		if !a.Projects[i].Equal(b.Projects[i]) {
			return false
		}
	}
	return true
}
