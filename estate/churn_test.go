package estate_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
)

// churn replaces every project of the fake's estate with n new ones (new ids and names), as an
// estate whose projects are created and deleted between refreshes.
func churn(e *env, round, n int) {
	est := atlastest.Generate(atlastest.Spec{Seed: uint64(round + 1), Projects: n, ClustersPerProject: 4, SnapshotsPerCluster: 2, Now: testNow,
		Kinds: []atlastest.ClusterKind{atlastest.Dedicated, atlastest.Flex, atlastest.Serverless, atlastest.Free}})
	for i, p := range est.Projects {
		p.ID = fmt.Sprintf("6c%010x%012x", round, i)
		p.Name = fmt.Sprintf("churn-%d-%d", round, i)
	}
	e.srv.Update(func(es *atlastest.Estate) { es.Projects = est.Projects })
}

// stateSize is how many entries the engine's maps hold.
func (e *env) stateSize() map[string]int { return e.engine.StateSize() }

// TestChurnKeepsStateBounded: projects created and deleted at every refresh leave nothing behind
// in the engine, whatever discovery mode finds them: what it holds after 40 refreshes is what
// it holds after 2.
func TestChurnKeepsStateBounded(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Hour} {
		t.Run("discovery_interval="+interval.String(), func(t *testing.T) {
			s := defaultSettings()
			s.MinRefreshInterval, s.DiscoveryInterval = time.Second, interval
			s.Projects = []config.Project{{DiscoverAllProjects: true}}
			e := newEnv(t, atlastest.Options{}, s)
			var early map[string]int
			for round := range 40 {
				churn(e, round, 3)
				e.clock.Advance(time.Minute)
				e.refresh(t)
				// A project the all-projects cluster listing shows is discovered at the next
				// refresh between full discoveries: the one after gives the settled state.
				e.clock.Advance(time.Minute)
				e.refresh(t)
				if round == 1 {
					early = e.stateSize()
				}
			}
			late := e.stateSize()
			if fmt.Sprint(late) != fmt.Sprint(early) {
				t.Errorf("state after 40 rounds of churn %v, after 2 %v", late, early)
			}
			if late["projects"] != 3 || late["targets"] != 9 {
				t.Errorf("state %v, want the 3 projects and 9 targets of the last round", late)
			}
		})
	}
}
