package atlas

import (
	"math"
	"testing"
	"time"
)

// TestSnapshotSizes: a negative size is invalid and leaves the snapshot without one; legacy
// parts add up without wrapping.
func TestSnapshotSizes(t *testing.T) {
	cases := []struct {
		name, body string
		kind       Kind
		size       int64
		has        bool
		invalid    int64
	}{
		{"cloud", `{"id":"a","storageSizeBytes":5}`, KindCloud, 5, true, 0},
		{"cloud largest", `{"id":"a","storageSizeBytes":9223372036854775807}`, KindCloud, math.MaxInt64, true, 0},
		{"cloud zero", `{"id":"a","storageSizeBytes":0}`, KindCloud, 0, true, 0},
		{"cloud none", `{"id":"a","storageSizeBytes":null}`, KindCloud, 0, false, 0},
		{"cloud negative", `{"id":"a","storageSizeBytes":-1}`, KindCloud, 0, false, -1},
		{"cloud smallest", `{"id":"a","storageSizeBytes":-9223372036854775808}`, KindCloud, 0, false, math.MinInt64},
		{"legacy parts", `{"id":"a","parts":[{"storageSizeBytes":5},{"storageSizeBytes":null},{"storageSizeBytes":7}]}`, KindLegacy, 12, true, 0},
		{"legacy parts past the largest", `{"id":"a","parts":[{"storageSizeBytes":9223372036854775807},{"storageSizeBytes":9223372036854775807},{"storageSizeBytes":2}]}`, KindLegacy, math.MaxInt64, true, 0},
		{"legacy negative part", `{"id":"a","parts":[{"storageSizeBytes":5},{"storageSizeBytes":-3},{"storageSizeBytes":-4},{"storageSizeBytes":7}]}`, KindLegacy, 0, false, -3},
		{"legacy no sizes", `{"id":"a","parts":[{"storageSizeBytes":null}]}`, KindLegacy, 0, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(`{"results":[` + tc.body + `]}`)
			tg := Target{ProjectID: pid, Cluster: "c", Kind: tc.kind}
			var snaps []Snapshot
			var err error
			if tc.kind == KindLegacy {
				p, derr := decodePage[wireLegacySnapshot](body, MaxListItems)
				snaps, err = normaliseAll(p.Results, tg, derr)
			} else {
				p, derr := decodePage[wireCloudSnapshot](body, MaxListItems)
				snaps, err = normaliseAll(p.Results, tg, derr)
			}
			if err != nil || len(snaps) != 1 {
				t.Fatalf("%v, %v", snaps, err)
			}
			s := snaps[0]
			if s.SizeBytes != tc.size || s.HasSize != tc.has || s.InvalidSize != tc.invalid {
				t.Errorf("size %d, has %t, invalid %d; want %d, %t, %d", s.SizeBytes, s.HasSize, s.InvalidSize, tc.size, tc.has, tc.invalid)
			}
		})
	}
}

// TestFromFuture: a snapshot is from the future only past the clock-skew tolerance.
func TestFromFuture(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		created time.Time
		future  bool
	}{
		{now.Add(-time.Hour), false},
		{time.Time{}, false},
		{now, false},
		{now.Add(ClockSkew), false},
		{now.Add(ClockSkew + time.Second), true},
		{now.AddDate(10, 0, 0), true},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), true},
	} {
		if got := (Snapshot{CreatedAt: tc.created}).FromFuture(now); got != tc.future {
			t.Errorf("created %s: from the future %t, want %t", tc.created, got, tc.future)
		}
	}
}
