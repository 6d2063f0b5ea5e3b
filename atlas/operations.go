package atlas

import (
	"fmt"
	"net/url"
)

// endpointSet is an Atlas rate-limit endpoint set: Atlas keeps one token bucket per set and
// project (or per user for the project listings); see
// https://www.mongodb.com/docs/atlas/api/api-rate-limit/.
type endpointSet string

const (
	setProjects          endpointSet = "projects"
	setClusters          endpointSet = "clusters"
	setClusterDetails    endpointSet = "cluster_details"
	setFlexClusters      endpointSet = "flex_clusters"
	setServerless        endpointSet = "serverless_instances"
	setCloudBackups      endpointSet = "cloud_backups"
	setFlexSnapshots     endpointSet = "flex_snapshots"
	setSharedSnapshots   endpointSet = "shared_tier_snapshots"
	setServerlessBackups endpointSet = "serverless_backups"
	setLegacyBackup      endpointSet = "legacy_backup"
)

// operation is one Atlas API operation as the OpenAPI description defines it.
type operation struct {
	Name    string // operationId, used in errors and metrics
	Version string // resource version sent in the Accept header
	Set     endpointSet
	Paged   bool // accepts itemsPerPage/pageNum/includeCount
}

func (o operation) accept() string { return "application/vnd.atlas." + o.Version + "+json" }

var (
	opListGroups      = operation{"listGroups", "2023-01-01", setProjects, true}
	opGetGroupByName  = operation{"getGroupByName", "2023-01-01", setProjects, false}
	opListClusters    = operation{"listGroupClusters", "2024-08-05", setClusters, true}
	opListFlex        = operation{"listGroupFlexClusters", "2024-11-13", setFlexClusters, true}
	opListServerless  = operation{"listGroupServerlessInstances", "2023-01-01", setServerless, true}
	opGetSchedule     = operation{"getGroupClusterBackupSchedule", "2024-08-05", setCloudBackups, false}
	opOAuthToken      = operation{Name: "oauthToken"}
	snapshotEndpoints = map[snapshotFamily]snapshotOps{
		{KindCloud, false}: {
			list: operation{"listGroupClusterBackupSnapshots", "2023-01-01", setCloudBackups, true},
			get:  operation{"getGroupClusterBackupSnapshot", "2023-01-01", setCloudBackups, false},
			path: "/groups/%s/clusters/%s/backup/snapshots", getPath: "/groups/%s/clusters/%s/backup/snapshots/%s",
		},
		{KindCloud, true}: {
			list: operation{"listGroupClusterBackupSnapshotShardedClusters", "2023-01-01", setCloudBackups, false},
			get:  operation{"getGroupClusterBackupSnapshotShardedCluster", "2023-01-01", setCloudBackups, false},
			path: "/groups/%s/clusters/%s/backup/snapshots/shardedClusters", getPath: "/groups/%s/clusters/%s/backup/snapshots/shardedCluster/%s",
		},
		{KindFlex, false}: {
			list: operation{"listGroupFlexClusterBackupSnapshots", "2024-11-13", setFlexSnapshots, true},
			get:  operation{"getGroupFlexClusterBackupSnapshot", "2024-11-13", setFlexSnapshots, false},
			path: "/groups/%s/flexClusters/%s/backup/snapshots", getPath: "/groups/%s/flexClusters/%s/backup/snapshots/%s",
		},
		{KindServerless, false}: {
			list: operation{"listGroupServerlessBackupSnapshots", "2023-01-01", setServerlessBackups, true},
			get:  operation{"getGroupServerlessBackupSnapshot", "2023-01-01", setServerlessBackups, false},
			path: "/groups/%s/serverless/%s/backup/snapshots", getPath: "/groups/%s/serverless/%s/backup/snapshots/%s",
		},
		{KindTenant, false}: {
			list: operation{"listGroupClusterBackupTenantSnapshots", "2023-01-01", setSharedSnapshots, false},
			get:  operation{"getGroupClusterBackupTenantSnapshot", "2023-01-01", setSharedSnapshots, false},
			path: "/groups/%s/clusters/%s/backup/tenant/snapshots", getPath: "/groups/%s/clusters/%s/backup/tenant/snapshots/%s",
		},
		{KindLegacy, false}: {
			list: operation{"listGroupClusterSnapshots", "2023-01-01", setLegacyBackup, true},
			get:  operation{"getGroupClusterSnapshot", "2023-01-01", setLegacyBackup, false},
			path: "/groups/%s/clusters/%s/snapshots", getPath: "/groups/%s/clusters/%s/snapshots/%s",
			// Atlas lists only completed legacy snapshots unless asked for all.
			query: url.Values{"completed": {"all"}},
		},
	}
)

// opListClusterDetails lists every project's clusters in one call; Atlas counts it per user.
var opListClusterDetails = operation{"listClusterDetails", "2023-01-01", setClusterDetails, true}

type snapshotFamily struct {
	kind    Kind
	sharded bool
}

type snapshotOps struct {
	list, get     operation
	path, getPath string
	query         url.Values
}

func opsFor(t Target) (snapshotOps, error) {
	t = NewTarget(t.ProjectID, t.Cluster, t.Kind, t.Sharded)
	ops, ok := snapshotEndpoints[snapshotFamily{t.Kind, t.Sharded}]
	if !ok {
		return snapshotOps{}, fmt.Errorf("atlas: unknown snapshot kind %q", t.Kind)
	}
	return ops, nil
}

func schedulePath(projectID, cluster string) string {
	return "/groups/" + projectID + "/clusters/" + cluster + "/backup/schedule"
}

// apiPrefix is where every v2 path starts.
const apiPrefix = "/api/atlas/v2"

func esc(s string) string { return url.PathEscape(s) }

// Operation describes one operation for documentation and tests: its name, version and path.
type Operation struct {
	Name, Version, Path string
	Paged               bool
}

// Operations lists every operation the client sends, for the README and for tests that check it
// against the OpenAPI description.
func Operations() []Operation {
	out := []Operation{
		{opListGroups.Name, opListGroups.Version, apiPrefix + "/groups", true},
		{opGetGroupByName.Name, opGetGroupByName.Version, apiPrefix + "/groups/byName/{groupName}", false},
		{opListClusters.Name, opListClusters.Version, apiPrefix + "/groups/{groupId}/clusters", true},
		{opListClusterDetails.Name, opListClusterDetails.Version, apiPrefix + "/clusters", true},
		{opListFlex.Name, opListFlex.Version, apiPrefix + "/groups/{groupId}/flexClusters", true},
		{opListServerless.Name, opListServerless.Version, apiPrefix + "/groups/{groupId}/serverless", true},
		{opGetSchedule.Name, opGetSchedule.Version, apiPrefix + schedulePath("{groupId}", "{clusterName}"), false},
		{opListRestoreJobs.Name, opListRestoreJobs.Version, apiPrefix + fmt.Sprintf(restoreJobsPath, "{groupId}", "{clusterName}"), opListRestoreJobs.Paged},
		{opListFlexRestoreJobs.Name, opListFlexRestoreJobs.Version, apiPrefix + fmt.Sprintf(flexRestoreJobsPath, "{groupId}", "{name}"), opListFlexRestoreJobs.Paged},
		{opListExports.Name, opListExports.Version, apiPrefix + fmt.Sprintf(exportsPath, "{groupId}", "{clusterName}"), opListExports.Paged},
		{opGetCompliancePolicy.Name, opGetCompliancePolicy.Version, apiPrefix + compliancePolicyPath("{groupId}"), opGetCompliancePolicy.Paged},
	}
	for _, k := range Kinds {
		for _, sharded := range []bool{false, true} {
			ops, ok := snapshotEndpoints[snapshotFamily{k, sharded}]
			if !ok {
				continue
			}
			name := "{clusterName}"
			if k == KindFlex {
				name = "{name}"
			}
			out = append(out,
				Operation{ops.list.Name, ops.list.Version, apiPrefix + fmt.Sprintf(ops.path, "{groupId}", name), ops.list.Paged},
				Operation{ops.get.Name, ops.get.Version, apiPrefix + fmt.Sprintf(ops.getPath, "{groupId}", name, "{snapshotId}"), false})
		}
	}
	return out
}
