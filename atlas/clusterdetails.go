package atlas

import (
	"context"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// ProjectClusters is one project of the all-projects cluster listing (listClusterDetails): the
// names Atlas shows there. That listing leaves out multi-cloud clusters and does not say which
// clusters are Flex, so it can tell that a project has gained a cluster, never that it has
// none: it is a change detector beside the per-project discovery, not a replacement for it.
type ProjectClusters struct {
	Project  Project
	Clusters []string
}

// OrgGroup (PaginatedOrgGroupView item).
type wireOrgGroup struct {
	GroupID   string `json:"groupId"`
	GroupName string `json:"groupName"`
	OrgID     string `json:"orgId"`
	Clusters  []struct {
		Name string `json:"name"`
	} `json:"clusters"`
}

// ClusterNames lists, in one paged call, the clusters of every project the credentials can see.
func (c *Client) ClusterNames(ctx context.Context) ([]ProjectClusters, error) {
	gs, err := list[wireOrgGroup](ctx, c, spec.ListClusterDetails, scope{}, spec.ListClusterDetails.Expand(), nil)
	if err != nil {
		return nil, err
	}
	out := make([]ProjectClusters, 0, len(gs))
	for _, g := range gs {
		pc := ProjectClusters{Project: Project{ID: g.GroupID, Name: g.GroupName, OrgID: g.OrgID}, Clusters: make([]string, 0, len(g.Clusters))}
		for _, cl := range g.Clusters {
			pc.Clusters = append(pc.Clusters, cl.Name)
		}
		out = append(out, pc)
	}
	return out, nil
}
