package atlas

import (
	"slices"
	"testing"
)

func opNames(ops []Operation) []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.Name)
	}
	return out
}

// TestOperationsFor: what a configuration reads decides the operations it can send: the cluster
// listings always, the rest as asked, and a kind's replacements with it.
func TestOperationsFor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reads Reads
		want  []string
	}{
		{"cloud by id, nothing else", Reads{Kinds: []Kind{KindCloud}, ProjectListing: true}, []string{
			"listGroups", "listGroupClusters", "listClusterDetails", "listGroupFlexClusters", "listGroupServerlessInstances",
			"listGroupClusterBackupSnapshots", "listGroupClusterBackupSnapshotShardedClusters"}},
		{"tenant by name, by snapshot id, with restore jobs: Flex replaces tenant", Reads{Kinds: []Kind{KindTenant}, ProjectsByName: true, SnapshotsByID: true, RestoreJobs: true, ExportJobs: true, Schedules: true}, []string{
			"getGroupByName", "listGroupClusters", "listClusterDetails", "listGroupFlexClusters", "listGroupServerlessInstances",
			"listGroupFlexClusterBackupRestoreJobs",
			"listGroupFlexClusterBackupSnapshots", "getGroupFlexClusterBackupSnapshot",
			"listGroupClusterBackupTenantSnapshots", "getGroupClusterBackupTenantSnapshot"}},
		{"legacy, with organisations and compliance: Cloud Backup replaces legacy", Reads{Kinds: []Kind{KindLegacy}, ProjectListing: true, Organizations: true, CompliancePolicy: true, Schedules: true}, []string{
			"listGroups", "listGroupClusters", "listClusterDetails", "listGroupFlexClusters", "listGroupServerlessInstances",
			"getGroupClusterBackupSchedule", "getGroupBackupCompliancePolicy", "getOrg",
			"listGroupClusterBackupSnapshots", "listGroupClusterBackupSnapshotShardedClusters", "listGroupClusterSnapshots"}},
	} {
		if got := opNames(OperationsFor(tc.reads)); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
	all := Reads{Kinds: Kinds, SnapshotsByID: true, ProjectListing: true, ProjectsByName: true, Organizations: true,
		Schedules: true, RestoreJobs: true, ExportJobs: true, CompliancePolicy: true}
	if got, want := opNames(OperationsFor(all)), opNames(Operations()); !slices.Equal(got, want) {
		t.Errorf("reading everything:\n got %q\nwant every operation %q", got, want)
	}
}
