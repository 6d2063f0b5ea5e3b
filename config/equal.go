package config

import (
	"reflect"
	"slices"
)

// Equal reports whether p and o select the same targets the same way.
func (p Project) Equal(o Project) bool {
	return p.ID == o.ID && p.Name == o.Name && p.DiscoverAllProjects == o.DiscoverAllProjects && p.Credentials == o.Credentials &&
		p.ProjectInclude.source() == o.ProjectInclude.source() && p.ProjectExclude.source() == o.ProjectExclude.source() &&
		p.Include.source() == o.Include.source() && p.Exclude.source() == o.Exclude.source() &&
		slices.Equal(p.Clusters, o.Clusters) && slices.Equal(p.Kinds, o.Kinds) && slices.Equal(p.Snapshots, o.Snapshots)
}

// source is the expression as written, "" for none.
func (r *Regexp) source() string {
	if r == nil {
		return ""
	}
	return r.original
}

// SameConnection reports whether c and o reach Atlas the same way: the same TLS settings (and
// files' contents) and proxy.
func (c *Config) SameConnection(o *Config) bool {
	return reflect.DeepEqual(c.Atlas.Network, o.Atlas.Network)
}

// Equal reports whether c and o configure the exporter the same way, secrets (as resolved from
// their files or the environment) included.
func (c *Config) Equal(o *Config) bool {
	if c == nil || o == nil {
		return c == o
	}
	return reflect.DeepEqual(c.Atlas, o.Atlas) && reflect.DeepEqual(c.Credentials, o.Credentials) && c.MinRefreshInterval == o.MinRefreshInterval &&
		c.RefreshTimeout == o.RefreshTimeout && c.DiscoveryInterval == o.DiscoveryInterval &&
		c.SnapshotMetricsEnabled() == o.SnapshotMetricsEnabled() && c.BackupSchedulesEnabled() == o.BackupSchedulesEnabled() &&
		c.RestoreJobsEnabled() == o.RestoreJobsEnabled() && c.ExportJobsEnabled() == o.ExportJobsEnabled() &&
		c.CompliancePolicyEnabled() == o.CompliancePolicyEnabled() && c.JobsInterval == o.JobsInterval &&
		slices.EqualFunc(c.Projects, o.Projects, Project.Equal)
}
