package estate

import (
	"slices"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// Two entries selecting one target read it once per refresh: two of one set, as here, or, as
// the set reading a project plans them, one of each set selecting it.
func TestTargetTwoEntriesSelectIsReadOnce(t *testing.T) {
	s := allOn()
	s.Projects = []config.Project{{ID: pA.ID}, {Name: "alpha", Clusters: []string{"db"}}}
	r := newRig(t, s)
	for _, want := range [][]string{
		{"byName alpha", "clusters " + pA.ID, "policy " + pA.ID, "projects",
			"read db/cloud schedule=true restores=true exports=true", "read fx/flex schedule=true restores=true exports=true"},
		{"names", "read db/cloud schedule=false restores=false exports=false", "read fx/flex schedule=true restores=false exports=true"},
	} {
		r.refresh(t)
		if got := r.f.took(); !slices.Equal(got, want) {
			t.Errorf("calls\n got %q\nwant %q", got, want)
		}
	}
}
