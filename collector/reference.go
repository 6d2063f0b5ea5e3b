package collector

import "slices"

// FamilyDoc describes a family the collector renders, for the metrics reference: docs/metrics.md
// is generated from these (the main package's TestMetricsReference, with -update).
type FamilyDoc struct {
	Name, Help string
	Labels     []string // in the order the family declares them
}

// Families lists every family the collector renders (all gauges), in output order.
func Families() []FamilyDoc {
	var out []FamilyDoc
	for _, f := range families().list {
		out = append(out, FamilyDoc{Name: f.name, Help: f.help, Labels: slices.Clone(f.labels)})
	}
	return out
}
