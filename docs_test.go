package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// runnableBlock is a shell block of the README marked `<!-- runnable[: mode] -->` on the line
// before it. Modes: none (must exit 0), serves (a server started in the background, serving
// the README's address until the test ends), fails (must exit non-zero, with the message the
// README quotes), dry (the test command: each `go` part run with -n, which lists what it would
// do and checks its packages and flags).
type runnableBlock struct {
	mode, script string
}

var runnableRE = regexp.MustCompile("(?m)^[ \t]*<!-- runnable(?:: ([a-z]+))? -->\n[ \t]*```sh\n((?s:.*?))\n[ \t]*```")

func runnableBlocks(readme string) []runnableBlock {
	var out []runnableBlock
	for _, m := range runnableRE.FindAllStringSubmatch(readme, -1) {
		out = append(out, runnableBlock{mode: m[1], script: m[2]})
	}
	return out
}

// readmeAddress is where `go run . --demo` listens, as the README's curl asks it.
const readmeAddress = "localhost:9891"

// TestREADMECommands runs the README's runnable shell blocks as written, in order, in a copy
// of this tree (what a fresh clone holds: tracked files and new ones not ignored): the demo
// and a scrape of it, the configuration check of the example, `make build`, and the test
// command as a dry listing. A command that fails fails the test.
func TestREADMECommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter twice")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := runnableBlocks(string(readme))
	modes := map[string]int{}
	for _, b := range blocks {
		modes[b.mode]++
	}
	if modes["serves"] != 1 || modes[""] < 1 || modes["fails"] < 1 || modes["dry"] != 1 {
		t.Fatalf("runnable blocks by mode %v: want the demo (serves), a command against it, the example's check (fails) and the test command (dry)", modes)
	}
	dir := freshTree(t)
	// Builds as `make build` makes them (static, paths trimmed), so that `go run` and `make build`
	// compile each package once between them, and the packages are keyed by their content, not
	// by this copy's directory, so that a second run reuses the first's.
	env := append(os.Environ(), "GOFLAGS=-trimpath", "CGO_ENABLED=0")
	for _, b := range blocks {
		switch b.mode {
		case "serves":
			serve(t, dir, env, b.script)
		case "":
			if out, err := runScript(dir, env, b.script); err != nil {
				t.Errorf("README command failed: %v\n%s\n%s", err, b.script, out)
			}
		case "fails":
			out, err := runScript(dir, env, b.script)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			// The message as the README quotes it: the file and line left out, or not.
			last := lines[len(lines)-1]
			msg := regexp.MustCompile(`^\S+:\d+: `).ReplaceAllString(last, "")
			if err == nil || !strings.Contains(unwrap(string(readme)), msg) {
				t.Errorf("README command: want it to fail with the message the README quotes; got %v, %q\n%s", err, msg, b.script)
			}
		case "dry":
			for _, part := range strings.Split(b.script, "&&") {
				dry := regexp.MustCompile(`^\s*go (\w+)`).ReplaceAllString(part, "go $1 -n")
				if !strings.Contains(dry, " -n ") {
					t.Errorf("the test command's part %q is not a go command", part)
					continue
				}
				// As written: -race needs cgo.
				if out, err := runScript(dir, os.Environ(), dry); err != nil {
					t.Errorf("%s: %v\n%.2000s", dry, err, out)
				}
			}
		default:
			t.Errorf("unknown runnable mode %q", b.mode)
		}
	}
}

// unwrap joins the README's lines with spaces, so that a quoted message wrapped over two lines
// reads as one.
func unwrap(s string) string { return strings.Join(strings.Fields(s), " ") }

// freshTree copies the files of this checkout a clone would have into a new directory.
func freshTree(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	dir := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Lstat(name)
		if os.IsNotExist(err) {
			continue // deleted here, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, raw, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runScript(dir string, env []string, script string) (string, error) {
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// serve starts script in the background, in its own process group, which the test's end
// stops; it returns once readmeAddress is ready.
func serve(t *testing.T, dir string, env []string, script string) {
	t.Helper()
	if _, err := http.Get("http://" + readmeAddress + "/"); err == nil {
		t.Fatalf("%s already answers: stop what listens there to run %q", readmeAddress, script)
	}
	logs := &testenv.Buffer{}
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	// The first run compiles: allow a loaded machine its time.
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case <-exited:
			t.Fatalf("%q exited: %v\n%s", script, waitErr, logs)
		case <-deadline:
			t.Fatalf("%q not ready at %s after 5 minutes:\n%s", script, readmeAddress, logs)
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get("http://" + readmeAddress + "/-/ready")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && bytes.HasPrefix(body, []byte("Ready")) {
			return
		}
	}
}

// TestOperationsDocumented: the table of operations sent in docs/operating.md names every
// operation the client sends, with the version it sends, and no other; the README's roles table
// names only operations the client sends.
func TestOperationsDocumented(t *testing.T) {
	versions := map[string]string{}
	for _, op := range atlas.Operations() {
		versions[op.Name] = op.Version
	}
	raw, err := os.ReadFile("docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile(`(?s)\n## Operations sent\n(.*?)\n## `).FindSubmatch(raw)
	if section == nil {
		t.Fatal("docs/operating.md has no section \"Operations sent\"")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| ([A-Za-z, ]+) \| .* \| (\d{4}-\d{2}-\d{2})[^|]* \|$`).FindAllSubmatch(section[1], -1) {
		for _, name := range strings.Split(string(m[1]), ", ") {
			documented[name] = true
			if want, ok := versions[name]; !ok {
				t.Errorf("docs/operating.md lists %s, which the client does not send", name)
			} else if string(m[2]) != want {
				t.Errorf("docs/operating.md: %s at %s; the client sends %s", name, m[2], want)
			}
		}
	}
	for name := range versions {
		if !documented[name] {
			t.Errorf("docs/operating.md's operations sent lack %s", name)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	roles := regexp.MustCompile(`(?m)^\| [^|]+ \| ((?:(?:list|get)\w+(?:, )?)+) \| [^|]+ \|$`).FindAllSubmatch(readme, -1)
	if len(roles) < 3 {
		t.Fatalf("the README's roles table names %d operations' rows, want at least 3", len(roles))
	}
	for _, m := range roles {
		for _, name := range strings.Split(string(m[1]), ", ") {
			if _, ok := versions[name]; !ok {
				t.Errorf("the README's roles table names %s, which the client does not send", name)
			}
		}
	}
}
