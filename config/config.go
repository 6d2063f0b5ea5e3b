// Package config loads and validates the exporter's YAML configuration.
package config

import (
	"fmt"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// Environment variables that supply credentials when the file has none (the names the Atlas
// CLI and Terraform provider use).
const (
	EnvClientID     = "MONGODB_ATLAS_CLIENT_ID"
	EnvClientSecret = "MONGODB_ATLAS_CLIENT_SECRET"
	EnvPublicKey    = "MONGODB_ATLAS_PUBLIC_API_KEY"
	EnvPrivateKey   = "MONGODB_ATLAS_PRIVATE_API_KEY"
)

// Config is the whole configuration file. The yaml tags serve marshalling; decode.go reads the
// same keys from the node tree (TestMarshalledKeysAreKnown keeps the two in step).
type Config struct {
	Atlas              Atlas       `yaml:"atlas"`
	Credentials        Credentials `yaml:"credentials,omitempty"`
	MinRefreshInterval Duration    `yaml:"min_refresh_interval"`
	RefreshTimeout     Duration    `yaml:"refresh_timeout"`
	DiscoveryInterval  Duration    `yaml:"discovery_interval"`
	SnapshotMetrics    *bool       `yaml:"snapshot_metrics"`
	BackupSchedules    *bool       `yaml:"backup_schedules"`
	RestoreJobs        *bool       `yaml:"restore_jobs"`
	ExportJobs         *bool       `yaml:"export_jobs"`
	CompliancePolicy   *bool       `yaml:"compliance_policy"`
	JobsInterval       Duration    `yaml:"jobs_interval"`
	Projects           []Project   `yaml:"projects"`

	// conn is the connection the atlas section's settings make, built once when loaded.
	conn atlas.Connection
}

// Atlas is how to reach the Atlas Administration API.
type Atlas struct {
	BaseURL         string          `yaml:"base_url"`
	ServiceAccount  *ServiceAccount `yaml:"service_account"`
	APIKey          *APIKey         `yaml:"api_key"`
	MaxConcurrency  int             `yaml:"max_concurrency"`
	Timeout         Duration        `yaml:"timeout"`
	MaxAttempts     int             `yaml:"max_attempts"`
	RateLimitFactor float64         `yaml:"rate_limit_factor"`
	// Network is how to reach the host: TLS and proxy (network.go).
	Network `yaml:",inline"`
}

// ServiceAccount is an Atlas service account (OAuth2 client credentials).
type ServiceAccount struct {
	ClientID         string `yaml:"client_id"`
	ClientSecret     Secret `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
}

// APIKey is an Atlas programmatic API key (HTTP digest).
type APIKey struct {
	PublicKey      string `yaml:"public_key"`
	PrivateKey     Secret `yaml:"private_key"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// Project selects projects and the clusters in them.
type Project struct {
	ID                  string       `yaml:"id"`
	Name                string       `yaml:"name"`
	DiscoverAllProjects bool         `yaml:"discover_all_projects"`
	ProjectInclude      *Regexp      `yaml:"project_include"`
	ProjectExclude      *Regexp      `yaml:"project_exclude"`
	Clusters            []string     `yaml:"clusters"`
	Include             *Regexp      `yaml:"include"`
	Exclude             *Regexp      `yaml:"exclude"`
	Kinds               []atlas.Kind `yaml:"kinds"`
	Snapshots           []string     `yaml:"snapshots"`
	// Credentials names the set of the credentials section the entry reads with; "" for the
	// atlas section's.
	Credentials string `yaml:"credentials,omitempty"`
}

// Defaults of the keys the refresh engine reads (estate.SettingsFrom); the Atlas client's own
// (timeout, max_concurrency, max_attempts, rate_limit_factor) come from the atlas package.
const (
	DefaultMinRefreshInterval = 5 * time.Minute
	DefaultRefreshTimeout     = 2 * time.Minute
	DefaultDiscoveryInterval  = time.Hour
	DefaultJobsInterval       = 30 * time.Minute
)

// SnapshotMetricsEnabled reports whether per-snapshot series are exposed (default true).
func (c *Config) SnapshotMetricsEnabled() bool { return c.SnapshotMetrics == nil || *c.SnapshotMetrics }

// BackupSchedulesEnabled reports whether Cloud Backup clusters' backup policies are read
// (default true).
func (c *Config) BackupSchedulesEnabled() bool { return c.BackupSchedules == nil || *c.BackupSchedules }

// RestoreJobsEnabled reports whether restore jobs are read (default true).
func (c *Config) RestoreJobsEnabled() bool { return c.RestoreJobs == nil || *c.RestoreJobs }

// ExportJobsEnabled reports whether snapshot export jobs are read (default true).
func (c *Config) ExportJobsEnabled() bool { return c.ExportJobs == nil || *c.ExportJobs }

// CompliancePolicyEnabled reports whether projects' Backup Compliance Policies are read
// (default true).
func (c *Config) CompliancePolicyEnabled() bool {
	return c.CompliancePolicy == nil || *c.CompliancePolicy
}

// ClientConfig returns the configuration of the atlas.Client of credential set name ("" for the
// atlas section's): the atlas section's connection settings (host, timeouts, TLS and proxy, for
// API calls and the token endpoint alike) and the set's credentials, secrets resolved, drawing
// from the set's share of the bound on requests in flight. Every client is built from it.
func (c *Config) ClientConfig(name string) atlas.Config {
	cfg := atlas.Config{
		BaseURL: c.Atlas.BaseURL, Timeout: c.Atlas.Timeout.D(), MaxConcurrency: c.Atlas.MaxConcurrency,
		RateLimitFactor: c.Atlas.RateLimitFactor, Retry: atlas.DefaultRetryPolicy, Share: name, Connection: c.conn,
	}
	cfg.Retry.MaxAttempts = c.Atlas.MaxAttempts
	set, _ := c.set(name)
	if sa := set.ServiceAccount; sa != nil {
		cfg.ServiceAccount = &atlas.ServiceAccount{ClientID: sa.ClientID, ClientSecret: string(sa.ClientSecret)}
	}
	if k := set.APIKey; k != nil {
		cfg.APIKey = &atlas.APIKey{PublicKey: k.PublicKey, PrivateKey: string(k.PrivateKey)}
	}
	return cfg
}

// Secret is a credential: it prints and marshals as <secret>.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalYAML hides the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration written as "30s", "5m".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Regexp is an anchored regular expression.
type Regexp struct {
	*regexp.Regexp
	original string
}

// MarshalYAML writes the expression as given.
func (r Regexp) MarshalYAML() (any, error) { return r.original, nil }

// Load reads, parses and validates a configuration file.
func Load(file string) (*Config, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(file, raw, os.Getenv)
}

// Parse parses and validates raw configuration; file names it in errors, getenv supplies the
// credential environment variables. The error lists every problem found, one a line, as
// "file:line: key.path: what was expected", sorted by line; it never quotes a value.
func Parse(file string, raw []byte, getenv func(string) string) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return nil, syntaxError(file, raw, err)
	}
	if len(root.Content) == 0 || root.Content[0].ShortTag() == "!!null" {
		return nil, fmt.Errorf("%s: the file is empty", file)
	}
	d := newDecoder(file, len(raw))
	c := d.config(root.Content[0])
	if !d.overflow {
		d.validate(c, getenv)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return c, nil
}
