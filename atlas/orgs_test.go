package atlas

import (
	"errors"
	"reflect"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// twoOrgs is a fake of two organisations, each with its own service account and API key: the
// default one holds projects 1 and 3, the second (whose credentials lack Organization Member)
// projects 2 and 4.
func twoOrgs(t *testing.T) *atlastest.Server {
	t.Helper()
	est := atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 4, ClustersPerProject: 1, SnapshotsPerCluster: 1, Now: testNow, Orgs: 2})
	return newFake(t, atlastest.Options{Estate: est, OrgName: "billing", Orgs: []atlastest.Org{{
		ID: atlastest.OrgID(1), Name: "eu-unit", ClientID: "sa-eu", ClientSecret: "sa-eu-secret", PublicKey: "key-eu", PrivateKey: "key-eu-private", NotMember: true,
	}}})
}

// Each organisation's credentials see its own projects, with the organisation's id, and read
// its name where they are a member of it.
func TestOrganisations(t *testing.T) {
	srv := twoOrgs(t)
	billing, _ := newTestClient(t, srv)
	eu, _ := newTestClient(t, srv, func(c *Config) { c.ServiceAccount = &ServiceAccount{"sa-eu", "sa-eu-secret"} })
	euDigest, _ := newTestClient(t, srv, func(c *Config) { c.ServiceAccount, c.APIKey = nil, &APIKey{"key-eu", "key-eu-private"} })
	org0, org1 := atlastest.OrgID(0), atlastest.OrgID(1)
	for _, tc := range []struct {
		name string
		c    *Client
		want []Project
	}{
		{"billing", billing, []Project{{atlastest.ProjectID(0), "project-001", org0}, {atlastest.ProjectID(2), "project-003", org0}}},
		{"eu-unit service account", eu, []Project{{atlastest.ProjectID(1), "project-002", org1}, {atlastest.ProjectID(3), "project-004", org1}}},
		{"eu-unit API key", euDigest, []Project{{atlastest.ProjectID(1), "project-002", org1}, {atlastest.ProjectID(3), "project-004", org1}}},
	} {
		got, err := tc.c.Projects(t.Context())
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: projects %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if p, err := eu.ProjectByName(t.Context(), "project-002"); err != nil || p.OrgID != org1 {
		t.Errorf("eu-unit by name: %+v %v", p, err)
	}
	// Another organisation's project by name is not there, and by id not the caller's.
	if _, err := eu.ProjectByName(t.Context(), "project-001"); !ProjectNotFound(err) {
		t.Errorf("eu-unit reads billing's project by name: %v", err)
	}
	const notInGroup = "atlas: listGroupClusterBackupSnapshots project=5f0000000000000000000001 cluster=dedicated-01 GET /api/atlas/v2/groups/5f0000000000000000000001/clusters/dedicated-01/backup/snapshots: " +
		"HTTP 401 NOT_IN_GROUP: The current user is not in the group, or the group does not exist."
	if _, err := eu.Snapshots(t.Context(), Target{ProjectID: atlastest.ProjectID(0), Cluster: "dedicated-01", Kind: KindCloud}); err == nil || err.Error() != notInGroup {
		t.Errorf("eu-unit reads billing's snapshots: %v", err)
	}
	names, err := eu.ClusterNames(t.Context())
	if err != nil || len(names) != 2 || names[0].Project.OrgID != org1 || names[1].Project.ID != atlastest.ProjectID(3) {
		t.Errorf("eu-unit's all-projects cluster listing: %+v %v", names, err)
	}

	if o, err := billing.Organization(t.Context(), org0); err != nil || o != (Organization{org0, "billing"}) {
		t.Errorf("billing's organisation: %+v %v", o, err)
	}
	srv.Reset()
	const refused = "atlas: getOrg GET /api/atlas/v2/orgs/5e0000000000000000000002: HTTP 401 USER_UNAUTHORIZED: Current user is not authorized to perform this action."
	if _, err := euDigest.Organization(t.Context(), org1); err == nil || err.Error() != refused {
		t.Errorf("eu-unit's organisation, without Organization Member: %v", err)
	}
	// One request, signed with the nonce of the client's earlier call; the refusal is no
	// reason to sign it again.
	if got := srv.Counts(); !reflect.DeepEqual(got, map[string]int{"getOrg": 1}) {
		t.Errorf("requests %v", got)
	}
	for _, q := range srv.Requests() {
		if q.Path != "/api/atlas/v2/orgs/"+org1 || q.Accept != "application/vnd.atlas.2023-01-01+json" {
			t.Errorf("request %+v", q)
		}
	}
}

// Revoking one organisation's credentials leaves the other's working, its token included.
func TestRevokeOneOrganisation(t *testing.T) {
	srv := twoOrgs(t)
	billing, _ := newTestClient(t, srv)
	eu, _ := newTestClient(t, srv, func(c *Config) { c.ServiceAccount = &ServiceAccount{"sa-eu", "sa-eu-secret"} })
	for _, c := range []*Client{billing, eu} {
		if _, err := c.Projects(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	srv.SetOrgCredentials(atlastest.OrgID(1), "", "", "", "")
	srv.Reset()
	if _, err := billing.Projects(t.Context()); err != nil {
		t.Errorf("billing after eu-unit's revocation: %v", err)
	}
	_, err := eu.Projects(t.Context())
	var ae *Error
	if !errors.As(err, &ae) || !ae.Unauthorized() {
		t.Errorf("eu-unit after its revocation: %v", err)
	}
	// billing's token still works; eu-unit's was dropped, and a new one refused.
	want := map[string]int{"listGroups": 2, "oauthToken": 1}
	if got := srv.Counts(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	if got := srv.OrgCounts(atlastest.DefaultOrgID); !reflect.DeepEqual(got, map[string]int{"listGroups": 1}) {
		t.Errorf("billing's requests %v", got)
	}
	if got := srv.OrgCounts(""); !reflect.DeepEqual(got, map[string]int{"listGroups": 1, "oauthToken": 1}) {
		t.Errorf("refused requests %v", got)
	}
}

// A fault for one organisation answers its calls only.
func TestOrganisationFault(t *testing.T) {
	srv := twoOrgs(t)
	billing, _ := newTestClient(t, srv)
	eu, _ := newTestClient(t, srv, func(c *Config) { c.ServiceAccount = &ServiceAccount{"sa-eu", "sa-eu-secret"} })
	srv.SetOrgFault(atlastest.OrgID(1), "listGroups", "", &atlastest.Fault{Status: 500})
	if _, err := billing.Projects(t.Context()); err != nil {
		t.Errorf("billing: %v", err)
	}
	var ae *Error
	if _, err := eu.Projects(t.Context()); !errors.As(err, &ae) || ae.StatusCode != 500 {
		t.Errorf("eu-unit: %v", err)
	}
}
