package collector

import (
	"slices"
	"strconv"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// How long a Cloud Backup cluster's policy keeps its snapshots, item by item, measured as
// atlas.PolicyItem.Retention measures it (months and years at their Gregorian average), as the
// compliance minimums are (compliance.go), so that the two compare.
var (
	scheduleRetention = gaugeFamily("schedule_retention_seconds", "How long the cluster's backup policy keeps the snapshots of one policy item (months and years at their average length, 30.436875 and 365.2425 days); one series per item, interval being its frequencyInterval (hours for hourly items; the day, weekday or month for the others). Cloud Backup only; absent for an item whose retention unit Atlas does not document.", targetLabels, "frequency", "interval")
	extraRetention    = gaugeFamily("schedule_extra_retention_seconds", "Extra time the cluster's backup policy keeps the snapshots of a frequency beyond their item's retention (its extra retention settings). Cloud Backup only; absent where the policy sets none.", targetLabels, "frequency")
)

func init() {
	register(group{
		families: []*metricFamily{scheduleRetention, extraRetention},
		target:   buildRetention,
	})
}

// buildRetention adds a target's retention series: one per policy item (two items of the same
// frequency and interval would be one series: the longer counts), one per frequency with extra
// retention.
func buildRetention(t *estate.TargetView, gauge gaugeFunc) {
	if !t.HasData || t.Schedule == nil {
		return
	}
	type key struct {
		frequency string
		interval  int
	}
	var keys []key
	kept := map[key]float64{}
	for _, it := range t.Schedule.Items {
		d := it.Retention()
		if d == 0 {
			continue
		}
		k := key{it.Frequency, it.Interval}
		if _, ok := kept[k]; !ok {
			keys = append(keys, k)
		}
		kept[k] = max(kept[k], d.Seconds())
	}
	for _, k := range keys {
		gauge(scheduleRetention, kept[k], k.frequency, strconv.Itoa(k.interval))
	}
	var seen []string
	for _, e := range t.Schedule.ExtraRetention {
		if slices.Contains(seen, e.Frequency) {
			continue
		}
		seen = append(seen, e.Frequency)
		if d := t.Schedule.ExtraFor(e.Frequency); d > 0 {
			gauge(extraRetention, d.Seconds(), e.Frequency)
		}
	}
}

// buildCopyRetention adds the retention series of the copies of a target's snapshots in r.
func buildCopyRetention(sch *atlas.Schedule, r atlas.CopyRegion, gauge gaugeFunc) {
	for _, f := range atlas.Frequencies {
		if d, ok := sch.CopyRetention(r, f); ok {
			gauge(copyRetention, d.Seconds(), r.CloudProvider, r.Region, f)
		}
	}
	if same, known := sch.CopiesKeepRetention(r); known {
		gauge(copySameRetention, b2f(same), r.CloudProvider, r.Region)
	}
}
