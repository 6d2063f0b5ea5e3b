package config

import "slices"

// Equal reports whether p and o select the same targets the same way.
func (p Project) Equal(o Project) bool {
	return p.ID == o.ID && p.Name == o.Name && p.DiscoverAllProjects == o.DiscoverAllProjects &&
		p.ProjectInclude.source() == o.ProjectInclude.source() && p.ProjectExclude.source() == o.ProjectExclude.source() &&
		p.Include.source() == o.Include.source() && p.Exclude.source() == o.Exclude.source() &&
		slices.Equal(p.Clusters, o.Clusters) && slices.Equal(p.Kinds, o.Kinds) && slices.Equal(p.Snapshots, o.Snapshots)
}

// source is the expression as written, "" for none.
func (r *Regexp) source() string {
	if r == nil {
		return ""
	}
	return r.original
}
