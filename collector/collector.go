// Package collector turns the views the refresh engine publishes (estate.View) into Prometheus
// metrics: it says how the estate looks in Prometheus, and nothing of when or how it is read,
// nor of Atlas's rules (it asks the view, or atlas's named rules).
//
// Each file holds one group of metric families: its families, and the function that renders
// them from a view, or from one target's view. A group registers itself (register), as
// node_exporter's collectors do, and the renderer finds it: a new family is its declaration
// and the lines that give its samples, in the file of its group or in a new one.
//
// What a view determines (every family here) is rendered once per version of the view, off
// the scrape path, and kept compressed until the next (render.go, renderer.go); a scrape writes
// those bytes, then the exporter's own metrics gathered at that moment (internal/handler). The
// renderer encodes the lines itself, as kube-state-metrics does: going through a registry
// builds every sample as a protobuf message, which costs seconds and gigabytes at scale.
package collector

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

const namespace = "atlas_backup"

// Source is where the collector reads what to show: the refresh engine (estate.Engine).
type Source interface {
	View() *estate.View
}

// Collector renders the views of a Source (Exposition, Run). It never reads Atlas. As a
// prometheus.Collector it gives its own metrics, which are gathered at each scrape: how long
// its last render took.
type Collector struct {
	src Source
	now func() time.Time // when renders begin and end

	mu        sync.Mutex
	body      *Body         // the last rendered
	rendering chan struct{} // closed when the render under way ends; nil when none runs
	began     time.Time     // when the last render began
	cache     renderCache   // what the last render made, for the next (used by one render at a time)
	// Renders made, and groups of targets rendered (the others reused), for tests.
	renders, groupRenders int

	lastDuration prometheus.Gauge
}

// New returns a collector of src's views; now is the clock (time.Now in production).
func New(src Source, now func() time.Time) *Collector {
	return &Collector{src: src, now: now,
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "exporter", Name: "last_render_duration_seconds",
			Help: "How long the last render of the data took: a new version of what Atlas told is rendered and compressed once, off the scrape path, and served by every scrape until the next.",
		})}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { c.lastDuration.Describe(ch) }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) { c.lastDuration.Collect(ch) }

// group is a group of metric families: its families, and what it renders from a whole view
// and from each target's view (either may be nil). A perSnapshot group renders only when the
// view asks for per-snapshot series (snapshot_metrics), and from a target's project, target,
// HasData and Snapshots alone: it is rendered again only when those change (render.go).
type group struct {
	families    []*metricFamily
	view        func(v *estate.View, gauge gaugeFunc)
	target      func(t *estate.TargetView, gauge gaugeFunc)
	perSnapshot bool
}

// groups are the registered groups, in the order of their files.
var groups []group

// register adds a group; each file's init calls it for its own.
func register(g group) { groups = append(groups, g) }

// gaugeFunc adds a sample of family f with value v. Called by a group's view function, it
// takes every label value of f; by its target function, the values of f's labels after the
// target's own (targetLabels), which it adds.
type gaugeFunc = func(f *metricFamily, v float64, labels ...string)

var (
	targetLabels  = []string{"project_id", "project", "cluster", "kind"}
	projectLabels = []string{"project_id", "project"}
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.Unix()) }
