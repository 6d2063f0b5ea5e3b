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
}

// DiskBackupCopySetting20240805: which snapshots go where. A setting names the frequencies it
// copies in frequencies (deprecated, upper case) or copyPolicyItems; lastNumberOfSnapshots
// copies the newest snapshots whatever their frequency.
type wireCopySetting struct {
	CloudProvider   string   `json:"cloudProvider"`
	RegionName      string   `json:"regionName"`
	Frequencies     []string `json:"frequencies"`
	CopyPolicyItems []struct {
		FrequencyType string `json:"frequencyType"`
	} `json:"copyPolicyItems"`
	LastNumberOfSnapshots int `json:"lastNumberOfSnapshots"`
}

// copyRegions turns copy settings into one CopyRegion per provider and region, sorted: a
// global cluster has a setting per zone, and two zones may copy to the same region.
func copyRegions(ws []wireCopySetting) []CopyRegion {
	var out []CopyRegion
	for _, w := range ws {
		var freqs []string
		if w.LastNumberOfSnapshots == 0 {
			for _, f := range w.Frequencies {
				freqs = append(freqs, strings.ReplaceAll(strings.ToLower(f), "_", ""))
			}
			for _, it := range w.CopyPolicyItems {
				freqs = append(freqs, it.FrequencyType)
			}
		}
		i := slices.IndexFunc(out, func(r CopyRegion) bool { return r.CloudProvider == w.CloudProvider && r.Region == w.RegionName })
		switch {
		case i < 0:
			out = append(out, CopyRegion{CloudProvider: w.CloudProvider, Region: w.RegionName, Frequencies: freqs})
		case out[i].Frequencies == nil || freqs == nil:
			out[i].Frequencies = nil // one of the settings copies everything
		default:
			out[i].Frequencies = append(out[i].Frequencies, freqs...)
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
