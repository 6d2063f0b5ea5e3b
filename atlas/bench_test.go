package atlas

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// cloudPage500 is a 500-item Cloud Backup listing as Atlas sends it.
func cloudPage500(b *testing.B) []byte {
	items := make([]map[string]any, 500)
	for i := range items {
		created := testNow.Add(-time.Duration(i) * 6 * time.Hour)
		items[i] = map[string]any{
			"id": fmt.Sprintf("6a%022x", i), "status": "completed", "createdAt": created.Format(time.RFC3339),
			"expiresAt": created.Add(48 * time.Hour).Format(time.RFC3339), "storageSizeBytes": 1 << 30, "frequencyType": "hourly",
			"snapshotType": "scheduled", "mongodVersion": "8.0.4", "cloudProvider": "AWS", "type": "replicaSet", "replicaSetName": "orders",
			"policyItems": []string{"5f0000000000000000000001"}, "links": []map[string]string{{"rel": "self", "href": "https://cloud.mongodb.com/api/atlas/v2/x"}},
		}
	}
	raw, err := json.Marshal(map[string]any{"results": items, "links": []map[string]string{{"rel": "self", "href": "https://cloud.mongodb.com/x"}}})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeCloudPage500 measures decoding and normalising one full snapshot page.
func BenchmarkDecodeCloudPage500(b *testing.B) {
	raw := cloudPage500(b)
	t := Target{ProjectID: pid, Cluster: "orders", Kind: KindCloud}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := decodePage[wireCloudSnapshot](raw, MaxListItems)
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := normaliseAll(p.Results, t, nil)
		if err != nil || len(snaps) != 500 {
			b.Fatal(err, len(snaps))
		}
	}
}

// BenchmarkNoticeHeaders measures what every answer costs the Deprecation and Sunset check:
// an answer without them (the usual one) and one with both.
func BenchmarkNoticeHeaders(b *testing.B) {
	req, err := http.NewRequestWithContext(withOperation(b.Context(), "listGroupClusterBackupSnapshots"), http.MethodGet, "https://cloud.mongodb.com/api/atlas/v2/groups", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.atlas.2023-01-01+json")
	plain := http.Header{"Content-Type": {"application/json"}, "Ratelimit-Remaining": {"99"}}
	both := plain.Clone()
	both["Deprecation"], both["Sunset"] = []string{"Mon, 5 Aug 2024 00:00:00 GMT"}, []string{"Thu, 1 Jul 2027 00:00:00 GMT"}
	for name, h := range map[string]http.Header{"without": plain, "with": both} {
		b.Run(name, func(b *testing.B) {
			var hd heard
			resp := &http.Response{Header: h}
			b.ReportAllocs()
			for b.Loop() {
				hd.record(req, resp)
			}
		})
	}
}
