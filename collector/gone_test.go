package collector_test

import (
	"strings"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/estate"
)

// TestGoneEndpointAskedOnce: what a target's last result said of its gone endpoints goes with
// its next request (the fetcher keeps nothing per target): project-002's tenant-03, configured
// as a tenant cluster whose endpoint is gone, asks the tenant endpoint at the first refresh only
// and its Flex replacement at each, with endpoint_sunset shown throughout; with a new data
// source the gone endpoint is asked again once.
func TestGoneEndpointAskedOnce(t *testing.T) {
	s := defaultSettings()
	s.Projects = defaultProjects()
	e := newEnv(t, atlastest.Options{Sunset: map[string]atlastest.SunsetMode{atlastest.EndpointTenant: atlastest.Gone}}, s)
	const sunset = `atlas_backup_endpoint_sunset{cluster="tenant-03",kind="tenant",project="project-002",project_id="5f0000000000000000000002"} 1`
	reads := func() (gone, flex int) {
		for _, r := range e.srv.Requests() {
			switch r.Path {
			case "/api/atlas/v2/groups/" + p2 + "/clusters/tenant-03/backup/tenant/snapshots":
				gone++
			case "/api/atlas/v2/groups/" + p2 + "/flexClusters/tenant-03/backup/snapshots":
				flex++
			}
		}
		return gone, flex
	}
	for range 3 {
		e.refresh(t)
		expectLines(t, e.exposition(t), sunset)
		e.clock.Advance(5 * time.Minute)
	}
	if gone, flex := reads(); gone != 1 || flex != 3 {
		t.Errorf("three refreshes asked the gone endpoint %d times and the replacement %d times, want 1 and 3", gone, flex)
	}
	client, err := atlas.New(atlas.Config{BaseURL: e.srv.URL, ServiceAccount: &atlas.ServiceAccount{ClientID: "id", ClientSecret: "secret"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	e.srv.Reset()
	e.engine.Reconfigure(estate.Sources{"": atlas.NewFetcher(client)}, s)
	e.refresh(t)
	expectLines(t, e.exposition(t), sunset)
	if gone, flex := reads(); gone != 1 || flex != 1 {
		t.Errorf("the refresh with a new data source asked the gone endpoint %d times and the replacement %d times, want 1 and 1", gone, flex)
	}
	if strings.Contains(e.logs.String(), `cluster=tenant-03 kind=tenant err=`) {
		t.Errorf("tenant-03 failed:\n%s", e.logs)
	}
}
