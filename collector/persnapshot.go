package collector

import (
	"bytes"
	"io"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// Per-snapshot series are most of the output of a large estate (nine per snapshot: 900,000 for
// 100,000 snapshots). Gathering them through a registry builds every sample as a protobuf
// message at each scrape, which costs gigabytes and seconds there, so they bypass it, as
// kube-state-metrics does: each target's label pairs are formatted as text (by expfmt) once per
// version of the target, and a scrape writes the sample lines from those bytes and the
// snapshots' values.

type snapshotFamily struct {
	name, help string
	nameBytes  []byte
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
	f.nameBytes = []byte(f.name)
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

// snapshotText is one target's per-snapshot label pairs, escaped and formatted by expfmt once
// per version of the target; a scrape assembles the sample lines from them. Caching whole lines instead would
// hold most of the exposition in memory (about 1.5 KB per snapshot, 225 MB at 150,000).
type snapshotText struct {
	snapshots []atlas.Snapshot
	// `cluster="…"`, `kind="…"`, and `project="…",project_id="…"`: the target's label pairs
	// in name order, split where the info family's own labels fall between them.
	cluster, kind, project []byte
	ids                    [][]byte      // per snapshot: `snapshot_id="…"`
	infos                  []*infoLabels // per snapshot
}

// infoLabels are the labels of a snapshot's info sample that its target does not set.
type infoLabels struct{ frequency, version, typ []byte }

// statusLabels are `status="…"` per atlas.Statuses.
var statusLabels = func() [][]byte {
	out := make([][]byte, len(atlas.Statuses))
	for i, st := range atlas.Statuses {
		out[i] = labelText(labelPair("status", string(st)))
	}
	return out
}()

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}

// labelText formats label pairs as the exposition format writes them between the braces.
func labelText(pairs ...*dto.LabelPair) []byte {
	var buf bytes.Buffer
	mf := &dto.MetricFamily{Name: proto.String("x"), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Label: pairs, Gauge: &dto.Gauge{Value: proto.Float64(0)}}}}
	if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
		// Only an empty family or name fails, and neither can happen here.
		panic(err)
	}
	b := buf.Bytes()
	return bytes.Clone(b[bytes.IndexByte(b, '{')+1 : bytes.LastIndexByte(b, '}')])
}

// buildSnapshotText formats a target's label pairs. Info labels repeat across snapshots (a few
// frequencies, types and versions), so each distinct set is formatted and kept once.
func buildSnapshotText(tv *estate.TargetView) *snapshotText {
	p, t := tv.Project, tv.Target
	n := len(tv.Snapshots)
	st := &snapshotText{
		snapshots: tv.Snapshots,
		cluster:   labelText(labelPair("cluster", t.Cluster)), kind: labelText(labelPair("kind", string(t.Kind))),
		project: labelText(labelPair("project", p.Name), labelPair("project_id", p.ID)),
		ids:     make([][]byte, n), infos: make([]*infoLabels, n),
	}
	interned := map[[3]string]*infoLabels{}
	for i := range tv.Snapshots {
		s := &tv.Snapshots[i]
		st.ids[i] = labelText(labelPair("snapshot_id", s.ID))
		key := [3]string{s.Frequency, s.MongoDBVersion, s.Type}
		il := interned[key]
		if il == nil {
			il = &infoLabels{labelText(labelPair("frequency", s.Frequency)), labelText(labelPair("mongodb_version", s.MongoDBVersion)), labelText(labelPair("type", s.Type))}
			interned[key] = il
		}
		st.infos[i] = il
	}
	return st
}

// lineWriter assembles sample lines into a buffer it hands to w in large writes.
type lineWriter struct {
	w   io.Writer
	buf []byte
	err error
}

// sample writes `name{pairs…} value`; pairs are label texts in name order.
func (lw *lineWriter) sample(name []byte, v float64, pairs ...[]byte) {
	b := append(lw.buf, name...)
	b = append(b, '{')
	for i, p := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	b = append(b, '}', ' ')
	b = appendValue(b, v)
	lw.buf = append(b, '\n')
	if len(lw.buf) >= 64<<10 {
		lw.flush()
	}
}

func (lw *lineWriter) flush() {
	if lw.err == nil && len(lw.buf) > 0 {
		_, lw.err = lw.w.Write(lw.buf)
	}
	lw.buf = lw.buf[:0]
}

// appendValue formats v as expfmt does for the values these families hold.
func appendValue(b []byte, v float64) []byte {
	switch v {
	case 0:
		return append(b, '0')
	case 1:
		return append(b, '1')
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// write writes the samples of family f of one target; now is the scrape's time, for ages.
func (st *snapshotText) write(lw *lineWriter, f *snapshotFamily, now time.Time) {
	name := f.nameBytes
	for i := range st.snapshots {
		s := &st.snapshots[i]
		id := st.ids[i]
		switch f {
		case familyStatus:
			for j, sl := range statusLabels {
				lw.sample(name, b2f(s.Status == atlas.Statuses[j]), st.cluster, st.kind, st.project, id, sl)
			}
		case familyCreated:
			if !s.CreatedAt.IsZero() {
				lw.sample(name, unix(s.CreatedAt), st.cluster, st.kind, st.project, id)
			}
		case familyAge:
			if !s.CreatedAt.IsZero() {
				lw.sample(name, float64(now.Unix()-s.CreatedAt.Unix()), st.cluster, st.kind, st.project, id)
			}
		case familyExpires:
			if !s.ExpiresAt.IsZero() {
				lw.sample(name, unix(s.ExpiresAt), st.cluster, st.kind, st.project, id)
			}
		case familySize:
			if s.HasSize {
				lw.sample(name, float64(s.SizeBytes), st.cluster, st.kind, st.project, id)
			}
		case familyInfo:
			il := st.infos[i]
			lw.sample(name, 1, st.cluster, il.frequency, st.kind, il.version, st.project, id, il.typ)
		}
	}
}

// has reports whether the target has any sample of family f.
func (st *snapshotText) has(f *snapshotFamily) bool {
	for i := range st.snapshots {
		s := &st.snapshots[i]
		switch {
		case f == familyStatus, f == familyInfo,
			(f == familyCreated || f == familyAge) && !s.CreatedAt.IsZero(),
			f == familyExpires && !s.ExpiresAt.IsZero(),
			f == familySize && s.HasSize:
			return true
		}
	}
	return false
}

// WriteSnapshotMetrics writes the per-snapshot families in the text exposition format (0.0.4),
// to follow the registry's output in the same response. It writes nothing when
// snapshot_metrics is off.
func (c *Collector) WriteSnapshotMetrics(w io.Writer) error {
	v := c.src.View()
	if !v.SnapshotMetrics {
		return nil
	}
	now := c.now()
	texts := c.cache.texts(v)
	// The texts are never changed once built (a target that changes gets a new view, and a new
	// text), so they are written without holding the lock.
	lw := &lineWriter{w: w, buf: make([]byte, 0, 72<<10)}
	for _, f := range snapshotFamilies {
		wroteHeader := false
		for _, st := range texts {
			if !st.has(f) {
				continue
			}
			if !wroteHeader {
				lw.buf = append(lw.buf, f.header...)
				wroteHeader = true
			}
			st.write(lw, f, now)
		}
	}
	lw.flush()
	return lw.err
}
