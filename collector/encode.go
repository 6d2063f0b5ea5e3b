package collector

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strconv"
	"strings"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// The sample lines are encoded here rather than by expfmt, whose encoder takes protobuf
// messages: building one per sample is what a registry costs (see collector.go). They are
// written as expfmt writes the text format (label pairs in name order, values escaped as
// expfmt escapes them, numbers as it formats them), which a test checks against expfmt itself;
// the headers are expfmt's own (family.go).

// labelValue escapes a label value as the exposition formats do (expfmt escapes the same way).
var labelValue = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// targetPairs are a target's label pairs, `name="value"` for each of targetLabels.
type targetPairs [4][]byte

// encoder holds, per family, the sample lines of what is being rendered (one group of targets,
// or the families of the whole view), and compresses them, one gzip member per family.
type encoder struct {
	lines [][]byte // per family index
	pairs targetPairs
	gz    *compressor
}

func newEncoder() *encoder { return &encoder{gz: newCompressor()} }

// reset empties the lines, keeping their buffers for the next group of the render.
func (e *encoder) reset(n int) {
	if len(e.lines) != n {
		e.lines = make([][]byte, n)
	}
	for i := range e.lines {
		e.lines[i] = e.lines[i][:0]
	}
}

// viewGauge adds a sample of a family of the whole view; values are all its label values.
func (e *encoder) viewGauge(f *metricFamily, v float64, values ...string) {
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("collector: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	e.add(f, v, nil, values)
}

// forTarget formats t's label pairs and returns the gaugeFunc of its families.
func (e *encoder) forTarget(t *estate.TargetView) gaugeFunc {
	for i, v := range []string{t.Project.ID, t.Project.Name, t.Target.Cluster, string(t.Target.Kind)} {
		e.pairs[i] = appendPair(e.pairs[i][:0], []byte(targetLabels[i]+`="`), v)
	}
	return func(f *metricFamily, v float64, extra ...string) {
		if len(extra) != len(f.labels)-len(targetLabels) {
			panic(fmt.Sprintf("collector: %s takes %d label values after the target's, got %d", f.name, len(f.labels)-len(targetLabels), len(extra)))
		}
		e.add(f, v, &e.pairs, extra)
	}
}

// add appends a sample line of f: with target set, its first labels are the target's
// (formatted in target) and values the rest.
func (e *encoder) add(f *metricFamily, v float64, target *targetPairs, values []string) {
	if f.index < 0 || f.index >= len(e.lines) || table.list[f.index] != f {
		panic("collector: family " + f.name + " is not registered")
	}
	skip := 0
	if target != nil {
		skip = len(targetLabels)
	}
	b := append(e.lines[f.index], f.name...)
	if len(f.order) > 0 {
		b = append(b, '{')
		for i, at := range f.order {
			if i > 0 {
				b = append(b, ',')
			}
			if at < skip {
				b = append(b, target[at]...)
			} else {
				b = appendPair(b, f.prefix[i], values[at-skip])
			}
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendValue(b, v)
	e.lines[f.index] = append(b, '\n')
}

// appendPair appends `name="value"`, the value escaped; prefix is `name="`.
func appendPair(b, prefix []byte, value string) []byte {
	b = append(b, prefix...)
	b = append(b, labelValue.Replace(value)...)
	return append(b, '"')
}

// appendValue formats v as expfmt's text encoder does.
func appendValue(b []byte, v float64) []byte {
	switch v {
	case 0:
		return append(b, '0')
	case 1:
		return append(b, '1')
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// compressor makes gzip members. Members concatenate (RFC 1952): a gzip reader, Go's and so
// Prometheus's, reads them one after the other as one stream.
type compressor struct {
	buf bytes.Buffer
	w   *gzip.Writer
}

func newCompressor() *compressor {
	// Favour speed over ratio: the data is large and changes with every refresh.
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return &compressor{w: w}
}

// member returns p compressed as one gzip member.
func (c *compressor) member(p []byte) []byte {
	c.buf.Reset()
	c.add(p)
	return bytes.Clone(c.buf.Bytes())
}

// add appends p compressed as one gzip member to c.buf.
func (c *compressor) add(p []byte) {
	c.w.Reset(&c.buf)
	_, _ = c.w.Write(p) // a bytes.Buffer does not fail
	_ = c.w.Close()
}
