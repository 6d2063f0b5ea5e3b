package estate

import (
	"context"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// Organisations. When the configuration names credential sets, each project is shown with its
// organisation: its id comes with the project (Project.OrgID), its name from reading the
// organisation, which Atlas answers only to credentials with the Organization Member role on it.
// A set reads each organisation of its projects once per full discovery (and at a partial one
// until it has tried), beside the discovery of a project of it and without holding it back;
// the name stays until a read answers another, and is empty until one succeeds. A failure is
// logged once and counts nothing against the set's health: the projects are read all the same.

// orgState is what a set knows of one organisation of its projects.
type orgState struct {
	name  string // "" until a read succeeds
	tried bool
	log   logBook
}

// readOrganization reads organisation id's name in the background of the refresh, once per
// refresh, when it is due; e.mu must not be held.
func (r *refresh) readOrganization(ctx context.Context, id string) {
	if !r.settings.Named || id == "" {
		return
	}
	e := r.e
	e.mu.Lock()
	os := e.orgs[id]
	due := r.full || os == nil || !os.tried
	e.mu.Unlock()
	r.mu.Lock()
	if _, asked := r.orgReads[id]; asked || !due {
		r.mu.Unlock()
		return
	}
	r.orgReads[id] = true
	r.jobs.Add(1)
	r.mu.Unlock()
	go func() {
		defer r.jobs.Done()
		org, err := r.fetcher.Organization(ctx, id)
		if ctx.Err() != nil || !r.lockCurrent() {
			return
		}
		defer e.mu.Unlock()
		r.applyOrganization(id, org, err)
	}()
}

// applyOrganization records a read of organisation id; e.mu must be held.
func (r *refresh) applyOrganization(id string, org atlas.Organization, err error) {
	e := r.e
	os := e.orgs[id]
	if os == nil {
		os = &orgState{}
		e.orgs[id] = os
	}
	os.tried = true
	e.logChange(&os.log, topicOrganization, err, "msg", "reading the organisation's name for project_info (it needs the Organization Member role; org_name is empty until it succeeds)",
		"org_id", id, "credentials", config.SetName(e.name))
	if err != nil || org.Name == os.name {
		return
	}
	os.name = org.Name
	for _, ps := range e.projects {
		if ps.project.OrgID == id {
			e.projectChanged(ps)
		}
	}
}

// pruneOrganizations forgets the organisations no project of the set belongs to any more; e.mu
// must be held.
func (e *setEngine) pruneOrganizations() {
	used := map[string]bool{}
	for _, ps := range e.projects {
		used[ps.project.OrgID] = true
	}
	for id := range e.orgs {
		if !used[id] {
			delete(e.orgs, id)
		}
	}
}

// organization is project p's organisation as the set knows it; e.mu must be held.
func (e *setEngine) organization(p atlas.Project) atlas.Organization {
	o := atlas.Organization{ID: p.OrgID}
	if os := e.orgs[p.OrgID]; os != nil {
		o.Name = os.name
	}
	return o
}
