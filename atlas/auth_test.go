package atlas

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
)

// roundTrips returns HTTP requests per API call for n sequential listing calls.
func roundTrips(t *testing.T, srv *atlastest.Server, c *Client, n int) float64 {
	t.Helper()
	srv.Reset()
	for range n {
		if _, err := c.Snapshots(t.Context(), Target{pid, "dedicated-01", KindCloud, false}); err != nil {
			t.Fatal(err)
		}
	}
	return float64(srv.Count("")) / float64(n)
}

func TestOAuthTokenReused(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	if _, err := c.Projects(t.Context()); err != nil { // fetches the token
		t.Fatal(err)
	}
	if got := roundTrips(t, srv, c, 50); got != 1 {
		t.Errorf("%.2f requests per call, want 1 (token cached)", got)
	}
	if n := srv.Count("oauthToken"); n != 0 {
		t.Errorf("%d token requests after the first call, want 0", n)
	}
}

func TestOAuthTokenRenewedBeforeExpiry(t *testing.T) {
	// Tokens that live less than the renewal margin are renewed on every call.
	srv := newFake(t, atlastest.Options{TokenTTL: tokenEarlyExpiry - time.Second})
	c, _ := newTestClient(t, srv)
	roundTrips(t, srv, c, 5)
	if n := srv.Count("oauthToken"); n != 5 {
		t.Errorf("%d token requests for 5 calls, want 5", n)
	}
}

func TestOAuthCredentialsRevokedAndRestored(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	srv.SetCredentials(testClientID, "rotated", "", "")
	srv.Reset()
	// The token is refused, so the client asks for a new one at once, and that is refused too.
	_, err := c.Snapshots(t.Context(), target)
	if !errors.Is(err, ErrToken) || !strings.HasSuffix(err.Error(), "service account token request failed: token endpoint answered HTTP 401 invalid_client") {
		t.Fatalf("revoked secret: %v", err)
	}
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, fmt.Sprintf("%s %d", r.Operation, r.Status))
	}
	if want := []string{"listGroupClusterBackupSnapshots 401", "oauthToken 401"}; !reflect.DeepEqual(seq, want) {
		t.Errorf("requests %v, want %v", seq, want)
	}
	srv.SetCredentials(testClientID, testSecret, "", "")
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("restored: %v", err)
	}
	for _, s := range []string{testSecret, "rotated"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestOAuthTokenEndpointDownWithValidToken(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	srv.SetFault("oauthToken", "", &atlastest.Fault{Status: 503})
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("cached token should still serve: %v", err)
	}
}

func TestOAuthClockSkew(t *testing.T) {
	// Atlas's clock runs ahead of ours: a token we hold as valid has expired there.
	var mu sync.Mutex
	skew := time.Duration(0)
	srv := newFake(t, atlastest.Options{Now: func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(skew)
	}})
	c, _ := newTestClient(t, srv)
	target := Target{pid, "dedicated-01", KindCloud, false}
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	skew = 2 * time.Hour
	mu.Unlock()
	srv.Reset()
	if _, err := c.Snapshots(t.Context(), target); err != nil {
		t.Fatalf("a token expired by Atlas's clock should be replaced at once: %v", err)
	}
	var seq []string
	for _, r := range srv.Requests() {
		seq = append(seq, fmt.Sprintf("%s %d", r.Operation, r.Status))
	}
	if want := []string{"listGroupClusterBackupSnapshots 401", "oauthToken 200", "listGroupClusterBackupSnapshots 200"}; !reflect.DeepEqual(seq, want) {
		t.Errorf("requests %v, want %v", seq, want)
	}
}

func TestOAuthTokenRequestHonoursTheContext(t *testing.T) {
	srv := newFake(t, atlastest.Options{})
	srv.SetFault("oauthToken", "", &atlastest.Fault{Hang: true})
	c, _ := newTestClient(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Projects(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
	if srv.Count("listGroups") != 0 {
		t.Error("the API call went out without a token")
	}
}
