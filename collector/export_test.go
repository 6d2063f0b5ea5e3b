package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// FamilyNames lists the name of every family the collector renders, in output order.
func FamilyNames() []string {
	var out []string
	for _, f := range Families() {
		out = append(out, f.Name)
	}
	return out
}

// Renders is how many renders the collector has made.
func (c *Collector) Renders() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.renders
}

// RenderedVersion is the version of the last body rendered, 0 before the first.
func (c *Collector) RenderedVersion() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.body == nil {
		return 0
	}
	return c.body.Version
}

// GroupRenders is how many groups of targets the collector has rendered.
func (c *Collector) GroupRenders() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groupRenders
}

// Uncached is the uncached rendering of v, as a prometheus.Collector: the same families'
// code, each sample a const metric, for a registry to gather and check (no family or series
// twice, consistent labels) and expfmt to encode.
func Uncached(v *estate.View) prometheus.Collector { return uncached{v} }

type uncached struct{ v *estate.View }

var uncachedDescs = map[*metricFamily]*prometheus.Desc{}

func descOf(f *metricFamily) *prometheus.Desc {
	if d := uncachedDescs[f]; d != nil {
		return d
	}
	d := prometheus.NewDesc(f.name, f.help, f.labels, nil)
	uncachedDescs[f] = d
	return d
}

func (u uncached) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families().list {
		ch <- descOf(f)
	}
}

func (u uncached) Collect(ch chan<- prometheus.Metric) {
	add := func(f *metricFamily, v float64, labels ...string) {
		vt := prometheus.GaugeValue
		if f.counter {
			vt = prometheus.CounterValue
		}
		ch <- prometheus.MustNewConstMetric(descOf(f), vt, v, labels...)
	}
	for _, g := range groups {
		if g.view != nil {
			g.view(u.v, add)
		}
	}
	for _, t := range u.v.Targets {
		own := []string{t.Project.ID, t.Project.Name, t.Target.Cluster, string(t.Target.Kind)}
		for _, g := range groups {
			if g.target != nil && (!g.perSnapshot || u.v.SnapshotMetrics) {
				g.target(t, func(f *metricFamily, v float64, extra ...string) { add(f, v, append(slices.Clip(own), extra...)...) })
			}
		}
	}
}
