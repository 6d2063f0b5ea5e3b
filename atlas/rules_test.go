package atlas

import (
	"fmt"
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

// TestScheduleReadAgain: a schedule is reused until it is a day old or its next snapshot is due;
// one whose next snapshot was due long before it was read (Atlas is behind the policy) is read
// hourly, one due shortly before (the snapshot is being taken) at every refresh.
func TestScheduleReadAgain(t *testing.T) {
	readAt := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		next      time.Time
		readAt    time.Time
		now       time.Time
		readAgain bool
	}{
		{"never read", readAt.Add(3 * time.Hour), time.Time{}, readAt, true},
		{"next snapshot ahead", readAt.Add(3 * time.Hour), readAt, readAt.Add(time.Hour), false},
		{"none announced", time.Time{}, readAt, readAt.Add(23 * time.Hour), false},
		{"a day old", readAt.Add(30 * 24 * time.Hour), readAt, readAt.Add(24 * time.Hour), true},
		{"next snapshot due", readAt.Add(3 * time.Hour), readAt, readAt.Add(3 * time.Hour), true},
		{"due minutes before it was read", readAt.Add(-10 * time.Minute), readAt, readAt.Add(5 * time.Minute), true},
		{"due hours before it was read", readAt.Add(-3 * time.Hour), readAt, readAt.Add(59 * time.Minute), false},
		{"due hours before, an hour later", readAt.Add(-3 * time.Hour), readAt, readAt.Add(time.Hour), true},
	} {
		if got := (Schedule{NextSnapshot: tc.next}).ReadAgain(tc.readAt, tc.now); got != tc.readAgain {
			t.Errorf("%s: read again %t, want %t", tc.name, got, tc.readAgain)
		}
	}
}

// TestNotFound: one table of errorCodes says what a 404 finds missing, for every rule that asks.
func TestNotFound(t *testing.T) {
	for _, tc := range []struct {
		status           int
		code             string
		cluster, project bool
	}{
		{404, "CLUSTER_NOT_FOUND", true, false},
		{404, "SERVERLESS_INSTANCE_NOT_FOUND", true, false},
		{404, "FLEX_CLUSTER_NOT_FOUND", true, false},
		{404, "GROUP_NOT_FOUND", false, true},
		{404, "GROUP_NAME_NOT_FOUND", false, true},
		{404, "RESOURCE_NOT_FOUND", false, false},
		{400, "CLUSTER_NOT_FOUND", false, false},
	} {
		e := &Error{StatusCode: tc.status, ErrorCode: tc.code}
		if ClusterNotFound(e) != tc.cluster || ProjectNotFound(e) != tc.project || e.NotFound() != (tc.cluster || tc.project) {
			t.Errorf("%d %s: cluster not found %t, project not found %t, not found %t; want %t, %t",
				tc.status, tc.code, ClusterNotFound(e), ProjectNotFound(e), e.NotFound(), tc.cluster, tc.project)
		}
	}
	if !ProjectNotFound(fmt.Errorf("wrapped: %w", ErrProjectNotVisible)) {
		t.Error("a project the listing lacks is not found")
	}
}

// TestNewTarget: only Cloud Backup targets are sharded.
func TestNewTarget(t *testing.T) {
	if got := NewTarget(pid, "c", KindCloud, true); !got.Sharded {
		t.Errorf("%+v not sharded", got)
	}
	for _, k := range []Kind{KindFlex, KindServerless, KindTenant, KindLegacy} {
		if got := NewTarget(pid, "c", k, true); got.Sharded {
			t.Errorf("%+v sharded", got)
		}
	}
}
