package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// cache keeps what the targets of the last view rendered to, for the views that follow: a
// target's view is replaced when the target changes, so an encoding is kept exactly as long as
// the view it was made from is the same value, whatever else changed.
type cache struct {
	mu      sync.Mutex
	version uint64
	byView  map[*estate.TargetView]*encoded
}

// encoded is what one target's view renders to, each part made when first needed.
type encoded struct {
	metrics []prometheus.Metric // the families of the groups
	text    *snapshotText       // the per-snapshot samples' label texts
}

// metrics returns the metrics of v's targets, in order.
func (c *cache) metrics(v *estate.View) [][]prometheus.Metric {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]prometheus.Metric, len(v.Targets))
	for i, enc := range c.of(v) {
		if enc.metrics == nil {
			enc.metrics = targetMetrics(v.Targets[i])
		}
		out[i] = enc.metrics
	}
	return out
}

// texts returns the per-snapshot texts of v's targets that have data, in order.
func (c *cache) texts(v *estate.View) []*snapshotText {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*snapshotText, 0, len(v.Targets))
	for i, enc := range c.of(v) {
		t := v.Targets[i]
		if !t.HasData {
			continue
		}
		if enc.text == nil {
			enc.text = buildSnapshotText(t)
		}
		out = append(out, enc.text)
	}
	return out
}

// of returns the encodings of v's targets, in order: for a new version, those of the targets
// whose view is the one of the version before are kept, and the others dropped. c.mu must be
// held.
func (c *cache) of(v *estate.View) []*encoded {
	out := make([]*encoded, len(v.Targets))
	if v.Version != c.version || c.byView == nil {
		kept := make(map[*estate.TargetView]*encoded, len(v.Targets))
		for _, t := range v.Targets {
			if enc := c.byView[t]; enc != nil {
				kept[t] = enc
			}
		}
		c.byView, c.version = kept, v.Version
	}
	for i, t := range v.Targets {
		enc := c.byView[t]
		if enc == nil {
			enc = &encoded{}
			c.byView[t] = enc
		}
		out[i] = enc
	}
	return out
}
