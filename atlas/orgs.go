package atlas

import (
	"context"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/spec"
)

// Organization is an Atlas organisation: the projects of one belong to it (Project.OrgID), and a
// service account or API key belongs to one.
type Organization struct {
	ID   string
	Name string
}

// AtlasOrganization.
type wireOrganization struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Organization reads the organisation with id, for its name. Atlas answers it to credentials
// with the Organization Member role on it; other credentials are refused, though they read the
// organisation's projects.
func (c *Client) Organization(ctx context.Context, id string) (Organization, error) {
	w, err := getOne[wireOrganization](ctx, c, spec.GetOrg, scope{}, spec.GetOrg.Expand(id))
	if err != nil {
		return Organization{}, err
	}
	return Organization{ID: id, Name: w.Name}, nil
}

// Organization implements API.
func (f *Fetcher) Organization(ctx context.Context, id string) (Organization, error) {
	return do(f, "org\x00"+id, func() (Organization, error) { return f.client().Organization(ctx, id) })
}
