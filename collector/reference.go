package collector

import "slices"

// FamilyDoc describes a family the collector renders, for the metrics reference: docs/metrics.md
// is generated from these (the main package's TestMetricsReference, with -update).
type FamilyDoc struct {
	Name, Help string
	Type       string   // gauge or counter
	Labels     []string // in the order the family declares them
}

// Families lists every family the collector renders, in output order.
func Families() []FamilyDoc {
	var out []FamilyDoc
	for _, f := range families().list {
		typ := "gauge"
		if f.counter {
			typ = "counter"
		}
		out = append(out, FamilyDoc{Name: f.name, Help: f.help, Type: typ, Labels: slices.Clone(f.labels)})
	}
	return out
}
