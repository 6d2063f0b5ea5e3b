package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func noEnv(string) string { return "" }

func TestGoodConfig(t *testing.T) {
	raw, err := os.ReadFile("testdata/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("testdata/good.yml", raw, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Atlas.ServiceAccount.ClientSecret != "topsecret-client" {
		t.Errorf("secret file not read")
	}
	if c.Atlas.MaxConcurrency != 4 || c.Atlas.Timeout.D() != 20*time.Second || c.MinRefreshInterval.D() != 10*time.Minute ||
		c.RefreshTimeout.D() != DefaultRefreshTimeout || c.SnapshotMetricsEnabled() || c.BackupSchedulesEnabled() || c.Atlas.MaxAttempts != 4 {
		t.Errorf("values: %+v", c)
	}
	if !c.Projects[1].Include.MatchString("prod-a") || c.Projects[1].Include.MatchString("xprod-a") {
		t.Errorf("include must be anchored")
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "topsecret") || !strings.Contains(string(out), "client_secret: <secret>") {
		t.Errorf("marshalled config shows the secret or hides the marker:\n%s", out)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("x.yml", []byte("projects: [{name: P}]\n"), func(k string) string {
		return map[string]string{EnvPublicKey: "pub", EnvPrivateKey: "priv"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Atlas.APIKey == nil || c.Atlas.APIKey.PrivateKey != "priv" || c.Atlas.BaseURL != "https://cloud.mongodb.com" ||
		c.MinRefreshInterval.D() != 5*time.Minute || c.Atlas.Timeout.D() != 30*time.Second || c.Atlas.MaxConcurrency != 8 || !c.SnapshotMetricsEnabled() || !c.BackupSchedulesEnabled() {
		t.Errorf("defaults: %+v", c)
	}
	c, err = Parse("x.yml", []byte("min_refresh_interval: 0s\nprojects: [{name: P}]\n"), func(k string) string {
		return map[string]string{EnvClientID: "id", EnvClientSecret: "s"}[k]
	})
	if err != nil || c.MinRefreshInterval != 0 || c.Atlas.ServiceAccount.ClientID != "id" {
		t.Errorf("explicit zero interval / env service account: %+v %v", c, err)
	}
}

func TestBadConfigs(t *testing.T) {
	cases := map[string]string{
		"unknown-key": `testdata/bad-unknown-key.yml:3: unknown key "concurrency"`,
		"id":          `testdata/bad-id.yml:4: projects[0].id: "5f1e" is not a project id (24 lowercase hex digits)`,
		"both-auth":   `testdata/bad-both-auth.yml:3: atlas.api_key: set either service_account or api_key, not both`,
		"no-auth": `testdata/bad-no-auth.yml:1: atlas: no credentials: set atlas.service_account or atlas.api_key, or the ` +
			`MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET or MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY environment variables`,
		"regex":               `testdata/bad-regex.yml:5: "prod-(" is not a valid regular expression: missing closing ): ` + "`^(?:prod-()$`",
		"duration":            `testdata/bad-duration.yml:3: "5 minutes" is not a valid duration (use e.g. 30s, 5m, 1h)`,
		"kind":                `testdata/bad-kind.yml:5: projects[0].kinds[1]: unknown kind "m2" (want one of cloud, flex, serverless, tenant, legacy)`,
		"http-base-url":       `testdata/bad-http-base-url.yml:2: atlas.base_url: plain http is only allowed for loopback hosts`,
		"secret-and-file":     `testdata/bad-secret-and-file.yml:5: atlas.service_account.client_secret_file: set either client_secret or client_secret_file, not both`,
		"missing-secret-file": `testdata/bad-missing-secret-file.yml:4: atlas.api_key.private_key_file: cannot read testdata/nonexistent: no such file or directory`,
		"two-selectors":       `testdata/bad-two-selectors.yml:4: projects[0]: set exactly one of id, name or discover_all_projects`,
		"no-projects":         `testdata/bad-no-projects.yml:1: projects: at least one project is required (id, name or discover_all_projects)`,
		"duplicate-project":   `testdata/bad-duplicate-project.yml:5: projects[1].id: project 5f1e0000000000000000abcd is already configured in projects[0]`,
		"snapshots-need-one-cluster": `testdata/bad-snapshots-need-one-cluster.yml:6: projects[0].snapshots: snapshots needs exactly one cluster in clusters, got 2` + "\n" +
			`testdata/bad-snapshots-need-one-cluster.yml:6: projects[0].snapshots[1]: "zz" is not a snapshot id (24 lowercase hex digits)`,
		"cluster-name": `testdata/bad-cluster-name.yml:5: projects[0].clusters[0]: "-orders" is not a cluster name (letters, digits and hyphens, starting with a letter or digit)` + "\n" +
			`testdata/bad-cluster-name.yml:5: projects[0].clusters[1]: "a b" is not a cluster name (letters, digits and hyphens, starting with a letter or digit)`,
		"wrong-type":                       "testdata/bad-wrong-type.yml:3: cannot unmarshal !!str `many` into int",
		"max-concurrency":                  `testdata/bad-max-concurrency.yml:3: atlas.max_concurrency: must be between 1 and 256, got 1000`,
		"project-filter-without-discovery": `testdata/bad-project-filter-without-discovery.yml:5: projects[0].project_include: project_include and project_exclude need discover_all_projects: true`,
		"not-yaml":                         `testdata/bad-not-yaml.yml:1: did not find expected ',' or ']'`,
		"empty":                            `testdata/bad-empty.yml: the file is empty`,
	}
	files, _ := filepath.Glob("testdata/bad-*.yml")
	if len(files) != len(cases) {
		t.Errorf("%d bad-*.yml files but %d cases", len(files), len(cases))
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			file := "testdata/bad-" + name + ".yml"
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(file, raw, noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != want {
				t.Errorf("got\n%s\nwant\n%s", err, want)
			}
		})
	}
}

func TestSafeConfigKeepsOldOnBadReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yml")
	good := "atlas: {api_key: {public_key: a, private_key: b}}\nprojects: [{name: P}]\n"
	if err := os.WriteFile(file, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	var s SafeConfig
	if _, err := s.Reload(file); err != nil {
		t.Fatal(err)
	}
	old := s.Get()
	if err := os.WriteFile(file, []byte("atlas: {nope: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.Reload(file)
	if want := file + `:1: unknown key "nope"`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	if s.Get() != old {
		t.Error("a bad reload replaced the running config")
	}
}
