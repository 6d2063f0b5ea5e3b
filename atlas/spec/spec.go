// Package spec is the table of the Atlas Administration API operations the exporter sends, as
// Atlas's OpenAPI description defines them: name, resource version, rate-limit endpoint set,
// paging and path. It is the one list the client (package atlas) reads its calls from and the
// fake Atlas (package atlastest) its routes; a leaf of both, since the client's tests use the
// fake.
package spec

import (
	"net/url"
	"strings"
)

// Set is an Atlas rate-limit endpoint set: Atlas keeps one token bucket per set and project (or
// per user for the project listings); see https://www.mongodb.com/docs/atlas/api/api-rate-limit/.
type Set string

// The endpoint sets of the operations below.
const (
	SetProjects          Set = "projects"
	SetClusters          Set = "clusters"
	SetClusterDetails    Set = "cluster_details"
	SetFlexClusters      Set = "flex_clusters"
	SetServerless        Set = "serverless_instances"
	SetCloudBackups      Set = "cloud_backups"
	SetFlexSnapshots     Set = "flex_snapshots"
	SetSharedSnapshots   Set = "shared_tier_snapshots"
	SetServerlessBackups Set = "serverless_backups"
	SetLegacyBackup      Set = "legacy_backup"
	SetOrganizations     Set = "organizations"
)

// Operation is one operation of the API.
type Operation struct {
	Name    string // operationId, used in errors and metrics
	Version string // resource version sent in the Accept header
	Set     Set
	Paged   bool // accepts itemsPerPage/pageNum/includeCount
	// Path is the path below Prefix, its parameters named in braces as the description names
	// them ({groupId}, {clusterName}, ...).
	Path string
}

// Prefix is where every path of the API starts.
const Prefix = "/api/atlas/v2"

// Accept is the Accept header that asks for o's version.
func (o Operation) Accept() string { return "application/vnd.atlas." + o.Version + "+json" }

// Expand is o's path with its parameters filled in order from args, each escaped.
func (o Operation) Expand(args ...string) string {
	var b strings.Builder
	rest := o.Path
	for _, a := range args {
		open, end := strings.IndexByte(rest, '{'), strings.IndexByte(rest, '}')
		if open < 0 || end < open {
			break
		}
		b.WriteString(rest[:open])
		b.WriteString(url.PathEscape(a))
		rest = rest[end+1:]
	}
	b.WriteString(rest)
	return b.String()
}

var all []Operation

// declare adds an operation to the table.
func declare(name, version string, set Set, paged bool, path string) Operation {
	o := Operation{Name: name, Version: version, Set: set, Paged: paged, Path: path}
	all = append(all, o)
	return o
}

// All returns every operation, in the order declared below.
func All() []Operation { return append([]Operation(nil), all...) }

// The operations. Atlas's rate-limit table names no set for Flex restore jobs, nor for the
// compliance policy, nor for an organisation: the first is counted with the other Flex backup
// endpoints (snapshots, downloads), the second with Cloud Backups, the set of the other backup
// endpoints and the tag the API description gives it, the third in a set of its own. The
// policy's newest version is sent: 2023-01-01 sunsets on 2027-07-01.
var (
	ListGroups                            = declare("listGroups", "2023-01-01", SetProjects, true, "/groups")
	GetGroupByName                        = declare("getGroupByName", "2023-01-01", SetProjects, false, "/groups/byName/{groupName}")
	ListGroupClusters                     = declare("listGroupClusters", "2024-08-05", SetClusters, true, "/groups/{groupId}/clusters")
	ListClusterDetails                    = declare("listClusterDetails", "2023-01-01", SetClusterDetails, true, "/clusters")
	ListGroupFlexClusters                 = declare("listGroupFlexClusters", "2024-11-13", SetFlexClusters, true, "/groups/{groupId}/flexClusters")
	ListGroupServerlessInstances          = declare("listGroupServerlessInstances", "2023-01-01", SetServerless, true, "/groups/{groupId}/serverless")
	GetGroupClusterBackupSchedule         = declare("getGroupClusterBackupSchedule", "2024-08-05", SetCloudBackups, false, "/groups/{groupId}/clusters/{clusterName}/backup/schedule")
	ListGroupClusterBackupRestoreJobs     = declare("listGroupClusterBackupRestoreJobs", "2023-01-01", SetCloudBackups, true, "/groups/{groupId}/clusters/{clusterName}/backup/restoreJobs")
	ListGroupFlexClusterBackupRestoreJobs = declare("listGroupFlexClusterBackupRestoreJobs", "2024-11-13", SetFlexSnapshots, true, "/groups/{groupId}/flexClusters/{name}/backup/restoreJobs")
	ListGroupClusterBackupExports         = declare("listGroupClusterBackupExports", "2023-01-01", SetCloudBackups, true, "/groups/{groupId}/clusters/{clusterName}/backup/exports")
	GetGroupBackupCompliancePolicy        = declare("getGroupBackupCompliancePolicy", "2023-10-01", SetCloudBackups, false, "/groups/{groupId}/backupCompliancePolicy")
	GetOrg                                = declare("getOrg", "2023-01-01", SetOrganizations, false, "/orgs/{orgId}")

	ListGroupClusterBackupSnapshots               = declare("listGroupClusterBackupSnapshots", "2023-01-01", SetCloudBackups, true, "/groups/{groupId}/clusters/{clusterName}/backup/snapshots")
	GetGroupClusterBackupSnapshot                 = declare("getGroupClusterBackupSnapshot", "2023-01-01", SetCloudBackups, false, "/groups/{groupId}/clusters/{clusterName}/backup/snapshots/{snapshotId}")
	ListGroupClusterBackupSnapshotShardedClusters = declare("listGroupClusterBackupSnapshotShardedClusters", "2023-01-01", SetCloudBackups, false, "/groups/{groupId}/clusters/{clusterName}/backup/snapshots/shardedClusters")
	GetGroupClusterBackupSnapshotShardedCluster   = declare("getGroupClusterBackupSnapshotShardedCluster", "2023-01-01", SetCloudBackups, false, "/groups/{groupId}/clusters/{clusterName}/backup/snapshots/shardedCluster/{snapshotId}")
	ListGroupFlexClusterBackupSnapshots           = declare("listGroupFlexClusterBackupSnapshots", "2024-11-13", SetFlexSnapshots, true, "/groups/{groupId}/flexClusters/{name}/backup/snapshots")
	GetGroupFlexClusterBackupSnapshot             = declare("getGroupFlexClusterBackupSnapshot", "2024-11-13", SetFlexSnapshots, false, "/groups/{groupId}/flexClusters/{name}/backup/snapshots/{snapshotId}")
	ListGroupServerlessBackupSnapshots            = declare("listGroupServerlessBackupSnapshots", "2023-01-01", SetServerlessBackups, true, "/groups/{groupId}/serverless/{clusterName}/backup/snapshots")
	GetGroupServerlessBackupSnapshot              = declare("getGroupServerlessBackupSnapshot", "2023-01-01", SetServerlessBackups, false, "/groups/{groupId}/serverless/{clusterName}/backup/snapshots/{snapshotId}")
	ListGroupClusterBackupTenantSnapshots         = declare("listGroupClusterBackupTenantSnapshots", "2023-01-01", SetSharedSnapshots, false, "/groups/{groupId}/clusters/{clusterName}/backup/tenant/snapshots")
	GetGroupClusterBackupTenantSnapshot           = declare("getGroupClusterBackupTenantSnapshot", "2023-01-01", SetSharedSnapshots, false, "/groups/{groupId}/clusters/{clusterName}/backup/tenant/snapshots/{snapshotId}")
	ListGroupClusterSnapshots                     = declare("listGroupClusterSnapshots", "2023-01-01", SetLegacyBackup, true, "/groups/{groupId}/clusters/{clusterName}/snapshots")
	GetGroupClusterSnapshot                       = declare("getGroupClusterSnapshot", "2023-01-01", SetLegacyBackup, false, "/groups/{groupId}/clusters/{clusterName}/snapshots/{snapshotId}")
)
