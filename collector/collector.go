// Package collector turns the views the refresh engine publishes (estate.View) into Prometheus
// metrics: it says how the estate looks in Prometheus, and nothing of when or how it is read,
// nor of Atlas's rules (it asks the view, or atlas's named rules).
//
// Each file holds one group of metric families: its descriptors, and the function that renders
// them from a view, or from one target's view. A group registers itself (register), as
// node_exporter's collectors do, and Describe and Collect go through them all. What a target
// renders to is kept while its view stays the same value (cache.go); the per-snapshot families
// bypass the registry (persnapshot.go).
package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

const namespace = "atlas_backup"

// Source is where the collector reads what to show: the refresh engine (estate.Engine).
type Source interface {
	View() *estate.View
}

// Collector is a prometheus.Collector over the views of a Source. It never reads Atlas.
type Collector struct {
	src   Source
	now   func() time.Time // for ages, at scrape time
	cache cache
}

// New returns a collector of src's views; now is the clock (time.Now in production).
func New(src Source, now func() time.Time) *Collector {
	return &Collector{src: src, now: now}
}

// group is a group of metric families: its descriptors, and what it renders from a whole view
// and from each target's view (either may be nil).
type group struct {
	descs  []*prometheus.Desc
	view   func(v *estate.View, ch chan<- prometheus.Metric)
	target func(t *estate.TargetView, gauge gaugeFunc)
}

// groups are the registered groups, in the order of their files.
var groups []group

// register adds a group; each file's init calls it for its own.
func register(g group) { groups = append(groups, g) }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range groups {
		for _, d := range g.descs {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector: it renders the current view.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v := c.src.View()
	for _, g := range groups {
		if g.view != nil {
			g.view(v, ch)
		}
	}
	for _, m := range c.cache.metrics(v) {
		for _, metric := range m {
			ch <- metric
		}
	}
}

// targetMetrics renders the families of every group from one target's view.
func targetMetrics(t *estate.TargetView) []prometheus.Metric {
	p, st := t.Project, t.Target
	lv := []string{p.ID, p.Name, st.Cluster, string(st.Kind)}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(append(make([]string, 0, len(lv)+len(extra)), lv...), extra...)...))
	}
	for _, g := range groups {
		if g.target != nil {
			g.target(t, gauge)
		}
	}
	return out
}

// gaugeFunc adds a sample of a target's family with the target's labels and extra label values.
type gaugeFunc = func(d *prometheus.Desc, v float64, extra ...string)

var (
	targetLabels  = []string{"project_id", "project", "cluster", "kind"}
	projectLabels = []string{"project_id", "project"}
)

// desc describes a family of the namespace with labels, then extra ones.
func desc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append(append([]string{}, labels...), extra...), nil)
}

// gauge is one sample of a family that is not a target's.
func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.Unix()) }

// dateOf is t as YYYY-MM-DD (UTC), or "" for the zero time.
func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
