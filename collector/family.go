package collector

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/proto"
)

// metricFamily is one gauge family of what a view determines.
type metricFamily struct {
	name, help string
	labels     []string // in the order its code gives their values
	// order is, per label in name order (as the client library writes them), the position of
	// its value; prefix is `name="` for each.
	order  []int
	prefix [][]byte
	index  int // in the output order (families); set by setupFamilies
	// counter: the family is a counter (its name ends in _total), else a gauge.
	counter bool
}

// gaugeFamily declares the gauge family atlas_backup_<name> with labels, then extra ones.
func gaugeFamily(name, help string, labels []string, extra ...string) *metricFamily {
	f := &metricFamily{name: namespace + "_" + name, help: help, labels: append(slices.Clip(labels), extra...), index: -1}
	f.order = make([]int, len(f.labels))
	for i := range f.order {
		f.order[i] = i
	}
	slices.SortFunc(f.order, func(a, b int) int { return strings.Compare(f.labels[a], f.labels[b]) })
	for _, i := range f.order {
		f.prefix = append(f.prefix, []byte(f.labels[i]+`="`))
	}
	return f
}

// counterFamily declares the counter family atlas_backup_<name>, which ends in _total: its
// samples are written as a gauge's (both formats name them so), its header as a counter's.
func counterFamily(name, help string, labels []string, extra ...string) *metricFamily {
	if !strings.HasSuffix(name, "_total") {
		panic("collector: counter " + name + " does not end in _total")
	}
	f := gaugeFamily(name, help, labels, extra...)
	f.counter = true
	return f
}

// Format is a text exposition format the data is served in. The sample lines are the same in
// both (the text format's numbers are OpenMetrics numbers too); the families' HELP and TYPE
// lines differ, and OpenMetrics ends with # EOF after the exporter's own metrics.
type Format int

const (
	Text        Format = iota // the text format 0.0.4
	OpenMetrics               // OpenMetrics 1.0.0 (and 0.0.1, which writes the same)
	formats
)

var expfmtFormats = [formats]expfmt.Format{Text: expfmt.FmtText, OpenMetrics: expfmt.FmtOpenMetrics_1_0_0}

// familyTable is every registered family in output order (by name, as a registry sorts
// them), with each one's header per format, plain and as a gzip member.
type familyTable struct {
	list                []*metricFamily
	header, gzipHeaders [formats][][]byte
}

var (
	familiesOnce sync.Once
	table        familyTable
)

// families returns the family table, built once all the groups have registered (at the first
// render).
func families() *familyTable {
	familiesOnce.Do(func() { table = setupFamilies(groups) })
	return &table
}

// setupFamilies orders and indexes the families of gs and writes their headers. A family
// registered twice, or with an invalid name, is a programming error, which the first render
// (in any test) reports.
func setupFamilies(gs []group) familyTable {
	var t familyTable
	seen := map[string]bool{}
	for _, g := range gs {
		for _, f := range g.families {
			if seen[f.name] || !model.LegacyValidation.IsValidMetricName(f.name) {
				panic(fmt.Sprintf("collector: family %q registered twice, or not a valid name", f.name))
			}
			for _, l := range f.labels {
				if !model.LegacyValidation.IsValidLabelName(l) {
					panic(fmt.Sprintf("collector: family %q: label %q is not a valid name", f.name, l))
				}
			}
			seen[f.name] = true
			t.list = append(t.list, f)
		}
	}
	slices.SortFunc(t.list, func(a, b *metricFamily) int { return strings.Compare(a.name, b.name) })
	gz := newCompressor()
	for i, f := range t.list {
		f.index = i
		for ft := range formats {
			h := header(f, expfmtFormats[ft])
			t.header[ft] = append(t.header[ft], h)
			t.gzipHeaders[ft] = append(t.gzipHeaders[ft], gz.member(h))
		}
	}
	return t
}

// header is f's HELP and TYPE lines as expfmt writes them in format: what it writes for f with
// one sample, up to that sample.
func header(f *metricFamily, format expfmt.Format) []byte {
	var buf bytes.Buffer
	mf := &dto.MetricFamily{Name: proto.String(f.name), Help: proto.String(f.help), Type: dto.MetricType_GAUGE.Enum(),
		Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(0)}}}}
	if f.counter {
		mf.Type, mf.Metric = dto.MetricType_COUNTER.Enum(), []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(0)}}}
	}
	enc := expfmt.NewEncoder(&buf, format)
	if err := enc.Encode(mf); err != nil {
		panic(err) // only a family without a name fails
	}
	b := buf.Bytes()
	for i := 0; i < len(b); {
		end := i + bytes.IndexByte(b[i:], '\n') + 1
		if b[i] != '#' {
			return bytes.Clone(b[:i])
		}
		i = end
	}
	panic("collector: expfmt wrote no sample for " + f.name)
}
