package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// A configuration of several organisations: the atlas section's connection settings and
// credentials, two named sets, and projects entries naming which set reads them.
func TestCredentialSets(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "eu-key")
	if err := os.WriteFile(secret, []byte("eu-private\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	raw := `atlas:
  base_url: https://cloud.mongodbgov.com
  service_account: {client_id: own, client_secret: own-secret}
  max_concurrency: 6
credentials:
  billing:
    service_account: {client_id: billing, client_secret: billing-secret}
  eu-unit:
    api_key: {public_key: eu, private_key_file: ` + secret + `}
projects:
  - discover_all_projects: true
    credentials: eu-unit
  - id: 5f0000000000000000000001
  - discover_all_projects: true
    credentials: billing
  - name: Shared
    credentials: default
`
	// The environment's credentials go unread when the atlas section has its own.
	c, err := Parse("x.yml", []byte(raw), func(k string) string { return map[string]string{EnvPublicKey: "env"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sets(); !slices.Equal(got, []string{"eu-unit", "", "billing"}) {
		t.Errorf("sets %q, want the order entries name them, default as \"\"", got)
	}
	if !c.Named() || c.Projects[3].Credentials != "" {
		t.Errorf("named %v, credentials: default read as %q", c.Named(), c.Projects[3].Credentials)
	}
	base := atlas.Config{BaseURL: "https://cloud.mongodbgov.com", Timeout: atlas.DefaultTimeout, MaxConcurrency: 6, Retry: atlas.DefaultRetryPolicy,
		RateLimitFactor: atlas.DefaultRateLimitFactor}
	for name, creds := range map[string]func(*atlas.Config){
		"": func(c *atlas.Config) {
			c.ServiceAccount = &atlas.ServiceAccount{ClientID: "own", ClientSecret: "own-secret"}
		},
		"billing": func(c *atlas.Config) {
			c.ServiceAccount = &atlas.ServiceAccount{ClientID: "billing", ClientSecret: "billing-secret"}
		},
		"eu-unit": func(c *atlas.Config) { c.APIKey = &atlas.APIKey{PublicKey: "eu", PrivateKey: "eu-private"} },
	} {
		want := base
		want.Share = name
		creds(&want)
		got := c.ClientConfig(name)
		if got.Connection.Proxy == nil { // the environment's, as every set's (network_test.go)
			t.Errorf("set %q: no proxy function", name)
		}
		got.Connection = atlas.Connection{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("set %q:\n got %+v\nwant %+v", name, got, want)
		}
	}
	if got := c.SecretFiles(); !reflect.DeepEqual(got, []SecretFile{{"credentials.eu-unit.api_key.private_key_file", secret, "eu-private"}}) {
		t.Errorf("secret files %+v", got)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"own-secret", "billing-secret", "eu-private"} {
		if strings.Contains(string(out), v) {
			t.Errorf("marshalled config shows a secret:\n%s", out)
		}
	}
	if !strings.Contains(string(out), "credentials:\n    billing:\n        service_account:") {
		t.Errorf("marshalled config lacks the credentials section:\n%s", out)
	}
	again, err := Parse("x.yml", []byte(raw), noEnv)
	if err != nil || !c.Equal(again) {
		t.Fatalf("the same file differs from itself: %v", err)
	}
	if err := os.WriteFile(secret, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rotated, err := Parse("x.yml", []byte(raw), noEnv); err != nil || c.Equal(rotated) {
		t.Errorf("a set's rotated secret is not seen: %v", err)
	}

	// Only named sets: the atlas section needs no credentials, and those of the environment
	// are not read.
	only := "atlas: {timeout: 10s}\ncredentials:\n  a: {api_key: {public_key: p, private_key: k}}\nprojects:\n  - {name: P, credentials: a}\n"
	c, err = Parse("x.yml", []byte(only), func(k string) string { return map[string]string{EnvClientID: "id", EnvClientSecret: "s"}[k] })
	if err != nil || c.Atlas.ServiceAccount != nil || !slices.Equal(c.Sets(), []string{"a"}) {
		t.Errorf("named sets only: %+v %v", c, err)
	}
	// Without a credentials section nothing changes: one set, unnamed.
	c, err = Parse("x.yml", []byte("projects: [{name: P}]\n"), func(k string) string { return map[string]string{EnvPublicKey: "p", EnvPrivateKey: "k"}[k] })
	if err != nil || c.Named() || !slices.Equal(c.Sets(), []string{""}) || c.ClientConfig("").APIKey.PublicKey != "p" {
		t.Errorf("single set: %+v %v", c, err)
	}
}
