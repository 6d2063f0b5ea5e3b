package collector

import (
	"strconv"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// The exporter's own health: how the last refreshes went, and which shard it reads.
var (
	up              = gaugeFamily("up", "1 if Atlas answered and accepted the credentials on the last refresh.", nil)
	refreshDuration = gaugeFamily("exporter_last_refresh_duration_seconds", "How long the last refresh of Atlas data took.", nil)
	refreshRequests = gaugeFamily("exporter_last_refresh_requests", "HTTP requests to Atlas of the last refresh of each kind: discovery=\"full\" rediscovered every project, \"partial\" some, \"none\" only read snapshots (and schedules that were due).", []string{"discovery"})
	fullDiscovery   = gaugeFamily("exporter_discovery_timestamp_seconds", "When the last full discovery of projects and clusters started.", nil)
	shardInfo       = gaugeFamily("exporter_shard_info", "The part of the estate this replica reads: the projects whose id hashes to shard (FNV-1a 64 mod total_shards); always 1.", []string{"shard", "total_shards"})
	shardCount      = gaugeFamily("exporter_shards", "How many shards this replica was told the estate is split into (--total-shards), for alerts on shards that are missing or disagree.", nil)
)

func init() {
	register(group{
		families: []*metricFamily{up, refreshDuration, refreshRequests, fullDiscovery, shardInfo, shardCount},
		view: func(v *estate.View, gauge gaugeFunc) {
			h := v.Health
			gauge(up, b2f(h.Up))
			gauge(shardInfo, 1, strconv.Itoa(h.Shard.Index), strconv.Itoa(h.Shard.Total))
			gauge(shardCount, float64(h.Shard.Total))
			if h.Ready {
				gauge(refreshDuration, h.LastRefreshDuration.Seconds())
			}
			for kind, n := range h.LastRequests {
				gauge(refreshRequests, n, kind)
			}
			if !h.DiscoveredAt.IsZero() {
				gauge(fullDiscovery, unix(h.DiscoveredAt))
			}
		},
	})
}
