package estate

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// claims are the projects each credential set's entries selected when they were last resolved,
// so that a project two sets select is read once: by the first of them in the sets' order (the
// order the configuration's entries first name them), with every set's entries selecting it:
// the reader plans the targets the others' entries select there too (others), and the others
// tell which of their configured clusters Atlas does not show from the reader's listing
// (listedBy). A later set reads a project while no earlier set's entries are known to select
// it: until an earlier set has resolved its entries (its first refresh), or while it selects it
// no more; it stops once one does, and its state of the project goes when its refresh ends
// (setEngine.dropOthers) once the other has listed it. A set gives up an entry's claim while the
// entry fails to resolve, and all its claims once Atlas refuses its credentials (release), until
// they resolve again: a set that cannot read a project never keeps it from another that can.
// The merged view shows each project as its reader does. Overlaps are logged when they begin
// and end.
//
// The sets' engines call it under their own locks; it calls nothing of theirs.
type claims struct {
	logger log.Logger

	mu      sync.Mutex
	order   []string                                       // the sets, first to last
	entries map[string]map[string]config.Project           // per set, per selector: the entry as configured
	by      map[string]map[string]map[string]atlas.Project // per set, per selector: the projects by id
	// listings are the cluster names of each project's last listing, and the set that listed it.
	listings map[string]listing
	// readBy is the set that reads each project, by id, as of the last change; replaced, never
	// changed.
	readBy map[string]string
	now    map[overlapKey]Overlap // the overlaps as of the last change
	// changes counts the changes of the overlaps and readers, for the views built from them.
	changes uint64
}

// Overlap is a project a credential set selects that an earlier set reads: it is read once, by
// ReadBy. The sets are named as metrics show them (config.SetName).
type Overlap struct {
	Project             atlas.Project
	Credentials, ReadBy string
}

type overlapKey struct{ project, set string }

// listing is what a set's listing of a project's clusters found.
type listing struct {
	set   string
	names map[string]bool // never changed once listed
}

func newClaims(logger log.Logger) *claims {
	return &claims{logger: logger, by: map[string]map[string]map[string]atlas.Project{}, listings: map[string]listing{}, now: map[overlapKey]Overlap{}}
}

// reorder puts the sets in order, keeps their entries as configured now, and forgets what the
// sets no longer in it selected.
func (c *claims) reorder(order []string, entries []config.Project) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = slices.Clone(order)
	c.entries = map[string]map[string]config.Project{}
	for _, p := range entries {
		if c.entries[p.Credentials] == nil {
			c.entries[p.Credentials] = map[string]config.Project{}
		}
		c.entries[p.Credentials][p.Selector()] = p
	}
	for set := range c.by {
		if !slices.Contains(order, set) {
			delete(c.by, set)
		}
	}
	c.update()
}

// claim records that entry sel of set selects projects. A nil c claims nothing.
func (c *claims) claim(set, sel string, projects []atlas.Project) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.order, set) {
		return // a set a reload removed, whose refresh is ending
	}
	ids := make(map[string]atlas.Project, len(projects))
	for _, p := range projects {
		ids[p.ID] = p
	}
	if c.by[set] == nil {
		c.by[set] = map[string]map[string]atlas.Project{}
	}
	c.by[set][sel] = ids
	c.update()
}

// drop forgets entry sel of set, which the configuration no longer has.
func (c *claims) drop(set, sel string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.by[set], sel)
	c.update()
}

// reads reports whether set reads project id: no set before it selects it. A nil c says yes.
func (c *claims) reads(set, id string) bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.readBy[id]
	return first == "" || first == set
}

// readers are the sets that read the projects some set selects, by project id: a map not to be
// changed.
func (c *claims) readers() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readBy
}

// others are the entries of the other sets that select project id, when set reads it: set reads
// the targets they select there too. A nil c has none.
func (c *claims) others(set, id string) []config.Project {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readBy[id] != set {
		return nil
	}
	var out []config.Project
	for _, other := range c.order {
		if other == set {
			continue
		}
		for _, sel := range slices.Sorted(maps.Keys(c.by[other])) {
			entry, configured := c.entries[other][sel]
			if _, selects := c.by[other][sel][id]; selects && configured {
				out = append(out, entry)
			}
		}
	}
	return out
}

// listed records the cluster names set's listing of project id found, while set reads it.
func (c *claims) listed(set, id string, names map[string]bool) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readBy[id] == set {
		c.listings[id] = listing{set: set, names: names}
	}
}

// release gives up every claim of set, whose credentials Atlas refused: the other sets
// selecting its projects read them until it resolves its entries again.
func (c *claims) release(set string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.by, set)
	c.update()
}

// listedBy reports whether another set than set reads project id, and if so the cluster names
// of that set's last listing of it since it does (nil before one).
func (c *claims) listedBy(set, id string) (map[string]bool, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first := c.readBy[id]
	if first == "" || first == set {
		return nil, false
	}
	return c.listings[id].names, true
}

// update works the overlaps out again and logs those that begin and end; c.mu must be held.
func (c *claims) update() {
	readBy, known := map[string]string{}, map[string]atlas.Project{}
	for _, set := range c.order {
		for _, ids := range c.by[set] {
			for id, p := range ids {
				if _, ok := readBy[id]; !ok {
					readBy[id], known[id] = set, p
				}
			}
		}
	}
	now := map[overlapKey]Overlap{}
	for _, set := range c.order {
		for _, ids := range c.by[set] {
			for id := range ids {
				if first := readBy[id]; first != set {
					now[overlapKey{id, set}] = Overlap{Project: known[id], Credentials: config.SetName(set), ReadBy: config.SetName(first)}
				}
			}
		}
	}
	for id, l := range c.listings {
		if readBy[id] != l.set {
			delete(c.listings, id) // read by another set now, or by none
		}
	}
	if maps.Equal(now, c.now) && maps.Equal(readBy, c.readBy) {
		return
	}
	for k, o := range now {
		if _, was := c.now[k]; !was {
			level.Warn(c.logger).Log("msg", "project selected by several credential sets; only the first reads it", "project_id", o.Project.ID, "project", o.Project.Name,
				"credentials", o.Credentials, "read_by", o.ReadBy)
		}
	}
	for k, o := range c.now {
		if _, is := now[k]; !is {
			level.Info(c.logger).Log("msg", "project no longer selected by several credential sets", "project_id", o.Project.ID, "project", o.Project.Name, "credentials", o.Credentials)
		}
	}
	c.now, c.readBy = now, readBy
	c.changes++
}

// overlaps are the overlaps of the projects owns says this replica reads, by project id and set,
// with the set that reads each project some set selects (a map not to be changed) and the count
// of changes they are as of.
func (c *claims) overlaps(owns func(id string) bool) ([]Overlap, map[string]string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Overlap
	for _, o := range c.now {
		if owns(o.Project.ID) {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b Overlap) int {
		return cmp.Or(strings.Compare(a.Project.ID, b.Project.ID), strings.Compare(a.Credentials, b.Credentials))
	})
	return out, c.readBy, c.changes
}
