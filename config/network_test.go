package config

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas/atlastest"
	"github.com/atlas-backup-exporter/atlas_backup_exporter/internal/testenv"
)

// privateAtlas is a fake Atlas behind TLS whose certificate no system trusts (httptest's,
// valid for example.com and loopback), with its CA written to a file for ca_file.
type privateAtlas struct {
	*atlastest.Server
	caFile string
	// host is Atlas's host:port as the configuration names it: atlas.invalid, which only the
	// test proxy reaches (no resolver knows .invalid), at the fake's port.
	host string
}

func newPrivateAtlas(t *testing.T) privateAtlas {
	t.Helper()
	srv := atlastest.NewUnstartedServer(atlastest.Options{
		Estate:   atlastest.Generate(atlastest.Spec{Seed: 3, Projects: 1, ClustersPerProject: 1, SnapshotsPerCluster: 1}),
		ClientID: "proxied-id", ClientSecret: "proxied-secret", PublicKey: "proxied-pub", PrivateKey: "proxied-private",
	})
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes refused on purpose
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return privateAtlas{srv, caFile, "atlas.invalid:" + port}
}

// call builds the default set's client from the configuration raw and lists the projects.
func call(t *testing.T, raw string) error {
	t.Helper()
	c, err := Parse("x.yml", []byte(raw), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	client, err := atlas.New(c.ClientConfig(""))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = client.Projects(ctx)
	return err
}

// TestProxyURLAndPrivateCA: with proxy_url, the token request and the API call both go through
// the proxy's CONNECT tunnel (Atlas's host is reachable no other way), the connect headers go
// with each CONNECT, and Atlas's certificate is verified against ca_file under server_name.
func TestProxyURLAndPrivateCA(t *testing.T) {
	fake := newPrivateAtlas(t)
	proxy := testenv.NewConnectProxy(t, fake.Listener.Addr().String())
	raw := fmt.Sprintf(`atlas:
  base_url: https://%s
  service_account: {client_id: proxied-id, client_secret: proxied-secret}
  proxy_url: %s
  proxy_connect_header:
    Proxy-Authorization: [Basic cHJveHk6cGFzcw==]
  tls_config:
    ca_file: %s
    server_name: example.com
    min_version: TLS12
projects: [{discover_all_projects: true}]
`, fake.host, proxy.URL, fake.caFile)
	if err := call(t, raw); err != nil {
		t.Fatal(err)
	}
	if got, want := fake.Counts(), map[string]int{"oauthToken": 1, "listGroups": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("the fake received %v, want %v", got, want)
	}
	tunnels := proxy.Tunnels()
	if len(tunnels) == 0 || slices.IndexFunc(tunnels, func(h string) bool { return h != fake.host }) >= 0 {
		t.Errorf("tunnels %q, want each to %s", tunnels, fake.host)
	}
	for i, h := range proxy.Headers() {
		if got := h.Get("Proxy-Authorization"); got != "Basic cHJveHk6cGFzcw==" {
			t.Errorf("CONNECT %d: Proxy-Authorization %q", i, got)
		}
	}
}

// TestUntrustedCertificateIsNotRetried: without ca_file the handshake fails on Atlas's
// certificate, with the TLS error, once: the proxy opened one tunnel, the fake received nothing.
func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	for name, creds := range map[string]string{
		"api_key":         "api_key: {public_key: proxied-pub, private_key: proxied-private}",
		"service_account": "service_account: {client_id: proxied-id, client_secret: proxied-secret}",
	} {
		t.Run(name, func(t *testing.T) {
			fake := newPrivateAtlas(t)
			proxy := testenv.NewConnectProxy(t, fake.Listener.Addr().String())
			raw := fmt.Sprintf("atlas:\n  base_url: https://%s\n  %s\n  proxy_url: %s\n  tls_config: {server_name: example.com}\nprojects: [{name: P}]\n",
				fake.host, creds, proxy.URL)
			err := call(t, raw)
			if err == nil || !strings.Contains(err.Error(), "tls: failed to verify certificate: x509: certificate signed by unknown authority") {
				t.Errorf("error %v, want the TLS verification error", err)
			}
			if n := len(proxy.Tunnels()); n != 1 {
				t.Errorf("%d tunnels, want 1 (no retry)", n)
			}
			if got := fake.Counts(); len(got) != 0 {
				t.Errorf("the fake received %v", got)
			}
		})
	}
}

// TestProxyFromEnvironment: without proxy_url the environment's HTTPS_PROXY is used (by default
// and with proxy_from_environment: true), NO_PROXY exempts Atlas's host from it, and
// proxy_from_environment: false ignores both. Where no proxy is used, atlas.invalid does not
// resolve: the call fails, and the proxy counts no tunnel.
func TestProxyFromEnvironment(t *testing.T) {
	fake := newPrivateAtlas(t)
	proxy := testenv.NewConnectProxy(t, fake.Listener.Addr().String())
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")
	config := func(key string) string {
		return fmt.Sprintf("atlas:\n  base_url: https://%s\n  api_key: {public_key: proxied-pub, private_key: proxied-private}\n  max_attempts: 1\n%s  tls_config: {ca_file: %s, server_name: example.com}\nprojects: [{name: P}]\n",
			fake.host, key, fake.caFile)
	}
	for _, tc := range []struct {
		name, key, noProxy string
		proxied            bool
	}{
		{"default", "", "", true},
		{"proxy_from_environment: true", "  proxy_from_environment: true\n", "", true},
		{"NO_PROXY names the host", "", "atlas.invalid", false},
		{"NO_PROXY names the domain", "  proxy_from_environment: true\n", ".invalid", false},
		{"proxy_from_environment: false", "  proxy_from_environment: false\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NO_PROXY", tc.noProxy)
			before := len(proxy.Tunnels())
			err := call(t, config(tc.key))
			tunnels := len(proxy.Tunnels()) - before
			var dns *net.DNSError
			switch {
			case tc.proxied && (err != nil || tunnels == 0):
				t.Errorf("through the proxy: error %v, %d tunnels", err, tunnels)
			case !tc.proxied && (!errors.As(err, &dns) || tunnels != 0):
				t.Errorf("without the proxy: error %v (want atlas.invalid not found), %d tunnels (want 0)", err, tunnels)
			}
		})
	}
}

// TestNetworkErrors: each problem of the connection settings with its key path and line,
// quoting no value (a proxy URL may hold a password, a header a credential).
func TestNetworkErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM, cert, key := filepath.Join(dir, "not.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, content := range map[string]string{notPEM: "not a certificate\n", cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", key: "k3y-s3cr3t\n"} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const head = "atlas:\n  api_key: {public_key: p, private_key: k}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"  proxy_url: ftp://user:pa55w0rd@proxy:21\n", "x.yml:3: atlas.proxy_url: must be a proxy URL: http://, https:// or socks5:// host and port, such as http://proxy.example.com:3128"},
		{"  proxy_url: 'http://user:pa55w0rd@proxy:3128/path'\n", "x.yml:3: atlas.proxy_url: must be a proxy URL: http://, https:// or socks5:// host and port, such as http://proxy.example.com:3128"},
		{"  proxy_url: http://proxy:3128\n  proxy_from_environment: true\n", "x.yml:4: atlas.proxy_from_environment: set proxy_url or proxy_from_environment: true, not both"},
		{"  no_proxy: example.com\n", "x.yml:3: atlas.no_proxy: needs proxy_url (the environment's proxy takes NO_PROXY from the environment)"},
		{"  proxy_from_environment: false\n  proxy_connect_header: {X-Auth: [pa55w0rd]}\n", "x.yml:4: atlas.proxy_connect_header: needs a proxy: proxy_url, or the environment's"},
		{"  proxy_url: http://proxy:3128\n  proxy_connect_header: {X-Auth: pa55w0rd}\n", "x.yml:4: atlas.proxy_connect_header.X-Auth: must be a list"},
		{"  proxy_url: http://proxy:3128\n  proxy_connect_header: {'bad header': [pa55w0rd]}\n", "x.yml:4: atlas.proxy_connect_header: must be a mapping of header names to lists of values: a key is not an HTTP header name"},
		{"  proxy_from_environment: 'yes'\n", "x.yml:3: atlas.proxy_from_environment: must be true or false, unquoted"},
		{"  tls_config: {min_version: TLS14}\n", "x.yml:3: atlas.tls_config.min_version: must be one of TLS10, TLS11, TLS12, TLS13"},
		{"  tls_config: {ca_file: " + notPEM + "}\n", "x.yml:3: atlas.tls_config.ca_file: holds no PEM certificate"},
		{"  tls_config: {ca_file: " + filepath.Join(dir, "absent.pem") + "}\n", "x.yml:3: atlas.tls_config.ca_file: cannot read the file: no such file or directory"},
		{"  tls_config: {cert_file: " + cert + "}\n", "x.yml:3: atlas.tls_config.key_file: cert_file and key_file go together: set both, or neither"},
		{"  tls_config: {cert_file: " + cert + ", key_file: " + key + "}\n", "x.yml:3: atlas.tls_config.key_file: cert_file and key_file are not a certificate and its key: tls: failed to find any PEM data in key input"},
		{"  tls_config: {insecure: true}\n", "x.yml:3: atlas.tls_config.insecure: unknown key; expected one of ca_file, cert_file, insecure_skip_verify, key_file, min_version, server_name"},
	} {
		_, err := Parse("x.yml", []byte(head+tc.yaml+"projects: [{name: P}]\n"), noEnv)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s\n got %v\nwant %s", tc.yaml, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "pa55w0rd") || strings.Contains(err.Error(), "k3y-s3cr3t")) {
			t.Errorf("%s: the error quotes a secret: %v", tc.yaml, err)
		}
	}
}

// TestConnectionChanges: a reload sees a change of the connection settings, and of the CA
// file's content under the same name (a rotated CA), as a new connection; every credential set
// gets the one connection.
func TestConnectionChanges(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	fake := newPrivateAtlas(t)
	pemOf := func(file string) []byte {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if err := os.WriteFile(ca, pemOf(fake.caFile), 0o600); err != nil {
		t.Fatal(err)
	}
	const base = "atlas:\n  service_account: {client_id: id, client_secret: s}\n%scredentials: {eu: {api_key: {public_key: p, private_key: k}}}\nprojects: [{name: P}, {name: Q, credentials: eu}]\n"
	parse := func(network string) *Config {
		t.Helper()
		c, err := Parse("x.yml", []byte(fmt.Sprintf(base, network)), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	withCA := "  tls_config: {ca_file: " + ca + "}\n"
	a := parse(withCA)
	if !a.SameConnection(parse(withCA)) || !a.Equal(parse(withCA)) {
		t.Fatal("the same file differs from itself")
	}
	if tls := a.ClientConfig("").Connection.TLS; tls == nil || tls.RootCAs == nil || a.ClientConfig("eu").Connection.TLS != tls {
		t.Errorf("the sets' TLS settings: %p and %p, want one with the CA", tls, a.ClientConfig("eu").Connection.TLS)
	}
	for what, network := range map[string]string{
		"none":        "",
		"proxy_url":   withCA + "  proxy_url: http://proxy:3128\n",
		"min_version": "  tls_config: {ca_file: " + ca + ", min_version: TLS13}\n",
	} {
		if b := parse(network); a.SameConnection(b) || a.Equal(b) {
			t.Errorf("a change to %s is not seen", what)
		}
	}
	// httptest has one certificate: a bundle of it twice is new content all the same.
	if err := os.WriteFile(ca, append(pemOf(fake.caFile), pemOf(fake.caFile)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if b := parse(withCA); a.SameConnection(b) || a.Equal(b) {
		t.Error("a new CA in the same file is not seen")
	}
}

// TestExampleConfigNetwork: config.example.yml's connection keys, uncommented, are valid and
// mean what its comments say.
func TestExampleConfigNetwork(t *testing.T) {
	raw, err := os.ReadFile("../config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	secret, ca := filepath.Join(dir, "secret"), filepath.Join(dir, "ca.pem")
	fake := newPrivateAtlas(t)
	caPEM, err := os.ReadFile(fake.caFile)
	if err != nil {
		t.Fatal(err)
	}
	for file, content := range map[string][]byte{secret: []byte("s\n"), ca: caPEM} {
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(string(raw), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "  # proxy_url:") })
	if start < 0 {
		t.Fatal("config.example.yml has no commented proxy_url")
	}
	n := 0
	for i := start; i < len(lines) && lines[i] != ""; i++ {
		lines[i] = strings.Replace(lines[i], "  # ", "  ", 1)
		n++
	}
	cfg := strings.NewReplacer("/run/secrets/atlas-client-secret", secret, "/etc/atlas_backup_exporter/proxy-ca.pem", ca).Replace(strings.Join(lines, "\n"))
	c, err := Parse("config.example.yml", []byte(cfg), noEnv)
	if err != nil {
		t.Fatalf("%d lines uncommented: %v", n, err)
	}
	conn := c.ClientConfig("").Connection
	if conn.TLS == nil || conn.TLS.RootCAs == nil || conn.TLS.ServerName != "cloud.mongodb.com" || conn.TLS.MinVersion != tls.VersionTLS12 || conn.TLS.InsecureSkipVerify ||
		conn.ProxyConnectHeader.Get("Proxy-Authorization") != "Basic dXNlcjpwYXNzd29yZA==" {
		t.Errorf("connection %+v", conn)
	}
	for target, want := range map[string]string{"https://cloud.mongodb.com/api": "http://proxy.example.com:3128", "https://db.internal.example.com/": ""} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		u, err := conn.Proxy(req)
		if got := fmt.Sprint(u); err != nil || (want == "" && u != nil) || (want != "" && got != want) {
			t.Errorf("proxy of %s: %v %v, want %q", target, u, err, want)
		}
	}
}

// TestNetworkSecretsHidden: a proxy URL's password and the connect headers' values are never
// written out: a marshalled configuration hides them, and its keys read back.
func TestNetworkSecretsHidden(t *testing.T) {
	raw := "atlas:\n  api_key: {public_key: p, private_key: k}\n  proxy_url: http://user:pa55w0rd@proxy:3128\n  proxy_connect_header: {Proxy-Authorization: [Basic pa55w0rd]}\nprojects: [{name: P}]\n"
	c, err := Parse("x.yml", []byte(raw), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "pa55w0rd") || !strings.Contains(string(out), "proxy_url: http://user:xxxxx@proxy:3128") ||
		!strings.Contains(string(out), "- <secret>") {
		t.Errorf("marshalled:\n%s", out)
	}
	if _, err := Parse("x.yml", out, noEnv); err != nil && strings.Contains(err.Error(), "unknown key") {
		t.Error(err)
	}
}
