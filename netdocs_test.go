package main

import (
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNetworkDocConfigurationsCheck: every configuration docs/network.md shows passes
// --config.check, with the files it names in place (a CA, a secret).
func TestNetworkDocConfigurationsCheck(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("docs/network.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tlsSrv := httptest.NewUnstartedServer(nil) // for its certificate, a CA file's content
	tlsSrv.StartTLS()
	tlsSrv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw})
	files := regexp.MustCompile(`(/run/secrets|/etc/atlas_backup_exporter)/[A-Za-z0-9_.-]+`)
	n := 0
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		n++
		cfg := files.ReplaceAllStringFunc(m[1], func(path string) string {
			file, content := filepath.Join(dir, filepath.Base(path)), []byte("s3cret\n")
			if strings.HasSuffix(path, ".pem") {
				content = ca
			}
			if err := os.WriteFile(file, content, 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		})
		file := filepath.Join(dir, fmt.Sprintf("network-%d.yml", n))
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary, "--config.check", "--config.file="+file).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != file+" is valid" {
			t.Errorf("docs/network.md configuration %d: %v %s\n%s", n, err, out, m[1])
		}
	}
	if n < 2 {
		t.Errorf("%d configurations in docs/network.md, want its two examples", n)
	}
}
