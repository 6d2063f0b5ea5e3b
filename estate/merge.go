package estate

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// View returns the view of the current version: the sets' views merged, built now if a set's
// view or the overlaps changed since the last call. What did not change is the same value as
// in the sets' views, so a renderer keeps what it made of it.
func (e *Engine) View() *View {
	e.mu.Lock()
	defer e.mu.Unlock()
	views := make([]*View, len(e.sets))
	for i, se := range e.sets {
		views[i] = se.View()
	}
	names := make([]string, len(e.sets))
	for i, se := range e.sets {
		names[i] = se.name
	}
	shard := e.settings.Shard
	overlaps, readBy, changes := e.claims.overlaps(shard.owns)
	if e.view != nil && slices.Equal(views, e.from) && changes == e.overlaps {
		return e.view
	}
	e.version++
	e.from, e.overlaps = views, changes
	// Each set's phases ended since the last merge count: a set a reload removes takes none back.
	merged := make(map[*setEngine]uint64, len(e.sets))
	for i, se := range e.sets {
		e.phases += views[i].Health.Phases - e.setPhases[se]
		merged[se] = views[i].Health.Phases
	}
	e.setPhases = merged
	e.view = merge(views, names, readBy, overlaps)
	e.view.Version, e.view.Health.Phases = e.version, e.phases
	return e.view
}

// merge is one view of the sets' views, of the sets names in their order. A project (with its
// targets and endpoints) more than one set shows is shown as the set readBy names shows it (the
// one that reads it now, where another has not yet dropped what it read before), or, when that
// set shows none, as the first that does.
func merge(views []*View, names []string, readBy map[string]string, overlaps []Overlap) *View {
	if len(views) == 1 {
		v := *views[0]
		v.Overlaps = overlaps
		return &v
	}
	v := &View{Overlaps: overlaps}
	if len(views) == 0 {
		return v
	}
	v.SnapshotMetrics = views[0].SnapshotMetrics
	v.Health = Health{Up: true, Ready: true, LastRequests: map[string]float64{}, Shard: views[0].Health.Shard}
	reader := map[string]int{} // project id: the index of the view that shows it
	for i, sv := range views {
		for _, pv := range sv.Projects {
			if _, shown := reader[pv.Project.ID]; !shown || readBy[pv.Project.ID] == names[i] {
				reader[pv.Project.ID] = i
			}
		}
	}
	var projects [][]*ProjectView
	for i, sv := range views {
		h := sv.Health
		v.Health.Up = v.Health.Up && h.Up
		v.Health.Ready = v.Health.Ready && h.Ready
		v.Health.LastRefreshDuration = max(v.Health.LastRefreshDuration, h.LastRefreshDuration)
		for k, n := range h.LastRequests {
			v.Health.LastRequests[k] += n
		}
		if i == 0 || h.DiscoveredAt.IsZero() || (!v.Health.DiscoveredAt.IsZero() && h.DiscoveredAt.Before(v.Health.DiscoveredAt)) {
			v.Health.DiscoveredAt = h.DiscoveredAt
		}
		v.Credentials = append(v.Credentials, sv.Credentials...)
		projects = append(projects, slices.DeleteFunc(slices.Clone(sv.Projects), func(pv *ProjectView) bool { return reader[pv.Project.ID] != i }))
	}
	v.Projects = mergeBy(projects, func(pv *ProjectView) string { return pv.Project.ID })
	var targets [][]*TargetView
	var endpoints [][]Endpoint
	for i, sv := range views {
		targets = append(targets, slices.DeleteFunc(slices.Clone(sv.Targets), func(t *TargetView) bool { return reader[t.Project.ID] != i }))
		endpoints = append(endpoints, slices.DeleteFunc(slices.Clone(sv.Endpoints), func(ep Endpoint) bool { return reader[ep.Project.ID] != i }))
	}
	v.Targets = mergeBy(targets, func(t *TargetView) string { return t.Project.ID })
	v.Endpoints = mergeBy(endpoints, func(ep Endpoint) string { return ep.Project.ID })
	missing, notices := map[MissingTarget]bool{}, map[[2]string]atlas.Notice{}
	for _, sv := range views {
		for _, m := range sv.Missing {
			missing[m] = true
		}
		for _, n := range sv.Notices {
			if _, heard := notices[[2]string{n.Operation, n.Version}]; !heard {
				notices[[2]string{n.Operation, n.Version}] = n
			}
		}
	}
	v.Missing = slices.SortedFunc(maps.Keys(missing), compareMissing)
	v.Notices = slices.SortedFunc(maps.Values(notices), func(a, b atlas.Notice) int {
		return cmp.Or(strings.Compare(a.Operation, b.Operation), strings.Compare(a.Version, b.Version))
	})
	return v
}

// mergeBy merges lists each ordered by project id (key), whose projects no two share, into one
// so ordered, keeping each list's order within a project.
func mergeBy[T any](lists [][]T, key func(T) string) []T {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]T, 0, n)
	for len(out) < n {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || key(l[0]) < key(lists[best][0])) {
				best = i
			}
		}
		out = append(out, lists[best][0])
		lists[best] = lists[best][1:]
	}
	return out
}
