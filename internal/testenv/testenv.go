// Package testenv holds helpers shared by the project's tests: a buffer for a process's output,
// free loopback ports, and the outside programs (prometheus, promtool) tests run.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer safe for a process writing while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeAddr returns a loopback address with a port free at the time of the call.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Tool returns the path of an outside program. Run by hand without it, the test is skipped;
// under CI=true it fails, so CI never passes by skipping.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (Debian package prometheus)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// CheckMetrics runs `promtool check metrics` over an exposition and fails on any complaint.
func CheckMetrics(t testing.TB, exposition string) {
	t.Helper()
	cmd := exec.Command(Tool(t, "promtool"), "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// PerTarget returns an exposition's per-target samples, sorted: the atlas_backup_ series other
// than the exporter's own (atlas_backup_up, atlas_backup_exporter_*), with the values of the
// families omit matches left out (those that say when data was read differ between replicas).
func PerTarget(exposition string, omit *regexp.Regexp) []string {
	var out []string
	for _, l := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(l, "atlas_backup_") || strings.HasPrefix(l, "atlas_backup_up ") || strings.HasPrefix(l, "atlas_backup_exporter_") {
			continue
		}
		if omit != nil && omit.MatchString(l) {
			l = l[:strings.LastIndexByte(l, ' ')]
		}
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

// CompareShards checks that every shard exposes some per-target series, none on two shards, and
// that together they are exactly single's.
func CompareShards(t testing.TB, single []string, shards [][]string) {
	t.Helper()
	var union []string
	count := map[string]int{}
	for i, lines := range shards {
		if len(lines) == 0 {
			t.Errorf("shard %d exposes no per-target series", i)
		}
		for _, l := range lines {
			count[l]++
		}
		union = append(union, lines...)
	}
	for l, n := range count {
		if n > 1 {
			t.Errorf("on %d shards: %s", n, l)
		}
	}
	sort.Strings(union)
	if strings.Join(union, "\n") != strings.Join(single, "\n") {
		t.Errorf("the shards' series (%d) differ from one replica's (%d):\n%s", len(union), len(single), FirstDiff(strings.Join(single, "\n"), strings.Join(union, "\n")))
	}
}

// FirstDiff describes the first line where want and got differ.
func FirstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d\nwant: %s\n got: %s", i+1, wl, gl)
		}
	}
	return ""
}
