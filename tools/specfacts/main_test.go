package main

import (
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := run(&out, []string{"testdata/current.yaml", "testdata/older.yaml"}); err != nil {
		t.Fatal(err)
	}
	want := `{
  "sources": [
    {"file":"current.yaml","x-xgen-sha":"aaaa"},
    {"file":"older.yaml"}
  ],
  "operations": [
    {"operationId":"getGroupGone","method":"GET","path":"/api/atlas/v2/groups/{groupId}/gone","paged":true,"deprecated":false,"versions":[{"version":"2023-01-01","sunset":"2026-01-22"}]},
    {"operationId":"listGroupThings","method":"GET","path":"/api/atlas/v2/groups/{groupId}/things","paged":true,"deprecated":false,"versions":[{"version":"2023-01-01","sunset":"2026-06-30"},{"version":"2024-01-01"}]},
    {"operationId":"getGroupThing","method":"GET","path":"/api/atlas/v2/groups/{groupId}/things/{thingId}","paged":false,"deprecated":true,"versions":[{"version":"2023-01-01","sunset":"2026-01-22"}]}
  ]
}
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestRunErrors(t *testing.T) {
	for _, tc := range []struct {
		file, want string
	}{
		{"testdata/missing.yaml", "open testdata/missing.yaml: no such file or directory"},
		{"testdata/nopaths.yaml", "testdata/nopaths.yaml: no paths: not an OpenAPI description"},
	} {
		var out strings.Builder
		err := run(&out, []string{tc.file})
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %q", tc.file, err, tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("%s: wrote %q before failing", tc.file, out.String())
		}
	}
}
