package collector_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/collector"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/config"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv/rig"
)

// TestGoldenTwoOrganisations: the exposition of two organisations, each read with its own
// credential set, eu-unit's credentials lacking Organization Member.
func TestGoldenTwoOrganisations(t *testing.T) {
	r := rig.NewSets(t, rig.TwoOrgs(2, 2), rig.TwoSets(), rig.TwoSetsCreds())
	e := &env{Env: r, srv: r.Srv, engine: r.Engine, coll: r.Coll, clock: r.Clock, logs: r.Logs, reg: r.Reg}
	e.refresh(t)
	golden(t, "orgs.golden", e)
}

// The families of credential sets say what a hand-made view says; without sets named, the view
// has none and they are absent.
func TestCredentialSetFamilies(t *testing.T) {
	p := atlas.Project{ID: "5f00000000000000000000a1", Name: "alpha", OrgID: "5e00000000000000000000b1"}
	v := &estate.View{
		Version: 1, Health: estate.Health{Shard: estate.Shard{Index: 0, Total: 1}},
		Projects: []*estate.ProjectView{{Project: p, Org: atlas.Organization{ID: p.OrgID, Name: "billing"}, Credentials: "billing"}},
		Credentials: []estate.CredentialsView{
			{Name: "billing", Up: true, LastSuccess: testNow, Ready: true},
			{Name: "default", Up: false, Ready: true},
		},
		Overlaps: []estate.Overlap{{Project: p, Credentials: "default", ReadBy: "billing"}},
	}
	out := render(t, collector.New(&static{v}, func() time.Time { return testNow }))
	expectLines(t, out,
		`atlas_backup_project_info{credentials="billing",org_id="5e00000000000000000000b1",org_name="billing",project="alpha",project_id="5f00000000000000000000a1"} 1`,
		`atlas_backup_credentials_up{credentials="billing"} 1`,
		`atlas_backup_credentials_up{credentials="default"} 0`,
		`atlas_backup_credentials_last_success_timestamp_seconds{credentials="billing"} 1.795176e+09`,
		`atlas_backup_credentials_overlap{credentials="default",project="alpha",project_id="5f00000000000000000000a1",read_by="billing"} 1`,
	)
	if n := len(grep(out, "atlas_backup_credentials_last_success_timestamp_seconds{")); n != 1 {
		t.Errorf("%d last-success samples, want billing's only", n)
	}
	v = &estate.View{Version: 1, Health: v.Health, Projects: []*estate.ProjectView{{Project: p}}}
	out = render(t, collector.New(&static{v}, func() time.Time { return testNow }))
	if got := grep(out, "atlas_backup_project_info"); len(got) != 0 {
		t.Errorf("credential-set families without sets named: %q", got)
	}
}

// credentialSetFamilies are the families an estate of three credential sets exposes: two
// organisations, and the first's projects also selected by a third set, its API key.
func credentialSetFamilies(t *testing.T) map[string]bool {
	t.Helper()
	o := rig.TwoOrgs(2, 2)
	o.PublicKey, o.PrivateKey = "ops", "ops-private"
	s := rig.TwoSets()
	s.Projects = append(s.Projects, config.Project{DiscoverAllProjects: true, Credentials: "ops"})
	creds := rig.TwoSetsCreds()
	creds["ops"] = atlas.Config{APIKey: &atlas.APIKey{PublicKey: "ops", PrivateKey: "ops-private"}}
	r := rig.NewSets(t, o, s, creds)
	r.Refresh(t)
	got := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(r.Exposition(t), -1) {
		got[m[1]] = true
	}
	return got
}
