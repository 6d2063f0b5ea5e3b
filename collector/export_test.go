package collector

// SnapshotMetricNames lists the per-snapshot metric names, which WriteSnapshotMetrics writes
// rather than Collect.
func SnapshotMetricNames() []string {
	out := make([]string, len(snapshotFamilies))
	for i, f := range snapshotFamilies {
		out[i] = f.name
	}
	return out
}
