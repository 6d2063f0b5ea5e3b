package config

import (
	"fmt"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// projectsOf parses a configuration's projects list.
func projectsOf(t *testing.T, projects string) []Project {
	t.Helper()
	c, err := Parse("x.yml", []byte("atlas: {api_key: {public_key: p, private_key: k}}\nprojects:\n"+projects), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	return c.Projects
}

// TestSelection: what each kind of entry names, which projects it may select and which clusters
// and kinds it reads.
func TestSelection(t *testing.T) {
	ps := projectsOf(t, `  - {id: 5f0000000000000000000001, clusters: [a, b], kinds: [legacy, cloud]}
  - {name: prod, include: "db-.*", exclude: "db-test"}
  - {discover_all_projects: true, project_include: "team-.*", project_exclude: "team-x"}
  - {discover_all_projects: true}
`)
	byID, byName, matching, all := ps[0], ps[1], ps[2], ps[3]
	for _, tc := range []struct {
		p    Project
		want string
	}{
		{byID, "id=5f0000000000000000000001"},
		{byName, "name=prod"},
		{matching, "discover_all_projects project_include=^(?:team-.*)$ project_exclude=^(?:team-x)$"},
		{all, "discover_all_projects"},
	} {
		if got := tc.p.Selector(); got != tc.want {
			t.Errorf("selector %q, want %q", got, tc.want)
		}
	}

	p1 := atlas.Project{ID: "5f0000000000000000000001", Name: "team-a"}
	p2 := atlas.Project{ID: "5f0000000000000000000002", Name: "prod"}
	p3 := atlas.Project{ID: "5f0000000000000000000003", Name: "team-x"}
	for _, tc := range []struct {
		p    Project
		want string // MayName for p1, p2, p3
	}{
		{byID, "true false false"},
		{byName, "false true false"},
		{matching, "true false false"},
		{all, "true true true"},
	} {
		if got := fmt.Sprint(tc.p.MayName(p1), tc.p.MayName(p2), tc.p.MayName(p3)); got != tc.want {
			t.Errorf("%s may name %s, want %s", tc.p.Selector(), got, tc.want)
		}
	}

	for _, tc := range []struct {
		p    Project
		want string // SelectsCluster for a, b, c, db-1, db-test
	}{
		{byID, "true true false false false"},
		{byName, "false false false true false"},
		{all, "true true true true true"},
	} {
		var got []bool
		for _, name := range []string{"a", "b", "c", "db-1", "db-test"} {
			got = append(got, tc.p.SelectsCluster(name))
		}
		if fmt.Sprint(got) != "["+tc.want+"]" {
			t.Errorf("%s selects %v, want [%s]", tc.p.Selector(), got, tc.want)
		}
	}

	sharded := atlas.Cluster{Name: "a", Kind: atlas.KindCloud, Sharded: true}
	for _, tc := range []struct {
		p    Project
		cl   atlas.Cluster
		want []atlas.Target
	}{
		{all, sharded, []atlas.Target{{ProjectID: p1.ID, Cluster: "a", Kind: atlas.KindCloud, Sharded: true}}},
		{all, atlas.Cluster{Name: "m0"}, nil},
		// The kinds the entry names instead of the one discovered; only Cloud Backup is sharded.
		{byID, sharded, []atlas.Target{{ProjectID: p1.ID, Cluster: "a", Kind: atlas.KindLegacy}, {ProjectID: p1.ID, Cluster: "a", Kind: atlas.KindCloud, Sharded: true}}},
		{byID, atlas.Cluster{Name: "m0"}, []atlas.Target{{ProjectID: p1.ID, Cluster: "m0", Kind: atlas.KindLegacy}, {ProjectID: p1.ID, Cluster: "m0", Kind: atlas.KindCloud}}},
	} {
		if got := tc.p.Targets(p1.ID, tc.cl); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s reads %+v as %v, want %v", tc.p.Selector(), tc.cl, got, tc.want)
		}
	}
}
