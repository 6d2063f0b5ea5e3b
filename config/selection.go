package config

import (
	"os"
	"slices"
	"strings"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Selector names the entry as the logs and its state do: by id, by name, or by its discovery
// expressions.
func (p Project) Selector() string {
	switch {
	case p.ID != "":
		return "id=" + p.ID
	case p.Name != "":
		return "name=" + p.Name
	}
	sel := "discover_all_projects"
	if p.ProjectInclude != nil {
		sel += " project_include=" + p.ProjectInclude.String()
	}
	if p.ProjectExclude != nil {
		sel += " project_exclude=" + p.ProjectExclude.String()
	}
	return sel
}

// MayName reports whether the entry could select project ap: the project it names by id or
// name, or, for discover_all_projects, any project its expressions let through.
func (p Project) MayName(ap atlas.Project) bool {
	switch {
	case p.ID != "":
		return p.ID == ap.ID
	case p.Name != "":
		return p.Name == ap.Name
	}
	return (p.ProjectInclude == nil || p.ProjectInclude.MatchString(ap.Name)) && (p.ProjectExclude == nil || !p.ProjectExclude.MatchString(ap.Name))
}

// SelectsCluster reports whether the entry reads the cluster named name in the projects it
// selects: one its clusters list names (when it has one) that its include and exclude
// expressions let through.
func (p Project) SelectsCluster(name string) bool {
	if len(p.Clusters) > 0 && !slices.Contains(p.Clusters, name) {
		return false
	}
	return (p.Include == nil || p.Include.MatchString(name)) && (p.Exclude == nil || !p.Exclude.MatchString(name))
}

// Targets are what the entry reads of cluster cl, which discovery found in project projectID:
// the kind discovery found (none for a cluster without backups), or the kinds the entry names
// instead.
func (p Project) Targets(projectID string, cl atlas.Cluster) []atlas.Target {
	kinds := p.Kinds
	if len(kinds) == 0 {
		if cl.Kind == "" {
			return nil
		}
		kinds = []atlas.Kind{cl.Kind}
	}
	out := make([]atlas.Target, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, atlas.NewTarget(projectID, cl.Name, k, cl.Sharded))
	}
	return out
}

// ReadSecretFile reads a secret from file: its content, without the white space around it (a
// file written by hand, or by Kubernetes from a literal, often ends in a newline).
func ReadSecretFile(file string) (Secret, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	return Secret(strings.TrimSpace(string(raw))), nil
}

// Reads says what the configuration reads of Atlas: the operations its clients can send are
// atlas.OperationsFor(c.Reads()).
func (c *Config) Reads() atlas.Reads {
	r := atlas.Reads{
		Organizations: c.Named(), Schedules: c.BackupSchedulesEnabled(), RestoreJobs: c.RestoreJobsEnabled(),
		ExportJobs: c.ExportJobsEnabled(), CompliancePolicy: c.CompliancePolicyEnabled(),
	}
	for _, p := range c.Projects {
		if p.Name != "" {
			r.ProjectsByName = true
		} else {
			r.ProjectListing = true // discover_all_projects, or an id the listing finds
		}
		kinds := p.Kinds
		if len(kinds) == 0 {
			kinds = atlas.DiscoveredKinds
		}
		for _, k := range kinds {
			if !slices.Contains(r.Kinds, k) {
				r.Kinds = append(r.Kinds, k)
			}
		}
		r.SnapshotsByID = r.SnapshotsByID || len(p.Snapshots) > 0
	}
	return r
}
