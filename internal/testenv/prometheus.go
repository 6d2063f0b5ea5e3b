package testenv

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Prometheus3Dir is the environment variable naming the directory that holds Prometheus 3's
// prometheus and promtool (.ci/prometheus3 builds them and prints it; .ci/run sets it).
const Prometheus3Dir = "PROMETHEUS3_DIR"

// Prometheus is one installed Prometheus release.
type Prometheus struct {
	Version    string // as its --version prints it: 2.42.0, 3.16.0
	Prometheus string // path of its prometheus
	Promtool   string // path of its promtool
}

// Major is the release's major version ("2", "3").
func (p Prometheus) Major() string {
	major, _, _ := strings.Cut(p.Version, ".")
	return major
}

// Prometheuses returns the releases the rule and end-to-end tests run under: the one on PATH
// (Debian's, 2.x) and Prometheus 3 from $PROMETHEUS3_DIR. Run by hand, a missing one is left out
// (the test is skipped if both are); under CI=true a missing one fails the test, so CI never
// passes without running both.
func Prometheuses(t testing.TB) []Prometheus {
	t.Helper()
	var out []Prometheus
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Logf("not tested: "+format, args...)
	}
	if p, err := findPrometheus(exec.LookPath); err != nil {
		missing("prometheus and promtool on PATH (Debian package prometheus): %v", err)
	} else {
		out = append(out, p)
	}
	dir := os.Getenv(Prometheus3Dir)
	if dir == "" {
		missing("Prometheus 3: %s is not set (PROMETHEUS3_DIR=$(.ci/prometheus3) builds and names it)", Prometheus3Dir)
	} else if p, err := findPrometheus(func(name string) (string, error) { return exec.LookPath(filepath.Join(dir, name)) }); err != nil {
		missing("Prometheus 3 in %s=%s: %v", Prometheus3Dir, dir, err)
	} else if p.Major() != "3" {
		t.Fatalf("%s=%s holds Prometheus %s, want 3.x", Prometheus3Dir, dir, p.Version)
	} else {
		out = append(out, p)
	}
	if len(out) == 0 {
		t.Skip("no Prometheus installed")
	}
	return out
}

var (
	versionsMu sync.Mutex
	versions   = map[string]string{} // path of a prometheus or promtool: its version
)

var (
	versionLine = regexp.MustCompile(`(?m)^\S+, version (\d+\.\d+\.\d+)`)
	// Prometheus's Go module tags encode its release: v0.316.0 is 3.16.0.
	moduleTag = regexp.MustCompile(`^v0\.([1-9])(\d\d)\.(\d+)$`)
)

// findPrometheus looks up prometheus and promtool with lookPath, and checks that they are one
// release.
func findPrometheus(lookPath func(string) (string, error)) (Prometheus, error) {
	var p Prometheus
	var err error
	if p.Prometheus, err = lookPath("prometheus"); err != nil {
		return p, err
	}
	if p.Promtool, err = lookPath("promtool"); err != nil {
		return p, err
	}
	if p.Version, err = binaryVersion(p.Prometheus); err != nil {
		return p, err
	}
	toolVersion, err := binaryVersion(p.Promtool)
	if err != nil {
		return p, err
	}
	if toolVersion != p.Version {
		return p, fmt.Errorf("%s is %s but %s is %s", p.Prometheus, p.Version, p.Promtool, toolVersion)
	}
	return p, nil
}

// binaryVersion returns the release of a prometheus or promtool binary, once per process: the
// version its --version prints, or, for one built by go install (which stamps none), the one
// its module tag encodes.
func binaryVersion(path string) (string, error) {
	versionsMu.Lock()
	defer versionsMu.Unlock()
	if v, ok := versions[path]; ok {
		return v, nil
	}
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v\n%s", path, err, out)
	}
	if m := versionLine.FindSubmatch(out); m != nil {
		versions[path] = string(m[1])
		return versions[path], nil
	}
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s --version prints no version, and its build information: %v", path, err)
	}
	m := moduleTag.FindStringSubmatch(info.Main.Version)
	if m == nil {
		return "", fmt.Errorf("%s --version prints no version, and its module version %q is not a Prometheus release", path, info.Main.Version)
	}
	minor, _ := strconv.Atoi(m[2])
	versions[path] = fmt.Sprintf("%s.%d.%s", m[1], minor, m[3])
	return versions[path], nil
}
