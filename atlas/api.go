package atlas

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// API is what the exporter needs from Atlas. *Client implements it; Fetcher decorates it.
type API interface {
	Projects(ctx context.Context) ([]Project, error)
	ProjectByName(ctx context.Context, name string) (Project, error)
	Clusters(ctx context.Context, projectID string) (ClusterList, error)
	ClusterNames(ctx context.Context) ([]ProjectClusters, error)
	Snapshots(ctx context.Context, t Target) ([]Snapshot, error)
	Snapshot(ctx context.Context, t Target, id string) (Snapshot, error)
	Schedule(ctx context.Context, t Target) (Schedule, error)
	RestoreJobs(ctx context.Context, t Target) ([]RestoreJob, error)
	ExportJobs(ctx context.Context, t Target) ([]ExportJob, error)
	CompliancePolicy(ctx context.Context, projectID string) (*CompliancePolicy, error)
	Organization(ctx context.Context, id string) (Organization, error)
}

var _ API = (*Client)(nil)

// ClusterList is what discovery found in one project.
type ClusterList struct {
	Clusters []Cluster // sorted by name
	// ServerlessGone is set when the serverless-instance listing answered that it is gone.
	ServerlessGone *GoneError
}

// Projects lists every project the credentials can see.
func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	gs, err := list[wireGroup](ctx, c, spec.ListGroups, scope{}, spec.ListGroups.Expand(), nil)
	if err != nil {
		return nil, err
	}
	out := make([]Project, 0, len(gs))
	for _, g := range gs {
		out = append(out, Project(g))
	}
	return out, nil
}

// ProjectByName resolves a project name to its id.
func (c *Client) ProjectByName(ctx context.Context, name string) (Project, error) {
	g, err := getOne[wireGroup](ctx, c, spec.GetGroupByName, scope{}, spec.GetGroupByName.Expand(name))
	if err != nil {
		return Project{}, err
	}
	return Project(g), nil
}

// Clusters lists a project's dedicated, Flex and serverless deployments and classifies each.
func (c *Client) Clusters(ctx context.Context, projectID string) (ClusterList, error) {
	sc := scope{ProjectID: projectID}
	// The three listings are independent: ask for them at once.
	var (
		wg                sync.WaitGroup
		dedicated         []wireCluster
		flex              []wireFlexCluster
		sl                []wireServerless
		dErr, fErr, slErr error
	)
	wg.Add(3)
	go func() {
		defer wg.Done()
		dedicated, dErr = list[wireCluster](ctx, c, spec.ListGroupClusters, sc, spec.ListGroupClusters.Expand(projectID), nil)
	}()
	go func() {
		defer wg.Done()
		flex, fErr = list[wireFlexCluster](ctx, c, spec.ListGroupFlexClusters, sc, spec.ListGroupFlexClusters.Expand(projectID), nil)
	}()
	go func() {
		defer wg.Done()
		sl, slErr = list[wireServerless](ctx, c, spec.ListGroupServerlessInstances, sc, spec.ListGroupServerlessInstances.Expand(projectID), nil)
	}()
	wg.Wait()
	if dErr != nil {
		return ClusterList{}, dErr
	}
	if fErr != nil {
		return ClusterList{}, fErr
	}
	byName := map[string]Cluster{}
	for _, w := range dedicated {
		byName[w.Name] = w.classify(projectID)
	}
	for _, w := range flex {
		// Former M2/M5 clusters show in both listings; the Flex description is the current one.
		byName[w.Name] = w.classify(projectID)
	}
	var out ClusterList
	var ae *Error
	switch {
	case slErr == nil:
		for _, w := range sl {
			if _, dup := byName[w.Name]; !dup {
				byName[w.Name] = w.classify(projectID)
			}
		}
	case errors.As(slErr, &ae) && removed(KindServerless, ae) != nil:
		// Serverless instances became Flex clusters: discovery goes on without the listing.
		out.ServerlessGone = removed(KindServerless, ae)
	default:
		return ClusterList{}, slErr
	}
	for _, cl := range byName {
		out.Clusters = append(out.Clusters, cl)
	}
	sort.Slice(out.Clusters, func(i, j int) bool { return out.Clusters[i].Name < out.Clusters[j].Name })
	return out, nil
}

// Snapshots lists every snapshot of one target. A *GoneError means the kind's endpoint is gone
// for this cluster.
func (c *Client) Snapshots(ctx context.Context, t Target) ([]Snapshot, error) {
	ops, err := opsFor(t)
	if err != nil {
		return nil, err
	}
	sc := scope{ProjectID: t.ProjectID, Cluster: t.Cluster}
	path := ops.list.Expand(t.ProjectID, t.Cluster)
	switch t.Kind {
	case KindFlex, KindTenant:
		ws, err := list[wireFlexSnapshot](ctx, c, ops.list, sc, path, ops.query)
		return normaliseAll(ws, t, err)
	case KindLegacy:
		ws, err := list[wireLegacySnapshot](ctx, c, ops.list, sc, path, ops.query)
		return normaliseAll(ws, t, err)
	default:
		ws, err := list[wireCloudSnapshot](ctx, c, ops.list, sc, path, ops.query)
		return normaliseAll(ws, t, err)
	}
}

// Snapshot reads one snapshot by id.
func (c *Client) Snapshot(ctx context.Context, t Target, id string) (Snapshot, error) {
	ops, err := opsFor(t)
	if err != nil {
		return Snapshot{}, err
	}
	sc := scope{ProjectID: t.ProjectID, Cluster: t.Cluster}
	path := ops.get.Expand(t.ProjectID, t.Cluster, id)
	switch t.Kind {
	case KindFlex, KindTenant:
		w, err := getOne[wireFlexSnapshot](ctx, c, ops.get, sc, path)
		return normaliseOne(w, t, err)
	case KindLegacy:
		w, err := getOne[wireLegacySnapshot](ctx, c, ops.get, sc, path)
		return normaliseOne(w, t, err)
	default:
		w, err := getOne[wireCloudSnapshot](ctx, c, ops.get, sc, path)
		return normaliseOne(w, t, err)
	}
}

// Schedule reads the backup policy of a Cloud Backup cluster (t.Kind must be KindCloud).
func (c *Client) Schedule(ctx context.Context, t Target) (Schedule, error) {
	if !t.Kind.HasSchedule() {
		return Schedule{}, fmt.Errorf("atlas: %s clusters have no backup schedule to read", t.Kind)
	}
	sc := scope{ProjectID: t.ProjectID, Cluster: t.Cluster}
	w, err := getOne[wireSchedule](ctx, c, spec.GetGroupClusterBackupSchedule, sc, spec.GetGroupClusterBackupSchedule.Expand(t.ProjectID, t.Cluster))
	if err != nil {
		return Schedule{}, err
	}
	return w.normalise(), nil
}

type normaliser interface {
	normalise() Snapshot
}

func normaliseAll[W normaliser](ws []W, t Target, err error) ([]Snapshot, error) {
	if err != nil {
		return nil, classify(t.Kind, err)
	}
	out := make([]Snapshot, 0, len(ws))
	seen := make(map[string]bool, len(ws))
	for _, w := range ws {
		// One id twice (a broken answer, or pages that shifted in a way list cannot see) would
		// be two series of one snapshot: the first copy is kept.
		s := w.normalise()
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	return out, nil
}

func normaliseOne[W normaliser](w W, t Target, err error) (Snapshot, error) {
	if err != nil {
		return Snapshot{}, classify(t.Kind, err)
	}
	return w.normalise(), nil
}

func classify(k Kind, err error) error {
	var ae *Error
	if errors.As(err, &ae) {
		if g := asGone(k, ae); g != nil {
			return g
		}
	}
	return err
}
