package rig

import (
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Two organisations: the default one, billing, whose service account is the rig's (id), and
// eu-unit, with a service account of its own that lacks the Organization Member role.
var (
	OrgA = atlastest.DefaultOrgID
	OrgB = atlastest.OrgID(1)
	// EU is eu-unit's service account.
	EU = atlas.ServiceAccount{ClientID: "eu", ClientSecret: "eu-secret"}
)

// TwoOrgs is a fake of the two organisations holding projects projects of clusters clusters
// each (Cloud Backup and Flex in turn, two snapshots each), dealt out in turn: billing holds
// project-001, project-003, ..., eu-unit project-002, project-004, ...
func TwoOrgs(projects, clusters int) atlastest.Options {
	return atlastest.Options{
		Estate: atlastest.Generate(atlastest.Spec{Seed: 1, Projects: projects, ClustersPerProject: clusters, SnapshotsPerCluster: 2, Now: Now,
			Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex}, Orgs: 2}),
		OrgName: "billing",
		Orgs:    []atlastest.Org{{ID: OrgB, Name: "eu-unit", ClientID: EU.ClientID, ClientSecret: EU.ClientSecret, NotMember: true}},
	}
}

// TwoSets are the default settings reading every project each organisation's credentials see
// with a set of their own: billing (the rig's service account) first, then eu-unit.
func TwoSets() estate.Settings {
	s := DefaultSettings()
	s.Named, s.MinRefreshInterval, s.RefreshTimeout = true, time.Minute, 10*time.Second
	s.Projects = []config.Project{{DiscoverAllProjects: true, Credentials: "billing"}, {DiscoverAllProjects: true, Credentials: "eu-unit"}}
	return s
}

// TwoSetsCreds are the credentials of TwoSets' sets: billing's is the rig's service account.
func TwoSetsCreds() map[string]atlas.Config {
	return map[string]atlas.Config{"eu-unit": {ServiceAccount: &EU}}
}
