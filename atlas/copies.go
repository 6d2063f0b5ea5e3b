package atlas

import (
	"slices"
	"strings"
	"time"
)

// CopyRegion is another region a Cloud Backup policy copies snapshots to.
type CopyRegion struct {
	CloudProvider string // AWS, AZURE, GCP
	Region        string // Atlas region name, as in a snapshot's copyRegions
	// Frequencies are the policy frequencies whose snapshots are copied there (hourly, daily,
	// weekly, monthly, yearly, ondemand); nil when every snapshot is.
	Frequencies []string
	// Kept are the copy policy items that give their copies a retention of their own (Frequency,
	// RetentionUnit, RetentionValue); nil when the settings name frequencies only.
	Kept []PolicyItem
}

// DiskBackupCopySetting20240805: which snapshots go where. A setting names the frequencies it
// copies in frequencies (deprecated, upper case) or copyPolicyItems; lastNumberOfSnapshots
// copies the newest snapshots whatever their frequency.
type wireCopySetting struct {
	CloudProvider   string   `json:"cloudProvider"`
	RegionName      string   `json:"regionName"`
	Frequencies     []string `json:"frequencies"`
	CopyPolicyItems []struct {
		FrequencyType  string `json:"frequencyType"`
		RetentionUnit  string `json:"retentionUnit"`
		RetentionValue int    `json:"retentionValue"`
	} `json:"copyPolicyItems"`
	LastNumberOfSnapshots int `json:"lastNumberOfSnapshots"`
}

// copyRegions turns copy settings into one CopyRegion per provider and region, sorted: a
// global cluster has a setting per zone, and two zones may copy to the same region.
func copyRegions(ws []wireCopySetting) []CopyRegion {
	var out []CopyRegion
	for _, w := range ws {
		var freqs []string
		var kept []PolicyItem
		if w.LastNumberOfSnapshots == 0 {
			for _, f := range w.Frequencies {
				freqs = append(freqs, policyFrequency(f))
			}
			for _, it := range w.CopyPolicyItems {
				freqs = append(freqs, it.FrequencyType)
				if it.RetentionUnit != "" {
					kept = append(kept, PolicyItem{Frequency: it.FrequencyType, RetentionUnit: it.RetentionUnit, RetentionValue: it.RetentionValue})
				}
			}
		}
		i := slices.IndexFunc(out, func(r CopyRegion) bool { return r.CloudProvider == w.CloudProvider && r.Region == w.RegionName })
		switch {
		case i < 0:
			out = append(out, CopyRegion{CloudProvider: w.CloudProvider, Region: w.RegionName, Frequencies: freqs, Kept: kept})
		case out[i].Frequencies == nil || freqs == nil:
			out[i].Frequencies, out[i].Kept = nil, nil // one of the settings copies everything
		default:
			out[i].Frequencies = append(out[i].Frequencies, freqs...)
			out[i].Kept = append(out[i].Kept, kept...)
		}
	}
	for i := range out {
		slices.Sort(out[i].Frequencies)
		out[i].Frequencies = slices.Compact(out[i].Frequencies)
	}
	slices.SortFunc(out, func(a, b CopyRegion) int {
		if c := strings.Compare(a.CloudProvider, b.CloudProvider); c != 0 {
			return c
		}
		return strings.Compare(a.Region, b.Region)
	})
	return out
}

// CopyInterval is the longest time the policy lets pass between two snapshots copied to r: the
// period of its most frequent item that r copies. It is false when r copies no scheduled
// snapshot (only on-demand ones, or frequencies the policy lacks).
func (s Schedule) CopyInterval(r CopyRegion) (time.Duration, bool) {
	copied := Schedule{}
	for _, it := range s.Items {
		if r.Frequencies == nil || slices.Contains(r.Frequencies, it.Frequency) {
			copied.Items = append(copied.Items, it)
		}
	}
	return copied.Interval()
}

// LastCopied returns when the newest completed snapshot copied to region was taken, or false
// when no snapshot listed was copied there.
func LastCopied(snaps []Snapshot, region string) (time.Time, bool) {
	var newest time.Time
	for _, s := range snaps {
		if s.Status == StatusCompleted && s.CreatedAt.After(newest) && slices.Contains(s.CopyRegions, region) {
			newest = s.CreatedAt
		}
	}
	return newest, !newest.IsZero()
}

// CopyRetention is how long copies in r of the schedule's snapshots of frequency are kept: the
// retention of r's copy policy items of that frequency (the longest), or, where none gives one
// (settings that name frequencies only, or on-demand items), the schedule's own for it: Atlas's
// copy items are what gives copies a retention of their own. It is false when r does not copy
// the frequency, copies the newest snapshots whatever their frequency (lastNumberOfSnapshots),
// of which Atlas says no retention, or neither r nor the schedule gives the frequency one.
func (s Schedule) CopyRetention(r CopyRegion, frequency string) (time.Duration, bool) {
	if r.Frequencies == nil || !slices.Contains(r.Frequencies, frequency) {
		return 0, false
	}
	if d := longestRetention(r.Kept, frequency); d > 0 {
		return d, true
	}
	d := s.RetentionFor(frequency)
	return d, d > 0
}

// CopiesKeepRetention reports whether r keeps the copies of every frequency of the schedule it
// copies as long as the schedule keeps the snapshots themselves; known is false when Atlas says
// nothing of their retention there (CopyRetention).
func (s Schedule) CopiesKeepRetention(r CopyRegion) (same, known bool) {
	same = true
	for _, f := range r.Frequencies {
		own := s.RetentionFor(f)
		if own == 0 {
			continue
		}
		d, ok := s.CopyRetention(r, f)
		known = known || ok
		same = same && d == own
	}
	return same, known
}
