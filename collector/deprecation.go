package collector

import (
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// What is known of API versions and snapshot endpoints Atlas retires: what its Deprecation and
// Sunset headers said per operation and version, and per configured target whether its
// endpoint is deprecated or answered that it is gone.
var (
	apiDeprecated      = gaugeFamily("exporter_api_deprecated", "1 for each operation and resource version the exporter sends that Atlas's answers say is deprecated (a Deprecation header, or a Sunset date). Absent until such an answer arrives.", []string{"operation", "version"})
	apiSunset          = gaugeFamily("exporter_api_sunset_timestamp_seconds", "When Atlas removes the operation at the resource version the exporter sends, from the Sunset header of its answers: calls fail after it. Absent until such an answer arrives.", []string{"operation", "version"})
	endpointDeprecated = gaugeFamily("endpoint_deprecated", "1 when the cluster's configured or discovered snapshot endpoint is deprecated by Atlas; sunset_date is empty when Atlas announced none.", targetLabels, "sunset_date")
	endpointSunsetAt   = gaugeFamily("endpoint_sunset_timestamp_seconds", "When Atlas removes the cluster's deprecated snapshot endpoint: the date of atlas_backup_endpoint_deprecated's sunset_date, or the time Atlas's Sunset header gave. Absent when no sunset is known.", targetLabels)
	endpointSunset     = gaugeFamily("endpoint_sunset", "1 when the kind's endpoint answered that it is gone (410, 404 on a removed route, or 400 naming another API); its data comes from the replacement kind. cluster is empty for the serverless instance listing.", targetLabels)
)

func init() {
	register(group{
		families: []*metricFamily{apiDeprecated, apiSunset, endpointDeprecated, endpointSunsetAt, endpointSunset},
		view: func(v *estate.View, gauge gaugeFunc) {
			for _, n := range v.Notices {
				gauge(apiDeprecated, 1, n.Operation, n.Version)
				if !n.Sunset.IsZero() {
					gauge(apiSunset, unix(n.Sunset), n.Operation, n.Version)
				}
			}
			for _, pv := range v.Projects {
				if g := pv.ServerlessGone; g != nil {
					gauge(endpointSunset, 1, pv.Project.ID, pv.Project.Name, "", string(g.Kind))
				}
			}
			// Two configured targets of one cluster can have come through one gone endpoint.
			sunset := map[[4]string]bool{}
			for _, ep := range v.Endpoints {
				p, t, lc := ep.Project, ep.Target, ep.Lifecycle
				if lc.Deprecated {
					gauge(endpointDeprecated, 1, p.ID, p.Name, t.Cluster, string(t.Kind), atlas.DayOf(lc.Sunset))
					if !lc.Sunset.IsZero() {
						gauge(endpointSunsetAt, unix(lc.Sunset), p.ID, p.Name, t.Cluster, string(t.Kind))
					}
				}
				for _, g := range ep.Gone {
					key := [4]string{p.ID, p.Name, t.Cluster, string(g.Kind)}
					if !sunset[key] {
						sunset[key] = true
						gauge(endpointSunset, 1, key[:]...)
					}
				}
			}
		},
	})
}
