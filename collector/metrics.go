package collector

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

var (
	targetLabels = []string{"project_id", "project", "cluster", "kind"}

	desc = func(name, help string, labels []string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append(append([]string{}, labels...), extra...), nil)
	}

	// Per target (project, cluster, kind).
	snapshotsCount     = desc("snapshots", "Snapshots Atlas lists for the cluster, by status; those it dates in the future are in future_snapshots instead.", targetLabels, "status")
	lastCompleted      = desc("last_completed_snapshot_timestamp_seconds", "When the newest completed snapshot was taken. Absent when there is none.", targetLabels)
	lastStatus         = desc("last_snapshot_status", "Status of the newest snapshot: 1 for its status, 0 for the others.", targetLabels, "status")
	oldestCompleted    = desc("oldest_completed_snapshot_timestamp_seconds", "When the oldest completed snapshot was taken: the start of the restore window.", targetLabels)
	lastFallback       = desc("last_fallback_snapshot_timestamp_seconds", "When the newest fallback snapshot was taken (Atlas fell back because the primary snapshot method failed). Absent when there is none.", targetLabels)
	storageBytes       = desc("storage_bytes", "Storage taken by all the cluster's snapshots: negative sizes, which Atlas should never give, are left out (and logged), and the sum stops at 2^63-1. Absent for kinds without sizes (flex, tenant).", targetLabels)
	collectSuccess     = desc("collect_success", "1 if the last attempt to read the cluster's snapshots (and, for Cloud Backup, its backup schedule) succeeded, 0 if it failed (the last good data stays exposed).", targetLabels)
	scheduleInterval   = desc("schedule_interval_seconds", "Longest time the cluster's backup policy lets pass between two scheduled snapshots: the period of its most frequent item (months and years at their longest). Cloud Backup only; absent when the policy schedules none.", targetLabels)
	nextSnapshot       = desc("next_snapshot_timestamp_seconds", "When Atlas plans to take the cluster's next scheduled snapshot, from its backup schedule. Cloud Backup only.", targetLabels)
	collectTimestamp   = desc("collect_timestamp_seconds", "When the snapshot data exposed for the cluster was fetched from Atlas.", targetLabels)
	endpointDeprecated = desc("endpoint_deprecated", "1 when the cluster's configured or discovered snapshot endpoint is deprecated by Atlas; sunset_date is empty when Atlas announced none.", targetLabels, "sunset_date")
	endpointSunset     = desc("endpoint_sunset", "1 when the kind's endpoint answered that it is gone (410, 404 on a removed route, or 400 naming another API); its data comes from the replacement kind. cluster is empty for the serverless instance listing.", targetLabels)
	clusterInfo        = desc("cluster_info", "Discovered cluster; always 1. kind is the snapshot kind of its backups: the one discovery finds (cloud, flex, serverless); for a cluster discovery finds none for, the kind its snapshots are read from as the configuration names it (legacy backup, which discovery cannot see; with several, the first of cloud, flex, serverless, tenant, legacy whose listing has snapshots); none when neither (M0, backup disabled).", []string{"project_id", "project", "cluster", "kind", "type", "tier", "state", "mongodb_version"})
	clusterBackup      = desc("cluster_backup_enabled", "1 if the discovered cluster is backed up: Atlas says its backups are enabled, or its snapshots are listed through a kind the configuration names (legacy backup); 0 when cluster_info's kind is none (always for M0).", []string{"project_id", "project", "cluster"})
	clusterPaused      = desc("cluster_paused", "1 if the discovered cluster is paused: Atlas takes no scheduled snapshots of a paused cluster.", []string{"project_id", "project", "cluster"})
	discoverySuccess   = desc("discovery_success", "1 if the last discovery of the project's clusters succeeded.", []string{"project_id", "project"})
	discoveryTimestamp = desc("discovery_timestamp_seconds", "When the project's clusters were last discovered.", []string{"project_id", "project"})
	targetMissing      = desc("target_missing", "1 for each configured target Atlas does not show: a project (cluster and kind empty), a cluster the configuration names (kind empty), or a kind a cluster Atlas lists cannot be read as. project is as configured (name or id; for discover_all_projects the project's name, or empty for a cluster no project holds). Absent for targets that are found.", []string{"project", "cluster", "kind"})
	up                 = desc("up", "1 if Atlas answered and accepted the credentials on the last refresh.", nil)
	refreshDuration    = desc("exporter_last_refresh_duration_seconds", "How long the last refresh of Atlas data took.", nil)
	refreshRequests    = desc("exporter_last_refresh_requests", "HTTP requests to Atlas of the last refresh of each kind: discovery=\"full\" rediscovered every project, \"partial\" some, \"none\" only read snapshots (and schedules that were due).", []string{"discovery"})
	fullDiscovery      = desc("exporter_discovery_timestamp_seconds", "When the last full discovery of projects and clusters started.", nil)
	shardInfo          = desc("exporter_shard_info", "The part of the estate this replica reads: the projects whose id hashes to shard (FNV-1a 64 mod total_shards); always 1.", []string{"shard", "total_shards"})
	shardCount         = desc("exporter_shards", "How many shards this replica was told the estate is split into (--total-shards), for alerts on shards that are missing or disagree.", nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{snapshotsCount, lastCompleted, lastStatus, oldestCompleted, lastFallback, storageBytes, collectSuccess, collectTimestamp, scheduleInterval, nextSnapshot,
		futureSnapshots, endpointDeprecated, endpointSunset, clusterInfo, clusterBackup, clusterPaused, discoverySuccess, discoveryTimestamp, targetMissing, up, refreshDuration,
		refreshRequests, fullDiscovery, shardInfo, shardCount, apiDeprecated, apiSunset, endpointSunsetAt} {
		ch <- d
	}
	for _, d := range jobsDescs {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.Unix()) }

// Collect implements prometheus.Collector: it renders the current view.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	v := c.src.View()
	h := v.Health
	ch <- prometheus.MustNewConstMetric(up, prometheus.GaugeValue, b2f(h.Up))
	ch <- prometheus.MustNewConstMetric(shardInfo, prometheus.GaugeValue, 1, strconv.Itoa(h.Shard.Index), strconv.Itoa(h.Shard.Total))
	ch <- prometheus.MustNewConstMetric(shardCount, prometheus.GaugeValue, float64(h.Shard.Total))
	if h.Ready {
		ch <- prometheus.MustNewConstMetric(refreshDuration, prometheus.GaugeValue, h.LastRefreshDuration.Seconds())
	}
	for kind, n := range h.LastRequests {
		ch <- prometheus.MustNewConstMetric(refreshRequests, prometheus.GaugeValue, n, kind)
	}
	if !h.DiscoveredAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(fullDiscovery, prometheus.GaugeValue, unix(h.DiscoveredAt))
	}
	for _, m := range v.Missing {
		ch <- prometheus.MustNewConstMetric(targetMissing, prometheus.GaugeValue, 1, m.Project, m.Cluster, m.Kind)
	}
	for _, pv := range v.Projects {
		p := pv.Project
		ch <- prometheus.MustNewConstMetric(discoverySuccess, prometheus.GaugeValue, b2f(pv.DiscoveryOK), p.ID, p.Name)
		if !pv.DiscoveredAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(discoveryTimestamp, prometheus.GaugeValue, unix(pv.DiscoveredAt), p.ID, p.Name)
		}
		if g := pv.ServerlessGone; g != nil {
			ch <- prometheus.MustNewConstMetric(endpointSunset, prometheus.GaugeValue, 1, p.ID, p.Name, "", string(g.Kind))
		}
		collectCompliance(ch, pv)
		for _, cl := range pv.Clusters {
			kind := string(cl.BackupKind)
			enabled := kind != ""
			if !enabled {
				kind = "none"
			}
			ch <- prometheus.MustNewConstMetric(clusterInfo, prometheus.GaugeValue, 1, p.ID, p.Name, cl.Name, kind, cl.Type, cl.Tier, cl.State, cl.MongoDBVersion)
			ch <- prometheus.MustNewConstMetric(clusterBackup, prometheus.GaugeValue, b2f(enabled), p.ID, p.Name, cl.Name)
			ch <- prometheus.MustNewConstMetric(clusterPaused, prometheus.GaugeValue, b2f(cl.Paused), p.ID, p.Name, cl.Name)
		}
	}
	collectNotices(ch, v.Notices)
	sunset := map[[4]string]bool{}
	for _, ep := range v.Endpoints {
		p, t, lc := ep.Project, ep.Target, ep.Lifecycle
		if lc.Deprecated {
			ch <- prometheus.MustNewConstMetric(endpointDeprecated, prometheus.GaugeValue, 1, p.ID, p.Name, t.Cluster, string(t.Kind), dateOf(lc.Sunset))
			if !lc.Sunset.IsZero() {
				ch <- prometheus.MustNewConstMetric(endpointSunsetAt, prometheus.GaugeValue, unix(lc.Sunset), p.ID, p.Name, t.Cluster, string(t.Kind))
			}
		}
		for _, g := range ep.Gone {
			key := [4]string{p.ID, p.Name, t.Cluster, string(g.Kind)}
			if !sunset[key] {
				sunset[key] = true
				ch <- prometheus.MustNewConstMetric(endpointSunset, prometheus.GaugeValue, 1, key[:]...)
			}
		}
	}
	c.mu.Lock()
	encs := c.encodings(v)
	for i, enc := range encs {
		if enc.metrics == nil {
			enc.metrics = buildTarget(v.Targets[i])
		}
	}
	c.mu.Unlock()
	for _, enc := range encs {
		for _, m := range enc.metrics {
			ch <- m
		}
	}
}

// buildTarget builds a target's per-cluster metrics. They change only when the target does,
// so every scrape until then reuses them.
func buildTarget(t *estate.TargetView) []prometheus.Metric {
	p, st := t.Project, t.Target
	lv := []string{p.ID, p.Name, st.Cluster, string(st.Kind)}
	var out []prometheus.Metric
	gauge := func(d *prometheus.Desc, v float64, extra ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(append(make([]string, 0, len(lv)+len(extra)), lv...), extra...)...))
	}
	gauge(collectSuccess, b2f(t.OK))
	if !t.HasData {
		return out
	}
	gauge(collectTimestamp, unix(t.FetchedAt))
	if sch := t.Schedule; sch != nil {
		if d, ok := sch.Interval(); ok {
			gauge(scheduleInterval, d.Seconds())
		}
		if !sch.NextSnapshot.IsZero() {
			gauge(nextSnapshot, unix(sch.NextSnapshot))
		}
	}
	buildJobs(t, gauge)
	// Snapshots from the future take storage too, but are no part of the cluster's history yet.
	var size int64
	hasSize := st.Kind.HasSizes()
	for _, s := range t.Snapshots {
		if s.HasSize {
			size, hasSize = atlas.AddSizes(size, s.SizeBytes), true
		}
	}
	counts := map[atlas.Status]float64{}
	var newestDone, oldestDone, newestFallback *atlas.Snapshot
	snaps := t.Current()
	for i := range snaps {
		s := &snaps[i]
		counts[s.Status]++
		if s.Status == atlas.StatusCompleted {
			if newestDone == nil || s.CreatedAt.After(newestDone.CreatedAt) {
				newestDone = s
			}
			if oldestDone == nil || s.CreatedAt.Before(oldestDone.CreatedAt) {
				oldestDone = s
			}
		}
		if s.IsFallback() && (newestFallback == nil || s.CreatedAt.After(newestFallback.CreatedAt)) {
			newestFallback = s
		}
	}
	for _, st := range atlas.Statuses {
		gauge(snapshotsCount, counts[st], string(st))
	}
	if counts[atlas.StatusUnknown] > 0 {
		gauge(snapshotsCount, counts[atlas.StatusUnknown], string(atlas.StatusUnknown))
	}
	gauge(futureSnapshots, float64(t.Future))
	if hasSize {
		gauge(storageBytes, float64(size))
	}
	if newestDone != nil {
		gauge(lastCompleted, unix(newestDone.CreatedAt))
		gauge(oldestCompleted, unix(oldestDone.CreatedAt))
	}
	if newestFallback != nil {
		gauge(lastFallback, unix(newestFallback.CreatedAt))
	}
	if len(snaps) > 0 {
		// Snapshots are kept newest first.
		newest := snaps[0].Status
		for _, st := range atlas.Statuses {
			gauge(lastStatus, b2f(newest == st), string(st))
		}
	}
	return out
}
