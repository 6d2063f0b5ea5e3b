package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// versionFile is what the VERSION file may hold: a release's X.Y.Z, or X.Y.Z-dev on the way to
// it.
var versionFile = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(-dev)?$`)

func readVersionFile(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	v := strings.TrimSpace(string(raw))
	if !versionFile.MatchString(v) {
		t.Fatalf("VERSION holds %q, want MAJOR.MINOR.PATCH or MAJOR.MINOR.PATCH-dev", v)
	}
	return v
}

// semver is X.Y.Z's numbers, for comparing versions.
func semver(t *testing.T, v string) [3]int {
	t.Helper()
	m := versionFile.FindStringSubmatch(v)
	if m == nil {
		t.Fatalf("%q is not a version", v)
	}
	var out [3]int
	for i := range out {
		out[i], _ = strconv.Atoi(m[i+1])
	}
	return out
}

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// TestChangelogNamesVersion: CHANGELOG.md's first section says what VERSION says. Between
// releases VERSION is X.Y.Z-dev and the first section is "## Unreleased", above a newest release
// older than X.Y.Z; at a release VERSION is X.Y.Z and the first section is "## X.Y.Z / date".
func TestChangelogNamesVersion(t *testing.T) {
	raw, err := os.ReadFile("../CHANGELOG.md")
	if err != nil {
		t.Fatal(err)
	}
	v := readVersionFile(t)
	headings := regexp.MustCompile(`(?m)^## .*$`).FindAllString(string(raw), -1)
	if len(headings) == 0 {
		t.Fatal("CHANGELOG.md has no sections (## ...)")
	}
	release := regexp.MustCompile(`^## (\d+\.\d+\.\d+) / \d{4}-\d{2}-\d{2}$`)
	if dev, ok := strings.CutSuffix(v, "-dev"); ok {
		if headings[0] != "## Unreleased" {
			t.Errorf("VERSION says %s, so CHANGELOG.md's first section must be ## Unreleased, not %q", v, headings[0])
		}
		for _, h := range headings[1:] {
			if m := release.FindStringSubmatch(h); m != nil {
				if !less(semver(t, m[1]), semver(t, dev)) {
					t.Errorf("CHANGELOG.md's newest release is %s, not before %s (VERSION)", m[1], v)
				}
				return
			}
		}
		return
	}
	if m := release.FindStringSubmatch(headings[0]); m == nil || m[1] != v {
		t.Errorf("VERSION says %s, a release: CHANGELOG.md's first section must be ## %s / YYYY-MM-DD, not %q", v, v, headings[0])
	}
}

// TestMakeVersion: make stamps a build with the tag when HEAD is exactly at a v* tag (less the
// v), and otherwise with the VERSION file: in a repository of its own holding the Makefile and
// a VERSION file, at a tagged commit, at one after it, and at one with a tag of another form.
func TestMakeVersion(t *testing.T) {
	makeTool, gitTool := testenv.Tool(t, "make"), testenv.Tool(t, "git")
	dir := t.TempDir()
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Makefile", string(makefile))
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command(gitTool, append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	version := func() string {
		t.Helper()
		cmd := exec.Command(makeTool, "-s", "version")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make version: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Not a repository at all (a source archive): the VERSION file.
	write("VERSION", "1.3.0-dev\n")
	if got := version(); got != "1.3.0-dev" {
		t.Errorf("outside git: make version = %q, want 1.3.0-dev", got)
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "first")
	if got := version(); got != "1.3.0-dev" {
		t.Errorf("untagged: make version = %q, want 1.3.0-dev", got)
	}
	git("tag", "v1.3.0")
	if got := version(); got != "1.3.0" {
		t.Errorf("at tag v1.3.0: make version = %q, want 1.3.0", got)
	}
	write("VERSION", "1.4.0-dev\n")
	git("commit", "-q", "-am", "next")
	if got := version(); got != "1.4.0-dev" {
		t.Errorf("a commit after the tag: make version = %q, want 1.4.0-dev", got)
	}
	git("tag", "latest")
	if got := version(); got != "1.4.0-dev" {
		t.Errorf("at a tag not v*: make version = %q, want 1.4.0-dev", got)
	}
}
