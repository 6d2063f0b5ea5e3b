package atlas

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeSnapshots feeds any body to the decoding and normalisation of every snapshot kind
// and of backup schedules.
func FuzzDecodeSnapshots(f *testing.F) {
	f.Add([]byte(`{"results":[{"id":"6a0000000000000000000001","status":"completed","createdAt":"2026-11-20T11:27:22Z","expiresAt":"2026-11-22T11:27:22Z","storageSizeBytes":1148695908,"frequencyType":"hourly","snapshotType":"scheduled","mongodVersion":"8.0.4"}],"links":[{"rel":"next","href":"https://cloud.mongodb.com/api/atlas/v2/groups?pageNum=2"}]}`))
	f.Add([]byte(`{"results":[{"id":"x","status":"RUNNING","scheduledTime":"2026-11-20T11:00:00Z","startTime":"2026-11-20T11:00:30Z","expiration":"2026-11-28T11:00:00Z","mongoDBVersion":"8.0.4"}]}`))
	f.Add([]byte(`{"results":[{"id":"x","complete":false,"created":{"date":"2026-11-20T11:00:00Z","increment":1},"parts":[{"storageSizeBytes":5},{"storageSizeBytes":null}],"doNotDelete":true}]}`))
	f.Add([]byte(`{"nextSnapshot":"2026-11-20T18:00:00Z","policies":[{"policyItems":[{"frequencyType":"hourly","frequencyInterval":6,"retentionUnit":"days","retentionValue":2},{"frequencyType":"ondemand","frequencyInterval":0}]}]}`))
	f.Add([]byte(`{"results":[{"id":"x","complete":true,"created":{"date":"2026-11-20T11:00:00Z"},"parts":[{"storageSizeBytes":9223372036854775807},{"storageSizeBytes":9223372036854775807}]},{"id":"y","storageSizeBytes":-9223372036854775808}]}`))
	f.Add([]byte(`{"results":null}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tg := Target{ProjectID: pid, Cluster: "c", Kind: KindCloud}
		check := func(snaps []Snapshot, err error) {
			ids := map[string]bool{}
			for _, s := range snaps {
				if s.Status == "" || ids[s.ID] || s.SizeBytes < 0 || s.InvalidSize > 0 || (s.HasSize && s.InvalidSize != 0) {
					t.Fatalf("bad or repeated snapshot %+v", s)
				}
				ids[s.ID] = true
			}
		}
		cloud, err := decodePage[wireCloudSnapshot](body, MaxListItems)
		if err == nil {
			check(normaliseAll(cloud.Results, tg, nil))
			_ = nextLink(cloud.Links)
			// Decoded one result at a time, the page is the same, and one result fewer is refused.
			n := len(cloud.Results)
			slow, err := decodePageByItem[wireCloudSnapshot](body, n)
			if err != nil || len(slow.Results) != n || (n > 0 && !reflect.DeepEqual(slow.Results, cloud.Results)) || !reflect.DeepEqual(slow.Links, cloud.Links) {
				t.Fatalf("decoded one at a time: %+v, %v\nwant %+v", slow, err, cloud)
			}
			if _, err := decodePageByItem[wireCloudSnapshot](body, n-1); n > 0 && !errors.Is(err, errTooManyItems) {
				t.Fatalf("%d results with a limit of %d: %v", n, n-1, err)
			}
		}
		if flex, err := decodePage[wireFlexSnapshot](body, MaxListItems); err == nil {
			tg.Kind = KindFlex
			check(normaliseAll(flex.Results, tg, nil))
		}
		if legacy, err := decodePage[wireLegacySnapshot](body, MaxListItems); err == nil {
			tg.Kind = KindLegacy
			check(normaliseAll(legacy.Results, tg, nil))
		}
		var sched wireSchedule
		if json.Unmarshal(body, &sched) == nil {
			d, ok := sched.normalise().Interval()
			if ok != (d > 0) || d > 366*24*time.Hour {
				t.Fatalf("schedule interval %v, %v", d, ok)
			}
		}
		if clusters, err := decodePage[wireCluster](body, MaxListItems); err == nil {
			for _, w := range clusters.Results {
				_ = w.classify(pid)
			}
		}
	})
}

// FuzzErrorBody feeds any error body to the ApiError decoder and the error's text.
func FuzzErrorBody(f *testing.F) {
	f.Add(404, []byte(`{"detail":"No cluster named c exists in group 5f0000000000000000000001.","error":404,"errorCode":"CLUSTER_NOT_FOUND","parameters":["c","5f0000000000000000000001"],"reason":"Not Found"}`))
	f.Add(429, []byte(`{"error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET","parameters":["api/atlas/v2/orgs",55,10,5,60]}`))
	f.Add(500, []byte(`{"errorCode":""}`))
	f.Add(502, []byte(`<html>bad gateway</html>`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := &Error{Operation: "op", Path: "/p", StatusCode: status}
		decodeErrorBody(e, body)
		msg := e.Error()
		if !strings.HasPrefix(msg, "atlas: op GET /p: ") {
			t.Fatalf("message %q", msg)
		}
		_ = asGone(KindTenant, e)
		_ = e.NotFound()
	})
}

// scriptedTransport answers the first request with a digest challenge and the rest with 200.
type scriptedTransport struct {
	challenge string
	n         int
}

func (s *scriptedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.n++
	if s.n == 1 {
		return &http.Response{StatusCode: 401, Header: http.Header{"Www-Authenticate": {s.challenge}}, Body: io.NopCloser(bytes.NewReader(nil)), Request: r}, nil
	}
	if h := r.Header.Get("Authorization"); strings.Contains(h, testPrivate) {
		return nil, io.ErrUnexpectedEOF
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// FuzzWWWAuthenticate feeds any challenge to the digest transport the client uses.
func FuzzWWWAuthenticate(f *testing.F) {
	f.Add(`Digest realm="MMS Public API", domain="", nonce="OCUvwYyWUcaN6Mi8N6Yvm1J4wKc4AF8D", algorithm=MD5, qop="auth", stale=false`)
	f.Add(`Digest realm="MMS Public API", nonce="n", algorithm=SHA-256, qop="auth,auth-int", stale=true`)
	f.Add(`Digest realm=, nonce`)
	f.Add(`Basic realm="x"`)
	f.Add(`Digest algorithm=UNKNOWN, nonce="n"`)
	f.Fuzz(func(t *testing.T, challenge string) {
		if !utf8.ValidString(challenge) || strings.ContainsAny(challenge, "\r\n") {
			return
		}
		d := newDigest(APIKey{PublicKey: testPublic, PrivateKey: testPrivate}, &scriptedTransport{challenge: challenge})
		req, err := http.NewRequest(http.MethodGet, "https://cloud.mongodb.com/api/atlas/v2/groups", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := d.RoundTrip(req)
		if err == io.ErrUnexpectedEOF {
			t.Fatal("the private key was sent in the clear")
		}
		if err == nil {
			resp.Body.Close()
		}
	})
}

// FuzzNoticeHeaders feeds any Deprecation and Sunset values ("" for none) to their parser.
func FuzzNoticeHeaders(f *testing.F) {
	f.Add("Mon, 5 Aug 2024 00:00:00 GMT", "Thu, 1 Jul 2027 00:00:00 GMT")
	f.Add("@1688169599", "Thu, 01 Jul 2027 00:00:00 GMT")
	f.Add("true", "")
	f.Add("", "@1814400000")
	f.Add("@-1", "@99999999999999999999")
	f.Add("Thursday, 01-Jul-27 00:00:00 GMT", "Thu Jul  1 00:00:00 2027")
	f.Add("Thu, 31 Feb 2027 00:00:00 GMT", "Thu, 1 Jul 2027 25:00:00 GMT")
	f.Fuzz(func(t *testing.T, dep, sun string) {
		h := http.Header{}
		if dep != "" {
			h["Deprecation"] = []string{dep}
		}
		if sun != "" {
			h["Sunset"] = []string{sun}
		}
		n, ok := parseNotice(h)
		if ok != (dep != "" || !n.Sunset.IsZero()) || (sun == "" && !n.Sunset.IsZero()) || (dep == "" && !n.Deprecation.IsZero()) {
			t.Fatalf("Deprecation %q, Sunset %q: %+v, %v", dep, sun, n, ok)
		}
		// A date read is one Atlas's form can write and read back.
		for _, d := range []time.Time{n.Deprecation, n.Sunset} {
			if d.IsZero() {
				continue
			}
			back, ok := parseHeaderDate(d.Format(atlasDate))
			if !ok || !back.Equal(d) || d.Location() != time.UTC {
				t.Fatalf("Deprecation %q, Sunset %q: %v reads back as %v, %v", dep, sun, d, back, ok)
			}
		}
	})
}
