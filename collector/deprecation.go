package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

var (
	apiDeprecated    = desc("exporter_api_deprecated", "1 for each operation and resource version the exporter sends that Atlas's answers say is deprecated (a Deprecation header, or a Sunset date). Absent until such an answer arrives.", []string{"operation", "version"})
	apiSunset        = desc("exporter_api_sunset_timestamp_seconds", "When Atlas removes the operation at the resource version the exporter sends, from the Sunset header of its answers: calls fail after it. Absent until such an answer arrives.", []string{"operation", "version"})
	endpointSunsetAt = desc("endpoint_sunset_timestamp_seconds", "When Atlas removes the cluster's deprecated snapshot endpoint: the date of atlas_backup_endpoint_deprecated's sunset_date, or the time Atlas's Sunset header gave. Absent when no sunset is known.", targetLabels)
)

// collectNotices exposes what Atlas's Deprecation and Sunset headers said, per operation and
// version.
func collectNotices(ch chan<- prometheus.Metric, heard []atlas.Notice) {
	for _, n := range heard {
		ch <- prometheus.MustNewConstMetric(apiDeprecated, prometheus.GaugeValue, 1, n.Operation, n.Version)
		if !n.Sunset.IsZero() {
			ch <- prometheus.MustNewConstMetric(apiSunset, prometheus.GaugeValue, unix(n.Sunset), n.Operation, n.Version)
		}
	}
}

// dateOf is t as YYYY-MM-DD (UTC), or "" for the zero time.
func dateOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateOnly)
}
