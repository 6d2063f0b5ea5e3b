package collector

import (
	"bytes"
	"hash/fnv"
	"iter"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// A render turns a view into the compressed exposition of its families. The families of the
// whole view (per project, of the exporter) are rendered each time; the targets' in groups of
// consecutive targets (in the view's order), each family's lines of a group one gzip member. A
// group that would render as it did at the last render is not rendered again: its members are
// the same bytes. Lines are not kept once compressed: that would hold most of the exposition in
// memory.
//
// What a group would render the same is told by part: a target's view is replaced whenever the
// target changes (each read, each job listing), and so renders its target families anew; its
// per-snapshot families render from its snapshots only, which the engine keeps as the same
// slice while Atlas lists them unchanged. So a job listing, or a read that finds no new
// snapshot, renders the few lines of its target's families, not the many of its snapshots; and
// the per-snapshot groups are smaller, so that the snapshots of one target that changed cost
// those of few others.
//
// A group ends after a target whose key hashes to 0 mod its part's size (content-defined
// boundaries): groups hold that many targets on average, and a target added or dropped changes
// its own group only, where boundaries counted from the start would move every group after it.
// Groups are not cut at projects: at a few clusters a project, that made the members so small
// that the body grew by half (1,000 clusters of 5 a project), and every scrape copies it.
type part struct {
	perSnapshot bool // it renders the groups that are
	size        int  // targets per group, on average
	// same reports whether a target's view a renders what its view b did.
	same func(a, b *estate.TargetView) bool
}

var parts = [...]part{
	{size: 64, same: func(a, b *estate.TargetView) bool { return a == b }},
	{perSnapshot: true, size: 16, same: sameSnapshots},
}

// sameSnapshots reports whether a and b render the same per-snapshot series: one target with
// the same snapshots. The slice is compared by identity: the engine never changes one (it
// keeps the old one while Atlas lists the same), and the renderer holds the last, so that its
// memory is not reused meanwhile.
func sameSnapshots(a, b *estate.TargetView) bool {
	return a.Project == b.Project && a.Target == b.Target && a.HasData == b.HasData &&
		len(a.Snapshots) == len(b.Snapshots) && (len(a.Snapshots) == 0 || &a.Snapshots[0] == &b.Snapshots[0])
}

// renderCache is what the last render made of the groups of each part, by their first target.
type renderCache struct {
	snapshotMetrics bool
	groups          [len(parts)]map[atlas.Target]*rendered
}

// rendered is a group and what it rendered to.
type rendered struct {
	targets []*estate.TargetView
	members *members
}

// members are the gzip members of some lines of each family: of one group of targets, or of
// the whole view's families.
type members struct {
	data []byte // the members back to back
	ends []int  // per family: where its member ends in data (it begins where the last ends)
}

// of returns family i's member; empty when it has no line here.
func (m *members) of(i int) []byte {
	begin := 0
	if i > 0 {
		begin = m.ends[i-1]
	}
	return m.data[begin:m.ends[i]]
}

// Body is the rendered exposition of one version of the view, compressed: what every scrape
// until the next version writes. It is never changed.
type Body struct {
	Version uint64
	phases  uint64                 // of the view's Health
	view    *members               // the families of the whole view
	groups  [len(parts)][]*members // of each part, in order
	present []bool                 // per family: it has a line
	size    [formats]int
}

// Size is how many bytes the body takes in format, compressed.
func (b *Body) Size(f Format) int { return b.size[f] }

// render renders v, reusing what the last render made of the groups that render the same; it
// returns how many groups it rendered.
func (c *Collector) render(v *estate.View) (*Body, int) {
	t := families()
	// The lines of the largest group take megabytes: they go with the render, not kept idle
	// until the next.
	enc, n := newEncoder(), len(t.list)
	if c.cache.snapshotMetrics != v.SnapshotMetrics || c.cache.groups[0] == nil {
		c.cache = renderCache{snapshotMetrics: v.SnapshotMetrics}
	}
	b := &Body{Version: v.Version, phases: v.Health.Phases, present: make([]bool, n)}
	enc.reset(n)
	for _, g := range groups {
		if g.view != nil {
			g.view(v, enc.viewGauge)
		}
	}
	b.view = enc.compress()
	done := 0
	for pi, p := range parts {
		if p.perSnapshot && !v.SnapshotMetrics {
			continue
		}
		last := c.cache.groups[pi]
		kept := make(map[atlas.Target]*rendered, len(last))
		for targets := range targetGroups(v.Targets, p.size) {
			r := last[targets[0].Target]
			if r == nil || !sameGroup(p, r.targets, targets) {
				enc.reset(n)
				for _, tv := range targets {
					gauge := enc.forTarget(tv)
					for _, g := range groups {
						if g.target != nil && g.perSnapshot == p.perSnapshot {
							g.target(tv, gauge)
						}
					}
				}
				r = &rendered{members: enc.compress()}
				done++
			}
			kept[targets[0].Target] = &rendered{targets: targets, members: r.members}
			b.groups[pi] = append(b.groups[pi], r.members)
		}
		c.cache.groups[pi] = kept
	}
	for i := range n {
		for m := range b.all(i) {
			b.present[i] = b.present[i] || len(m) > 0
		}
		for f := range formats {
			for m := range b.family(f, i) {
				b.size[f] += len(m)
			}
		}
	}
	return b, done
}

// targetGroups yields the groups of targets, size targets long on average.
func targetGroups(targets []*estate.TargetView, size int) iter.Seq[[]*estate.TargetView] {
	return func(yield func([]*estate.TargetView) bool) {
		for len(targets) > 0 {
			n := 1
			for n < len(targets) && n < 4*size && !endsGroup(targets[n-1], size) {
				n++
			}
			if !yield(targets[:n:n]) {
				return
			}
			targets = targets[n:]
		}
	}
}

// endsGroup reports whether a group of size targets on average ends after t: FNV-1a of its
// project id, cluster and kind.
func endsGroup(t *estate.TargetView, size int) bool {
	h := fnv.New64a()
	for _, s := range []string{t.Project.ID, t.Target.Cluster, string(t.Target.Kind)} {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	return h.Sum64()%uint64(size) == 0
}

// sameGroup reports whether the targets render in part p what the last ones did.
func sameGroup(p part, last, targets []*estate.TargetView) bool {
	if len(last) != len(targets) {
		return false
	}
	for i := range last {
		if !p.same(last[i], targets[i]) {
			return false
		}
	}
	return true
}

// compress makes the members of the lines written since the last reset.
func (e *encoder) compress() *members {
	m := &members{ends: make([]int, len(e.lines))}
	e.gz.buf.Reset()
	for i, l := range e.lines {
		if len(l) > 0 {
			e.gz.add(l)
		}
		m.ends[i] = e.gz.buf.Len()
	}
	m.data = bytes.Clone(e.gz.buf.Bytes())
	return m
}
