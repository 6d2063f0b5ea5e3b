package atlas

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

var testNow = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const (
	testClientID = "mdb_sa_id_test"
	testSecret   = "mdb_sa_sk_supersecret"
	testPublic   = "pubkeyabc"
	testPrivate  = "11111111-2222-3333-4444-555555555555"
)

// smallEstate has one project with one cluster of every kind, three snapshots each.
func smallEstate() *atlastest.Estate {
	return atlastest.Generate(atlastest.Spec{Seed: 1, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 3, Now: testNow})
}

func newFake(t *testing.T, o atlastest.Options) *atlastest.Server {
	t.Helper()
	if o.Estate == nil {
		o.Estate = smallEstate()
	}
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = testClientID, testSecret
	}
	if o.PublicKey == "" {
		o.PublicKey, o.PrivateKey = testPublic, testPrivate
	}
	s := atlastest.NewServer(o)
	t.Cleanup(s.Close)
	return s
}

// recordingSleeper is the client's clock in tests: a sleep is recorded and advances the clock
// at once.
type recordingSleeper struct {
	mu     sync.Mutex
	sleeps []time.Duration
	clock  time.Time
}

func (r *recordingSleeper) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.sleeps = append(r.sleeps, d)
	r.clock = r.clock.Add(d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recordingSleeper) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clock
}

func (r *recordingSleeper) got() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.sleeps...)
}

type clientOpt func(*Config)

func withDigest(c *Config) { c.APIKey, c.ServiceAccount = &APIKey{testPublic, testPrivate}, nil }

// newTestClient returns a client of srv using a service account, with sleeps recorded instead
// of slept and no jitter.
func newTestClient(t *testing.T, srv *atlastest.Server, opts ...clientOpt) (*Client, *recordingSleeper) {
	t.Helper()
	cfg := Config{BaseURL: srv.URL, ServiceAccount: &ServiceAccount{testClientID, testSecret}, Timeout: 5 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := &recordingSleeper{clock: time.Now()}
	c.sleep, c.now = rs.sleep, rs.now
	c.jitter = func(d time.Duration) time.Duration { return d }
	t.Cleanup(c.Close)
	return c, rs
}

// apiRequests drops token requests from what the fake recorded.
func apiRequests(reqs []atlastest.Request) []atlastest.Request {
	var out []atlastest.Request
	for _, r := range reqs {
		if r.Operation != "oauthToken" {
			out = append(out, r)
		}
	}
	return out
}
