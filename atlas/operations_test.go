package atlas

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// specFacts is testdata/operations.json: facts about each Atlas operation taken from the
// official OpenAPI description by `go run ./tools/specfacts` (see docs/operating.md, "Operations sent").
type specFacts struct {
	Operations []struct {
		OperationID string `json:"operationId"`
		Method      string `json:"method"`
		Path        string `json:"path"`
		Paged       bool   `json:"paged"`
		Deprecated  bool   `json:"deprecated"`
		Versions    []struct {
			Version string `json:"version"`
			Sunset  string `json:"sunset"`
		} `json:"versions"`
	} `json:"operations"`
}

func loadSpecFacts(t *testing.T) specFacts {
	t.Helper()
	raw, err := os.ReadFile("testdata/operations.json")
	if err != nil {
		t.Fatal(err)
	}
	var facts specFacts
	if err := json.Unmarshal(raw, &facts); err != nil {
		t.Fatal(err)
	}
	return facts
}

// retiringListings are the non-snapshot operations the client sends although Atlas deprecated
// them, with the sunset date of the version sent: a regenerated facts file that retires one
// more fails the test until someone decides what the exporter does about it.
var retiringListings = map[string]string{
	"listGroupServerlessInstances": "2027-01-18", // serverless instances become Flex
}

// TestOperationsMatchSpec checks every path, operationId, version and paging the client sends,
// and what it knows of deprecations and sunsets, against the facts of the OpenAPI description.
func TestOperationsMatchSpec(t *testing.T) {
	facts := loadSpecFacts(t)
	type fact struct {
		method, path      string
		paged, deprecated bool
		sunset            map[string]string // per version offered
	}
	byID := map[string]fact{}
	for _, op := range facts.Operations {
		f := fact{op.Method, op.Path, op.Paged, op.Deprecated, map[string]string{}}
		for _, v := range op.Versions {
			f.sunset[v.Version] = v.Sunset
		}
		byID[op.OperationID] = f
	}
	if len(byID) < len(Operations()) {
		t.Fatalf("testdata/operations.json holds %d operations, fewer than the %d the client sends", len(byID), len(Operations()))
	}

	// What the client says about each kind's endpoints.
	lifecycle := map[string]Lifecycle{}
	for family, ops := range snapshotEndpoints {
		lifecycle[ops.list.Name] = LifecycleOf(family.kind)
		lifecycle[ops.get.Name] = LifecycleOf(family.kind)
	}
	for _, op := range Operations() {
		f, ok := byID[op.Name]
		if !ok {
			t.Errorf("%s: no such operationId in the spec", op.Name)
			continue
		}
		if f.method != "GET" || f.path != op.Path {
			t.Errorf("%s: client sends GET %s, spec has %s %s", op.Name, op.Path, f.method, f.path)
		}
		sunset, offered := f.sunset[op.Version]
		if !offered {
			t.Errorf("%s: spec offers no version %s in its 200 response", op.Name, op.Version)
		}
		if f.paged != op.Paged {
			t.Errorf("%s: client paged=%v, spec paged=%v", op.Name, op.Paged, f.paged)
		}
		lc, isSnapshot := lifecycle[op.Name]
		known := ""
		if !lc.Sunset.IsZero() {
			known = lc.Sunset.Format(time.DateOnly)
		}
		if !isSnapshot {
			known, lc.Deprecated = retiringListings[op.Name]
		}
		if f.deprecated != lc.Deprecated || sunset != known {
			t.Errorf("%s %s: spec deprecated=%v sunset=%q, client knows deprecated=%v sunset=%q",
				op.Name, op.Version, f.deprecated, sunset, lc.Deprecated, known)
		}
	}
}
