package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// TestSecretsNeverEmitted runs the exporter with each kind of credentials at debug level,
// makes Atlas reject them, dumps every goroutine's stack (SIGQUIT, as a panic would), and greps
// everything it emitted for the secret, the tokens and the digest responses.
func TestSecretsNeverEmitted(t *testing.T) {
	const (
		clientSecret = "sa-secret-5f1e2d3c4b5a69788796a5b4c3d2e1f0"
		privateKey   = "pk-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	)
	for _, auth := range []string{"service_account", "api_key", "credential set"} {
		t.Run(auth, func(t *testing.T) {
			srv := atlastest.NewServer(atlastest.Options{
				Estate:   atlastest.Generate(atlastest.Spec{Seed: 3, Projects: 1, ClustersPerProject: 8, SnapshotsPerCluster: 3}),
				ClientID: "client-id", ClientSecret: clientSecret, PublicKey: "public-key", PrivateKey: privateKey,
			})
			defer srv.Close()
			dir := t.TempDir()
			secretFile := filepath.Join(dir, "secret")
			creds := fmt.Sprintf("service_account: {client_id: client-id, client_secret_file: %s}", secretFile)
			secret := clientSecret
			if auth == "api_key" {
				creds = fmt.Sprintf("api_key: {public_key: public-key, private_key_file: %s}", secretFile)
				secret = privateKey
			}
			if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "c.yml")
			raw := fmt.Sprintf("atlas:\n  base_url: %s\n  %s\nmin_refresh_interval: 0s\nprojects: [{discover_all_projects: true}]\n", srv.URL, creds)
			if auth == "credential set" {
				raw = fmt.Sprintf("atlas:\n  base_url: %s\ncredentials:\n  eu:\n    %s\nmin_refresh_interval: 0s\nprojects: [{discover_all_projects: true, credentials: eu}]\n", srv.URL, creds)
			}
			if err := os.WriteFile(cfg, []byte(raw), 0o600); err != nil {
				t.Fatal(err)
			}
			e := startExporter(t, "--config.file="+cfg, "--log.level=debug", "--web.enable-lifecycle")
			var emitted strings.Builder
			for _, path := range []string{"/metrics", "/", "/-/ready", "/-/healthy"} {
				_, body := e.get(t, path)
				emitted.WriteString(body)
			}
			// Rejected credentials: errors are logged and exposed.
			srv.SetCredentials("client-id", "rotated", "public-key", "rotated")
			_, body := e.get(t, "/metrics")
			emitted.WriteString(body)
			if !strings.Contains(body, "atlas_backup_up 0") {
				t.Error("rejected credentials not reported")
			}
			// A failed reload's answer.
			if err := os.WriteFile(cfg, []byte("atlas: {api_key: {public_key: x, private_key: "+secret+"}, nope: 1}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, answer := e.reload(t)
			emitted.WriteString(answer)
			// A stack dump of every goroutine, as a crash prints.
			if err := e.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
				t.Fatal(err)
			}
			_ = e.cmd.Wait()
			logs := e.logs.String()
			if !strings.Contains(logs, "goroutine ") || !strings.Contains(logs, "level=debug") && !strings.Contains(logs, "level=warn") {
				t.Fatalf("no stack dump or logs to check:\n%.2000s", logs)
			}
			emitted.WriteString(logs)
			out := emitted.String()
			leaks := append([]string{secret}, srv.IssuedSecrets()...)
			if len(leaks) < 2 {
				t.Fatal("the fake issued no token or digest response to look for")
			}
			for _, s := range leaks {
				if strings.Contains(out, s) {
					t.Errorf("emitted output contains a secret %q", s)
				}
			}
		})
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their paths and a pool
// that trusts them.
func selfSigned(t *testing.T, dir string) (string, string, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "atlas_backup_exporter test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestWebConfigTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testenv.FreeAddr(t)
	logs := &testenv.Buffer{}
	cmd := exec.Command(binary, "--demo", "--web.listen-address="+addr, "--web.config.file="+webCfg)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(user, pass string) int {
		req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	for get("prometheus", "scrape-password") != 200 {
		if time.Now().After(deadline) {
			t.Fatalf("no authenticated HTTPS scrape after 30s:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("scrape without credentials: %d, want 401", code)
	}
	if code := get("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("scrape with a wrong password: %d, want 401", code)
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP scrape succeeded")
		}
	}
}

func TestReloadUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("reloads under a stream of scrapes for seconds")
	}
	srv := newFakeAtlas(t, atlastest.Options{Latency: 2 * time.Millisecond})
	cfgFile := filepath.Join(t.TempDir(), "c.yml")
	configs := []string{"  - id: 5f0000000000000000000001\n", "  - id: 5f0000000000000000000001\n    clusters: [dedicated-01, flex-02]\n"}
	writeConfig(t, cfgFile, srv.URL, configs[0])
	e := startExporter(t, "--config.file="+cfgFile)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _ := e.get(t, "/metrics")
				mu.Lock()
				codes[code]++
				mu.Unlock()
			}
		}()
	}
	scraped := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, c := range codes {
			n += c
		}
		return n
	}
	// Each reload reads the file when it runs, and signals that arrive while one runs are
	// merged: the next file is written only once this SIGHUP's reload has logged its outcome
	// (every outcome names its reason), however long a loaded machine takes, and scrapes have
	// been answered since, so that every reload happens among scrapes.
	for i := range 10 {
		writeConfig(t, cfgFile, srv.URL, configs[i%2])
		before := scraped()
		if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		if n := e.waitLog(t, "reason=SIGHUP", i+1); n != i+1 {
			close(stop)
			wg.Wait()
			t.Fatalf("after SIGHUP %d, %d reloads logged:\n%s", i+1, n, e.logs)
		}
		for deadline := time.Now().Add(10 * time.Second); scraped() < before+10 && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if len(codes) != 1 || codes[200] == 0 {
		t.Errorf("scrape status codes during reloads: %v", codes)
	}
	if code, _ := e.get(t, "/-/healthy"); code != 200 {
		t.Errorf("not healthy after reloads: %d", code)
	}
	e.waitLog(t, `msg="configuration reloaded"`, 9)
	logs := e.logs.String()
	// The first SIGHUP finds the file as it started; the nine others alternate.
	if strings.Count(logs, `msg="configuration reloaded"`) != 9 || strings.Count(logs, `msg="configuration unchanged"`) != 1 || strings.Contains(logs, "panic") {
		t.Errorf("reload log:\n%s", logs)
	}
}
