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
