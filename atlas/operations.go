package atlas

import (
	"fmt"
	"net/url"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// snapshotEndpoints are the operations that read each kind's snapshots.
var snapshotEndpoints = map[endpointKey]snapshotOps{
	{KindCloud, false}:      {list: spec.ListGroupClusterBackupSnapshots, get: spec.GetGroupClusterBackupSnapshot},
	{KindCloud, true}:       {list: spec.ListGroupClusterBackupSnapshotShardedClusters, get: spec.GetGroupClusterBackupSnapshotShardedCluster},
	{KindFlex, false}:       {list: spec.ListGroupFlexClusterBackupSnapshots, get: spec.GetGroupFlexClusterBackupSnapshot},
	{KindServerless, false}: {list: spec.ListGroupServerlessBackupSnapshots, get: spec.GetGroupServerlessBackupSnapshot},
	{KindTenant, false}:     {list: spec.ListGroupClusterBackupTenantSnapshots, get: spec.GetGroupClusterBackupTenantSnapshot},
	// Atlas lists only completed legacy snapshots unless asked for all.
	{KindLegacy, false}: {list: spec.ListGroupClusterSnapshots, get: spec.GetGroupClusterSnapshot, query: url.Values{"completed": {"all"}}},
}

// endpointKey picks a target's snapshot endpoints: its kind, and for Cloud Backup whether the
// cluster is sharded.
type endpointKey struct {
	kind    Kind
	sharded bool
}

// snapshotOps are the operations that list a target's snapshots and read one of them.
type snapshotOps struct {
	list, get spec.Operation
	query     url.Values
}

func opsFor(t Target) (snapshotOps, error) {
	t = NewTarget(t.ProjectID, t.Cluster, t.Kind, t.Sharded)
	ops, ok := snapshotEndpoints[endpointKey{t.Kind, t.Sharded}]
	if !ok {
		return snapshotOps{}, fmt.Errorf("atlas: unknown snapshot kind %q", t.Kind)
	}
	return ops, nil
}

// Operation describes one operation for documentation and tests: its name, version and path
// (a template: parameters in braces, as the API description writes them).
type Operation struct {
	Name, Version, Path string
	Paged               bool
}

// Operations lists every operation the client sends (the table of package spec), for the client's
// metrics and for tests that check it against the OpenAPI description and the documentation.
func Operations() []Operation {
	all := spec.All()
	out := make([]Operation, len(all))
	for i, o := range all {
		out[i] = Operation{Name: o.Name, Version: o.Version, Path: spec.Prefix + o.Path, Paged: o.Paged}
	}
	return out
}

// DiscoveredKinds are the kinds discovery finds clusters to be (Clusters): shared-tier and
// legacy snapshots are read only where an entry names the kind.
var DiscoveredKinds = []Kind{KindCloud, KindFlex, KindServerless}

// Reads says what a configuration reads of Atlas, which decides the operations its clients
// can send (OperationsFor).
type Reads struct {
	// Kinds are the snapshot kinds read: those entries name, else DiscoveredKinds.
	Kinds []Kind
	// SnapshotsByID: an entry names snapshots, read one by one.
	SnapshotsByID bool
	// ProjectListing: the projects listing is read (discover_all_projects, or a project named
	// by id, which the listing finds); ProjectsByName: a project is named by name.
	ProjectListing, ProjectsByName bool
	// Organizations: each project's organisation is read (named credential sets).
	Organizations bool
	// The reads turned on: backup schedules, restore jobs, export jobs, compliance policies.
	Schedules, RestoreJobs, ExportJobs, CompliancePolicy bool
}

// OperationsFor lists, in the table's order, the operations clients can send to read r: the
// cluster listings every refresh needs, those r asks for, and for every kind read, and every
// kind Atlas may answer replaces it, its snapshots and jobs. Token requests and digest
// challenges, which are not operations of the API, are not among them.
func OperationsFor(r Reads) []Operation {
	names := map[string]bool{}
	add := func(on bool, ops ...spec.Operation) {
		for _, o := range ops {
			names[o.Name] = names[o.Name] || on
		}
	}
	add(true, spec.ListGroupClusters, spec.ListGroupFlexClusters, spec.ListGroupServerlessInstances, spec.ListClusterDetails)
	add(r.ProjectListing, spec.ListGroups)
	add(r.ProjectsByName, spec.GetGroupByName)
	add(r.Organizations, spec.GetOrg)
	add(r.CompliancePolicy, spec.GetGroupBackupCompliancePolicy)
	kinds, seen := append([]Kind(nil), r.Kinds...), map[Kind]bool{}
	for len(kinds) > 0 {
		k := kinds[0]
		kinds = kinds[1:]
		if seen[k] {
			continue
		}
		seen[k] = true
		for key, ops := range snapshotEndpoints {
			if key.kind == k {
				add(true, ops.list)
				add(r.SnapshotsByID, ops.get)
			}
		}
		add(r.Schedules && k.HasSchedule(), spec.GetGroupClusterBackupSchedule)
		add(r.RestoreJobs && k == KindCloud, spec.ListGroupClusterBackupRestoreJobs)
		add(r.RestoreJobs && k == KindFlex, spec.ListGroupFlexClusterBackupRestoreJobs)
		add(r.ExportJobs && k.HasExportJobs(), spec.ListGroupClusterBackupExports)
		if next := LifecycleOf(k).Replacement; next != "" {
			kinds = append(kinds, next)
		}
	}
	var out []Operation
	for _, o := range Operations() {
		if names[o.Name] {
			out = append(out, o)
		}
	}
	return out
}
