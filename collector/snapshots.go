package collector

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Per-snapshot series are most of the output of a large estate (nine per snapshot: 900,000 for
// 100,000 snapshots). Gathering them through a registry builds every sample as a protobuf
// message at each scrape, which costs gigabytes and seconds there, so they bypass it, as
// kube-state-metrics does: each target's samples are encoded as text (by expfmt) once per
// refresh, and a scrape copies those bytes. Only the ages change between refreshes; they are
// encoded at each scrape, one target at a time.

type snapshotFamily struct {
	name, help string
	header     []byte // "# HELP …\n# TYPE … gauge\n"
}

var (
	familyStatus  = newSnapshotFamily("snapshot_status", "Status of the snapshot: 1 for its status, 0 for the others.")
	familyCreated = newSnapshotFamily("snapshot_created_timestamp_seconds", "When Atlas took the snapshot (Flex/tenant: when it finished; legacy: its created date).")
	familyAge     = newSnapshotFamily("snapshot_age_seconds", "Seconds since the snapshot was taken, at scrape time.")
	familyExpires = newSnapshotFamily("snapshot_expires_timestamp_seconds", "When Atlas deletes the snapshot (Flex/tenant: when its download link expires). Absent where Atlas gives none.")
	familySize    = newSnapshotFamily("snapshot_size_bytes", "Storage the snapshot takes (legacy: summed over parts). Absent for kinds without a size (flex, tenant).")
	familyInfo    = newSnapshotFamily("snapshot_info", "Snapshot metadata; always 1.")

	// snapshotFamilies in output order; the age family is encoded per scrape.
	snapshotFamilies = []*snapshotFamily{familyStatus, familyCreated, familyAge, familyExpires, familySize, familyInfo}
)

func newSnapshotFamily(name, help string) *snapshotFamily {
	f := &snapshotFamily{name: namespace + "_" + name, help: help}
	var buf bytes.Buffer
	mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(help), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(0)}}}}
	if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
		panic(err)
	}
	lines := bytes.SplitAfterN(buf.Bytes(), []byte("\n"), 3)
	f.header = append(lines[0], lines[1]...)
	return f
}

// snapshotText is one target's encoded per-snapshot samples.
type snapshotText struct {
	blocks    map[*snapshotFamily][]byte
	snapshots []atlas.Snapshot
	labels    [][]*dto.LabelPair // per snapshot: its target and snapshot_id labels
}

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

func gaugeSample(labels []*dto.LabelPair, v float64) *dto.Metric {
	return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: proto.Float64(v)}}
}

// encodeSamples encodes samples of family f as text, without the family's HELP and TYPE lines.
func encodeSamples(f *snapshotFamily, samples []*dto.Metric) []byte {
	if len(samples) == 0 {
		return nil
	}
	var buf bytes.Buffer
	mf := &dto.MetricFamily{Name: proto.String(f.name), Type: dto.MetricType_GAUGE.Enum(), Metric: samples}
	if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
		// Only an empty family or name fails, and neither can happen here.
		panic(err)
	}
	b := buf.Bytes()
	// Drop "# TYPE", and keep an exact-size copy: the buffer's spare capacity would otherwise
	// stay allocated for as long as the block is cached.
	return bytes.Clone(b[bytes.IndexByte(b, '\n')+1:])
}

// buildSnapshotText encodes a target's per-snapshot samples, all but the ages. Label pairs
// are shared between samples and listed in name order, as the exposition format prefers.
func buildSnapshotText(ts *targetState) *snapshotText {
	p, t := ts.project, ts.served
	cluster, kind, project, projectID := labelPair("cluster", t.Cluster), labelPair("kind", string(t.Kind)), labelPair("project", p.Name), labelPair("project_id", p.ID)
	statuses := make([]*dto.LabelPair, len(atlas.Statuses))
	for i, st := range atlas.Statuses {
		statuses[i] = labelPair("status", string(st))
	}
	n := len(ts.snapshots)
	st := &snapshotText{blocks: map[*snapshotFamily][]byte{}, snapshots: ts.snapshots, labels: make([][]*dto.LabelPair, n)}
	status, created, expires, size, info := make([]*dto.Metric, 0, 4*n), make([]*dto.Metric, 0, n), make([]*dto.Metric, 0, n), make([]*dto.Metric, 0, n), make([]*dto.Metric, 0, n)
	for i := range ts.snapshots {
		s := &ts.snapshots[i]
		id := labelPair("snapshot_id", s.ID)
		lv := []*dto.LabelPair{cluster, kind, project, projectID, id}
		st.labels[i] = lv
		for j, sl := range statuses {
			status = append(status, gaugeSample([]*dto.LabelPair{cluster, kind, project, projectID, id, sl}, b2f(s.Status == atlas.Statuses[j])))
		}
		if !s.CreatedAt.IsZero() {
			created = append(created, gaugeSample(lv, unix(s.CreatedAt)))
		}
		if !s.ExpiresAt.IsZero() {
			expires = append(expires, gaugeSample(lv, unix(s.ExpiresAt)))
		}
		if s.HasSize {
			size = append(size, gaugeSample(lv, float64(s.SizeBytes)))
		}
		info = append(info, gaugeSample([]*dto.LabelPair{cluster, labelPair("frequency", s.Frequency), kind, labelPair("mongodb_version", s.MongoDBVersion),
			project, projectID, id, labelPair("type", s.Type)}, 1))
	}
	st.blocks[familyStatus] = encodeSamples(familyStatus, status)
	st.blocks[familyCreated] = encodeSamples(familyCreated, created)
	st.blocks[familyExpires] = encodeSamples(familyExpires, expires)
	st.blocks[familySize] = encodeSamples(familySize, size)
	st.blocks[familyInfo] = encodeSamples(familyInfo, info)
	return st
}

// ages encodes the ages of a target's snapshots at now.
func (st *snapshotText) ages(now time.Time) []byte {
	samples := make([]*dto.Metric, 0, len(st.snapshots))
	for i, s := range st.snapshots {
		if !s.CreatedAt.IsZero() {
			samples = append(samples, gaugeSample(st.labels[i], float64(now.Unix()-s.CreatedAt.Unix())))
		}
	}
	return encodeSamples(familyAge, samples)
}

// WriteSnapshotMetrics writes the per-snapshot families in the text exposition format (0.0.4),
// to follow the registry's output in the same response. It writes nothing when
// snapshot_metrics is off.
func (c *Collector) WriteSnapshotMetrics(w io.Writer) error {
	c.mu.Lock()
	if !c.settings.SnapshotMetrics {
		c.mu.Unlock()
		return nil
	}
	now := c.now()
	texts := make([]*snapshotText, 0, len(c.targets))
	for _, ts := range c.servedTargets() {
		if !ts.hasData {
			continue
		}
		if ts.text == nil || ts.textGen != c.generation {
			ts.text, ts.textGen = buildSnapshotText(ts), c.generation
		}
		texts = append(texts, ts.text)
	}
	c.mu.Unlock()
	// The texts are never changed once built (a refresh replaces them), so they are written
	// without holding the lock.
	for _, f := range snapshotFamilies {
		wroteHeader := false
		for _, st := range texts {
			var block []byte
			if f == familyAge {
				block = st.ages(now)
			} else {
				block = st.blocks[f]
			}
			if len(block) == 0 {
				continue
			}
			if !wroteHeader {
				if _, err := w.Write(f.header); err != nil {
					return err
				}
				wroteHeader = true
			}
			if _, err := w.Write(block); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteText writes everything /metrics serves in the text exposition format: the families of
// reg (which holds c and the exporter's own metrics), then c's per-snapshot families. Like
// promhttp's ContinueOnError it writes what reg gathered even when gathering partly failed,
// and returns that error after.
func WriteText(w io.Writer, reg prometheus.Gatherer, c *Collector) error {
	mfs, gatherErr := reg.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	if err := c.WriteSnapshotMetrics(w); err != nil {
		return err
	}
	return gatherErr
}

// servedTargets returns the targets to expose, one per served (project, cluster, kind), in a
// stable order; c.mu must be held.
func (c *Collector) servedTargets() []*targetState {
	keys := make([]atlas.Target, 0, len(c.targets))
	for t := range c.targets {
		keys = append(keys, t)
	}
	slices.SortFunc(keys, func(a, b atlas.Target) int {
		return cmp.Or(strings.Compare(a.ProjectID, b.ProjectID), strings.Compare(a.Cluster, b.Cluster),
			strings.Compare(string(a.Kind), string(b.Kind)), cmp.Compare(b2f(a.Sharded), b2f(b.Sharded)))
	})
	seen := map[atlas.Target]bool{}
	out := make([]*targetState, 0, len(keys))
	for _, k := range keys {
		ts := c.targets[k]
		s := ts.served
		s.Sharded = false
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, ts)
	}
	return out
}
