// Package collector turns the views the refresh engine publishes (estate.View) into Prometheus
// metrics: it says how the estate looks in Prometheus, and nothing of when or how it is read.
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

// Collector is a prometheus.Collector over the views of a Source. It never reads Atlas.
type Collector struct {
	src Source
	now func() time.Time // for ages, at scrape time

	// What the targets of the last view rendered encode to, kept for the next views as long as
	// a target's view is the same value (estate.TargetView is replaced when it changes).
	mu      sync.Mutex
	version uint64
	cache   map[*estate.TargetView]*encoded
}

// encoded is what one target's view encodes to, each part built when first needed.
type encoded struct {
	metrics []prometheus.Metric // per-cluster metrics
	text    *snapshotText       // per-snapshot samples
}

// New returns a collector of src's views; now is the clock (time.Now in production).
func New(src Source, now func() time.Time) *Collector {
	return &Collector{src: src, now: now, cache: map[*estate.TargetView]*encoded{}}
}

// encodings returns the encodings of v's targets, in order: those of targets whose view did not
// change since the version before are kept, the others start empty. c.mu must be held.
func (c *Collector) encodings(v *estate.View) []*encoded {
	out := make([]*encoded, len(v.Targets))
	if v.Version == c.version {
		for i, t := range v.Targets {
			if out[i] = c.cache[t]; out[i] == nil {
				out[i] = &encoded{}
				c.cache[t] = out[i]
			}
		}
		return out
	}
	cache := make(map[*estate.TargetView]*encoded, len(v.Targets))
	for i, t := range v.Targets {
		if out[i] = c.cache[t]; out[i] == nil {
			out[i] = &encoded{}
		}
		cache[t] = out[i]
	}
	c.cache, c.version = cache, v.Version
	return out
}
