package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
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
		c.RefreshTimeout.D() != DefaultRefreshTimeout || c.SnapshotMetricsEnabled() || c.BackupSchedulesEnabled() || c.Atlas.MaxAttempts != 4 ||
		c.RestoreJobsEnabled() || !c.ExportJobsEnabled() || !c.CompliancePolicyEnabled() || c.JobsInterval.D() != time.Hour {
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
	c, err := Parse("x.yml", []byte("atlas: {timeout: ~}\nprojects: [{name: P}]\n"), func(k string) string {
		return map[string]string{EnvPublicKey: "pub", EnvPrivateKey: "priv"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	// A key without a value is the same as an absent key; the Atlas client's defaults are atlas's.
	want := atlas.Config{
		BaseURL: atlas.DefaultBaseURL, APIKey: &atlas.APIKey{PublicKey: "pub", PrivateKey: "priv"}, Timeout: atlas.DefaultTimeout,
		MaxConcurrency: atlas.DefaultMaxConcurrency, Retry: atlas.DefaultRetryPolicy, RateLimitFactor: atlas.DefaultRateLimitFactor,
	}
	got := c.ClientConfig("")
	// The connection: Go's TLS defaults, the environment's proxy (network_test.go).
	if got.Connection.TLS != nil || got.Connection.Proxy == nil || got.Connection.ProxyConnectHeader != nil {
		t.Errorf("default connection %+v", got.Connection)
	}
	got.Connection = atlas.Connection{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("client config\n got %+v\nwant %+v", got, want)
	}
	if c.MinRefreshInterval.D() != DefaultMinRefreshInterval || c.RefreshTimeout.D() != DefaultRefreshTimeout ||
		!c.SnapshotMetricsEnabled() || !c.BackupSchedulesEnabled() || !c.RestoreJobsEnabled() || !c.ExportJobsEnabled() ||
		!c.CompliancePolicyEnabled() || c.JobsInterval.D() != DefaultJobsInterval {
		t.Errorf("defaults: %+v", c)
	}
	c, err = Parse("x.yml", []byte("min_refresh_interval: 0s\nprojects: [{name: P}]\n"), func(k string) string {
		return map[string]string{EnvClientID: "id", EnvClientSecret: "s"}[k]
	})
	if err != nil || c.MinRefreshInterval != 0 || c.Atlas.ServiceAccount.ClientID != "id" {
		t.Errorf("explicit zero interval / env service account: %+v %v", c, err)
	}
}

// The ranges include their ends.
func TestRangeEnds(t *testing.T) {
	const head = "atlas:\n  api_key: {public_key: p, private_key: k}\n"
	for _, tc := range []struct{ yaml, want string }{
		{"  max_concurrency: 1\n  max_attempts: 1\n  rate_limit_factor: 0.01\n  timeout: 1s\nrefresh_timeout: 1s\nmin_refresh_interval: 0s\nsnapshot_metrics: False\ndiscovery_interval: 0s\njobs_interval: 0s\n",
			"1 1 0.01 1s 1s 0s false 0s 0s"},
		{"  max_concurrency: 256\n  max_attempts: 10\n  rate_limit_factor: 1\n  timeout: 5m\nrefresh_timeout: 1h\nmin_refresh_interval: 24h\nsnapshot_metrics: TRUE\ndiscovery_interval: 168h\njobs_interval: 24h\n",
			"256 10 1 5m0s 1h0m0s 24h0m0s true 168h0m0s 24h0m0s"},
	} {
		c, err := Parse("x.yml", []byte(head+tc.yaml+"projects: [{name: P}]\n"), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		a := c.Atlas
		if got := fmt.Sprint(a.MaxConcurrency, a.MaxAttempts, a.RateLimitFactor, a.Timeout.D(), c.RefreshTimeout.D(), c.MinRefreshInterval.D(),
			c.SnapshotMetricsEnabled(), c.DiscoveryInterval.D(), c.JobsInterval.D()); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.yaml, got, tc.want)
		}
	}
}

// secretMarker is in a secret or misplaced value of every bad file that has one: no error may
// quote it.
const secretMarker = "s3cr3t"

func TestBadConfigs(t *testing.T) {
	const manyTypes = "unknown key; expected one of api_key, base_url, max_attempts, max_concurrency, no_proxy, proxy_connect_header, proxy_from_environment, proxy_url, rate_limit_factor, service_account, timeout, tls_config"
	const noAuth = "atlas: no credentials: set atlas.service_account or atlas.api_key, or the " +
		"MONGODB_ATLAS_CLIENT_ID/MONGODB_ATLAS_CLIENT_SECRET or MONGODB_ATLAS_PUBLIC_API_KEY/MONGODB_ATLAS_PRIVATE_API_KEY environment variables"
	const clusterName = "must be a cluster name: letters, digits and hyphens, starting with a letter or digit"
	const baseURL = "must be https://host or https://host:port (http:// only for a loopback host)"
	cases := map[string]string{
		"unknown-key":              `testdata/bad-unknown-key.yml:3: atlas.concurrency: ` + manyTypes,
		"id":                       `testdata/bad-id.yml:4: projects[0].id: must be a project id: 24 lowercase hex digits`,
		"both-auth":                `testdata/bad-both-auth.yml:3: atlas.api_key: set either service_account or api_key, not both`,
		"no-auth":                  `testdata/bad-no-auth.yml:1: ` + noAuth,
		"credentials-unknown-set":  `testdata/bad-credentials-unknown-set.yml:6: projects[1].credentials: names no set of the credentials section (the credentials section has none)`,
		"credentials-unused-set":   `testdata/bad-credentials-unused-set.yml:4: credentials.eu-unit: no projects entry reads with this set (credentials: eu-unit): remove it, or read with it`,
		"credentials-unused-atlas": `testdata/bad-credentials-unused-atlas.yml:2: atlas.service_account: no projects entry reads with the atlas section's credentials (an entry without a credentials key does): remove them, or read with them`,
		// A set named default, or not a plain name, is not a set: no entry can name it.
		"credentials-sets": strings.Join([]string{
			`testdata/bad-credentials-sets.yml:1: ` + noAuth,
			`testdata/bad-credentials-sets.yml:4: credentials.both.api_key: set either service_account or api_key, not both`,
			`testdata/bad-credentials-sets.yml:5: credentials.none: set service_account or api_key`,
			`testdata/bad-credentials-sets.yml:6: credentials.default: default names the atlas section's credentials; give this set another name`,
			`testdata/bad-credentials-sets.yml:8: credentials: set names are letters, digits, '_' and '-', starting with a letter or digit`,
			`testdata/bad-credentials-sets.yml:11: credentials.nofile.api_key.private_key_file: cannot read the file: no such file or directory`,
		}, "\n"),
		"regex":                `testdata/bad-regex.yml:5: projects[0].include: must be a regular expression (RE2 syntax): missing closing )`,
		"duration":             `testdata/bad-duration.yml:3: min_refresh_interval: must be a duration from 0s to 24h, such as 30s or 2m30s`,
		"kind":                 `testdata/bad-kind.yml:5: projects[0].kinds[1]: must be one of cloud, flex, serverless, tenant, legacy`,
		"http-base-url":        `testdata/bad-http-base-url.yml:2: atlas.base_url: ` + baseURL,
		"secret-and-file":      `testdata/bad-secret-and-file.yml:5: atlas.service_account.client_secret_file: set either client_secret or client_secret_file, not both`,
		"missing-secret-file":  `testdata/bad-missing-secret-file.yml:4: atlas.api_key.private_key_file: cannot read the file: no such file or directory`,
		"empty-secret-file":    `testdata/bad-empty-secret-file.yml:4: atlas.service_account.client_secret_file: the file is empty`,
		"secret-wrong-type":    `testdata/bad-secret-wrong-type.yml:4: atlas.service_account.client_secret: must be a string`,
		"two-selectors":        `testdata/bad-two-selectors.yml:4: projects[0]: set exactly one of id, name or discover_all_projects`,
		"no-projects":          `testdata/bad-no-projects.yml:1: projects: at least one project is required (id, name or discover_all_projects)`,
		"duplicate-project":    `testdata/bad-duplicate-project.yml:5: projects[1].id: the same project is already configured in projects[0]`,
		"duplicate-key":        `testdata/bad-duplicate-key.yml:4: atlas.timeout: is already set on line 3`,
		"merge-key":            `testdata/bad-merge-key.yml:7: projects[1]: merge keys (<<) are not supported; aliases (*name) are`,
		"not-mapping":          `testdata/bad-not-mapping.yml:1: atlas: must be a mapping of keys to values`,
		"wrong-type":           `testdata/bad-wrong-type.yml:4: atlas.max_concurrency: must be a whole number from 1 to 256`,
		"max-concurrency":      `testdata/bad-max-concurrency.yml:3: atlas.max_concurrency: must be a whole number from 1 to 256`,
		"zero-max-concurrency": `testdata/bad-zero-max-concurrency.yml:3: atlas.max_concurrency: must be a whole number from 1 to 256`,
		"zero-timeout":         `testdata/bad-zero-timeout.yml:3: atlas.timeout: must be a duration from 1s to 5m, such as 30s or 2m30s`,
		"refresh-timeout":      `testdata/bad-refresh-timeout.yml:3: refresh_timeout: must be a duration from 1s to 1h, such as 30s or 2m30s`,
		"discovery-interval":   `testdata/bad-discovery-interval.yml:3: discovery_interval: must be a duration from 0s to 168h, such as 30s or 2m30s`,
		"jobs-interval":        `testdata/bad-jobs-interval.yml:3: jobs_interval: must be a duration from 0s to 24h, such as 30s or 2m30s`,
		"max-attempts":         `testdata/bad-max-attempts.yml:3: atlas.max_attempts: must be a whole number from 1 to 10`,
		"rate-limit-factor":    `testdata/bad-rate-limit-factor.yml:3: atlas.rate_limit_factor: must be a number above 0 and at most 1`,
		"bool-no":              `testdata/bad-bool-no.yml:4: snapshot_metrics: must be true or false, unquoted`,
		"bool-quoted":          `testdata/bad-bool-quoted.yml:4: backup_schedules: must be true or false, unquoted`,
		"snapshots-need-one-cluster": `testdata/bad-snapshots-need-one-cluster.yml:6: projects[0].snapshots: needs exactly one cluster in clusters` + "\n" +
			`testdata/bad-snapshots-need-one-cluster.yml:6: projects[0].snapshots[1]: must be a snapshot id: 24 lowercase hex digits`,
		"cluster-name": `testdata/bad-cluster-name.yml:5: projects[0].clusters[0]: ` + clusterName + "\n" +
			`testdata/bad-cluster-name.yml:5: projects[0].clusters[1]: ` + clusterName,
		"project-filter-without-discovery": `testdata/bad-project-filter-without-discovery.yml:5: projects[0].project_include: project_include and project_exclude need discover_all_projects: true`,
		"not-yaml":                         `testdata/bad-not-yaml.yml:1: did not find expected ',' or ']'`,
		"syntax-line":                      `testdata/bad-syntax-line.yml:9: did not find expected '-' indicator`,
		"empty":                            `testdata/bad-empty.yml: the file is empty`,
		// Every problem at once, decoding and checks alike, sorted by line.
		"many": strings.Join([]string{
			`testdata/bad-many.yml:2: atlas.base_url: ` + baseURL,
			`testdata/bad-many.yml:4: atlas.max_concurrency: must be a whole number from 1 to 256`,
			`testdata/bad-many.yml:5: atlas.timeout: must be a duration from 1s to 5m, such as 30s or 2m30s`,
			`testdata/bad-many.yml:6: atlas.concurency: ` + manyTypes,
			`testdata/bad-many.yml:7: refresh_timeout: must be a duration from 1s to 1h, such as 30s or 2m30s`,
			`testdata/bad-many.yml:8: snapshot_metrics: must be true or false, unquoted`,
			`testdata/bad-many.yml:10: projects[0].id: must be a project id: 24 lowercase hex digits`,
			`testdata/bad-many.yml:11: projects[0].clusters[1]: ` + clusterName,
			`testdata/bad-many.yml:12: projects[0].kinds[1]: must be one of cloud, flex, serverless, tenant, legacy`,
			`testdata/bad-many.yml:13: projects[1]: set exactly one of id, name or discover_all_projects`,
		}, "\n"),
	}
	// Files without a value worth hiding.
	noSecret := map[string]bool{"empty": true, "no-auth": true, "empty-secret-file": true}
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
			if !noSecret[name] && !bytes.Contains(raw, []byte(secretMarker)) {
				t.Errorf("%s has no %s value to hide", file, secretMarker)
			}
			_, err = Parse(file, raw, noEnv)
			if err == nil {
				t.Fatal("no error")
			}
			if err.Error() != want {
				t.Errorf("got\n%s\nwant\n%s", err, want)
			}
			if strings.Contains(err.Error(), secretMarker) {
				t.Errorf("the error quotes a value: %s", err)
			}
		})
	}
}

// yaml prints a parser problem's line counted from 0, and often the line where the enclosing
// block begins rather than the problem's: the error names the problem's own line.
func TestSyntaxErrorLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		// yaml: line 1 (the mapping that begins on line 2).
		{"atlas:\n  api_key:\n    public_key: x\n   private_key: y\nprojects: []\n", "x.yml:4: did not find expected key"},
		// yaml: line 4 (the list that begins on line 5).
		{"# c\natlas:\n  timeout: 1s\nprojects:\n  - id: x\n  - name: y\n    clusters: [a]\n  kinds: [cloud]\n", "x.yml:8: did not find expected '-' indicator"},
		// yaml: line 1 (the bracket that opens on line 2, unclosed: that line is the one to fix).
		{"atlas:\n  api_key: {public_key: c\nprojects:\n  - name: x\n", "x.yml:2: did not find expected ',' or '}'"},
		// yaml: line 2 (the problem itself, counted from 0, when the block begins on line 1).
		{"a: 1\nb: 2\n- x\n", "x.yml:3: did not find expected key"},
		// yaml: line 1 (the end of the file, counted from 0, after the last line).
		{"atlas: [unclosed\n", "x.yml:1: did not find expected ',' or ']'"},
		// Scanner problems were right already.
		{"a: 1\nb: 2\n  c: 3\nd: 4\n", "x.yml:3: mapping values are not allowed in this context"},
		{"atlas:\n  timeout: 1s\nprojects:\n  - id: x\n    include: \"a\n  - name: y\n", "x.yml:5: found unexpected end of stream"},
		{"a: 1\n\x01\n", "x.yml: control characters are not allowed"},
	} {
		if _, err := Parse("x.yml", []byte(tc.yaml), noEnv); err == nil || err.Error() != tc.want {
			t.Errorf("%q: got %v, want %s", tc.yaml, err, tc.want)
		}
	}
}

func TestAliases(t *testing.T) {
	raw := "atlas: {api_key: {public_key: p, private_key: k}}\nprojects:\n  - {name: A, kinds: &kinds [cloud, flex]}\n  - {name: B, kinds: *kinds}\n"
	c, err := Parse("x.yml", []byte(raw), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.Projects[0].Kinds, c.Projects[1].Kinds); got != "[cloud flex] [cloud flex]" {
		t.Errorf("kinds: %s", got)
	}
	// A few lines of aliases that expand to more values than any configuration has.
	var b strings.Builder
	b.WriteString("atlas: {api_key: {public_key: p, private_key: k}}\nprojects:\n  - &p {name: P, clusters: [")
	for i := range 300 {
		fmt.Fprintf(&b, "c%d, ", i)
	}
	b.WriteString("c]}\n")
	for range 400 {
		b.WriteString("  - *p\n")
	}
	_, err = Parse("x.yml", []byte(b.String()), noEnv)
	if want := "x.yml:3: aliases add more than 100000 values to the file"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// Every key a marshalled Config writes is one the decoder reads: the yaml tags and the
// decoder's tables name the same keys.
func TestMarshalledKeysAreKnown(t *testing.T) {
	re := &Regexp{original: "x"}
	yes := true
	c := &Config{
		Atlas: Atlas{ServiceAccount: &ServiceAccount{}, APIKey: &APIKey{}}, SnapshotMetrics: &yes, BackupSchedules: &yes,
		Credentials: Credentials{{Name: "eu", ServiceAccount: &ServiceAccount{}, APIKey: &APIKey{}}},
		Projects: []Project{{ProjectInclude: re, ProjectExclude: re, Include: re, Exclude: re, Clusters: []string{"a"}, Kinds: []atlas.Kind{atlas.KindCloud}, Snapshots: []string{"s"},
			Credentials: "eu"}},
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse("x.yml", out, noEnv); err == nil || strings.Contains(err.Error(), "unknown key") {
		t.Errorf("%v\n%s", err, out)
	}
}

// config.example.yml, which documents every key, is valid once the secret file it names exists.
func TestExampleConfig(t *testing.T) {
	raw, err := os.ReadFile("../config.example.yml")
	if err != nil {
		t.Fatal(err)
	}
	const shipped = "/run/secrets/atlas-client-secret"
	if n := bytes.Count(raw, []byte(shipped)); n != 1 {
		t.Fatalf("config.example.yml names %s %d times, want once", shipped, n)
	}
	// As shipped it fails only for the missing secret file, with the message README quotes.
	if _, err := os.Stat(shipped); os.IsNotExist(err) {
		_, err := Parse("config.example.yml", raw, noEnv)
		if want := "config.example.yml:20: atlas.service_account.client_secret_file: cannot read the file: no such file or directory"; err == nil || err.Error() != want {
			t.Errorf("as shipped: got %v, want %s", err, want)
		}
	}
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse("config.example.yml", bytes.Replace(raw, []byte(shipped), []byte(secret), 1), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Projects) != 5 || c.Atlas.ServiceAccount.ClientSecret != "s" {
		t.Errorf("%+v", c)
	}
}

// TestEqual: a change of any key makes the configuration differ, so that a reload that changes
// nothing can be told from one that does; every key of Config is covered.
func TestEqual(t *testing.T) {
	const base = "atlas:\n  service_account: {client_id: id, client_secret: s3cr3t}\nprojects:\n  - {id: 5f0000000000000000000001}\n"
	parse := func(raw string) *Config {
		t.Helper()
		c, err := Parse("x.yml", []byte(raw), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := parse(base)
	if !a.Equal(parse(base)) {
		t.Fatal("the same file differs from itself")
	}
	changes := map[string]string{
		"atlas":                "atlas:\n  service_account: {client_id: id, client_secret: other}\nprojects:\n  - {id: 5f0000000000000000000001}\n",
		"min_refresh_interval": base + "min_refresh_interval: 1m\n",
		"refresh_timeout":      base + "refresh_timeout: 1m\n",
		"discovery_interval":   base + "discovery_interval: 2h\n",
		"snapshot_metrics":     base + "snapshot_metrics: false\n",
		"backup_schedules":     base + "backup_schedules: false\n",
		"restore_jobs":         base + "restore_jobs: false\n",
		"export_jobs":          base + "export_jobs: false\n",
		"compliance_policy":    base + "compliance_policy: false\n",
		"jobs_interval":        base + "jobs_interval: 1h\n",
		"projects":             strings.Replace(base, "{id: 5f0000000000000000000001}", "{id: 5f0000000000000000000001, exclude: x}", 1),
		"credentials":          base + "  - {id: 5f0000000000000000000002, credentials: eu}\ncredentials: {eu: {api_key: {public_key: p, private_key: k}}}\n",
	}
	for key, raw := range changes {
		if a.Equal(parse(raw)) {
			t.Errorf("a change of %s is not seen", key)
		}
	}
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		if !typ.Field(i).IsExported() {
			continue // built from the keys (conn: from atlas's)
		}
		key := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
		if _, ok := changes[key]; !ok {
			t.Errorf("Config.%s (%s) is not covered here: add it to Equal and to this test", typ.Field(i).Name, key)
		}
	}
}
