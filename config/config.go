// Package config loads and validates the exporter's YAML configuration.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

// Config is the whole configuration file.
type Config struct {
	Atlas              Atlas     `yaml:"atlas"`
	MinRefreshInterval Duration  `yaml:"min_refresh_interval"`
	RefreshTimeout     Duration  `yaml:"refresh_timeout"`
	DiscoveryInterval  Duration  `yaml:"discovery_interval"`
	SnapshotMetrics    *bool     `yaml:"snapshot_metrics"`
	BackupSchedules    *bool     `yaml:"backup_schedules"`
	Projects           []Project `yaml:"projects"`
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
	ID                  string   `yaml:"id"`
	Name                string   `yaml:"name"`
	DiscoverAllProjects bool     `yaml:"discover_all_projects"`
	ProjectInclude      *Regexp  `yaml:"project_include"`
	ProjectExclude      *Regexp  `yaml:"project_exclude"`
	Clusters            []string `yaml:"clusters"`
	Include             *Regexp  `yaml:"include"`
	Exclude             *Regexp  `yaml:"exclude"`
	Kinds               []string `yaml:"kinds"`
	Snapshots           []string `yaml:"snapshots"`
}

// Defaults.
const (
	DefaultMinRefreshInterval = 5 * time.Minute
	DefaultRefreshTimeout     = 2 * time.Minute
	DefaultDiscoveryInterval  = time.Hour
	DefaultTimeout            = 30 * time.Second
	DefaultMaxConcurrency     = 8
	DefaultMaxAttempts        = 4
)

// SnapshotMetricsEnabled reports whether per-snapshot series are exposed (default true).
func (c *Config) SnapshotMetricsEnabled() bool { return c.SnapshotMetrics == nil || *c.SnapshotMetrics }

// BackupSchedulesEnabled reports whether Cloud Backup clusters' backup policies are read
// (default true).
func (c *Config) BackupSchedulesEnabled() bool { return c.BackupSchedules == nil || *c.BackupSchedules }

// ClientConfig returns the atlas.Client configuration, with secrets resolved.
func (c *Config) ClientConfig() atlas.Config {
	cfg := atlas.Config{
		BaseURL: c.Atlas.BaseURL, Timeout: c.Atlas.Timeout.D(), MaxConcurrency: c.Atlas.MaxConcurrency,
		RateLimitFactor: c.Atlas.RateLimitFactor,
	}
	if c.Atlas.MaxAttempts > 0 {
		cfg.Retry = atlas.DefaultRetryPolicy
		cfg.Retry.MaxAttempts = c.Atlas.MaxAttempts
	}
	if sa := c.Atlas.ServiceAccount; sa != nil {
		cfg.ServiceAccount = &atlas.ServiceAccount{ClientID: sa.ClientID, ClientSecret: string(sa.ClientSecret)}
	}
	if k := c.Atlas.APIKey; k != nil {
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

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return &lineError{n.Line, fmt.Sprintf("%q is not a valid duration (use e.g. 30s, 5m, 1h)", n.Value)}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Regexp is an anchored regular expression.
type Regexp struct {
	*regexp.Regexp
	original string
}

// UnmarshalYAML compiles the expression, anchored at both ends as in Prometheus.
func (r *Regexp) UnmarshalYAML(n *yaml.Node) error {
	re, err := regexp.Compile("^(?:" + n.Value + ")$")
	if err != nil {
		return &lineError{n.Line, fmt.Sprintf("%q is not a valid regular expression: %v", n.Value, strings.TrimPrefix(err.Error(), "error parsing regexp: "))}
	}
	r.Regexp, r.original = re, n.Value
	return nil
}

// MarshalYAML writes the expression as given.
func (r Regexp) MarshalYAML() (any, error) { return r.original, nil }

type lineError struct {
	line int
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

var (
	hex24       = regexp.MustCompile(`^[a-f0-9]{24}$`)
	clusterName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]*$`)
	unknownKey  = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	typeErr     = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// Load reads, parses and validates a configuration file.
func Load(file string) (*Config, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(file, raw, os.Getenv)
}

// Parse parses and validates raw configuration; file names it in errors, getenv supplies the
// credential environment variables.
func Parse(file string, raw []byte, getenv func(string) string) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, decodeError(file, err)
	}
	var root yaml.Node
	_ = yaml.Unmarshal(raw, &root)
	v := &validator{file: file, root: &root}
	v.validate(c, getenv)
	if len(v.errs) > 0 {
		return nil, errors.New(strings.Join(v.errs, "\n"))
	}
	return c, nil
}

func decodeError(file string, err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: the file is empty", file)
	}
	var te *yaml.TypeError
	var le *lineError
	switch {
	case errors.As(err, &te):
		var msgs []string
		for _, e := range te.Errors {
			if m := unknownKey.FindStringSubmatch(e); m != nil {
				msgs = append(msgs, fmt.Sprintf("%s:%s: unknown key %q", file, m[1], m[2]))
			} else if m := typeErr.FindStringSubmatch(e); m != nil {
				msgs = append(msgs, fmt.Sprintf("%s:%s: %s", file, m[1], m[2]))
			} else {
				msgs = append(msgs, file+": "+e)
			}
		}
		return errors.New(strings.Join(msgs, "\n"))
	case errors.As(err, &le):
		return fmt.Errorf("%s:%d: %s", file, le.line, le.msg)
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := typeErr.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("%s:%s: %s", file, m[1], m[2])
	}
	return fmt.Errorf("%s: %s", file, msg)
}

type validator struct {
	file string
	root *yaml.Node
	errs []string
}

// lineOf finds the line of the value at path (map keys and sequence indexes); for a missing
// key it gives the line of its parent.
func (v *validator) lineOf(path ...any) int {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line, n, found = n.Content[i].Line, n.Content[i+1], true
					break
				}
			}
			if !found {
				return line
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line
}

func (v *validator) fail(path []any, format string, args ...any) {
	var name strings.Builder
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if name.Len() > 0 {
				name.WriteByte('.')
			}
			name.WriteString(k)
		case int:
			name.WriteString("[" + strconv.Itoa(k) + "]")
		}
	}
	v.errs = append(v.errs, fmt.Sprintf("%s:%d: %s: %s", v.file, v.lineOf(path...), name.String(), fmt.Sprintf(format, args...)))
}

func (v *validator) validate(c *Config, getenv func(string) string) {
	if c.Atlas.BaseURL == "" {
		c.Atlas.BaseURL = atlas.DefaultBaseURL
	}
	if _, err := atlas.ValidateBaseURL(c.Atlas.BaseURL); err != nil {
		v.fail([]any{"atlas", "base_url"}, "%s", strings.TrimPrefix(err.Error(), fmt.Sprintf("invalid base URL %q: ", c.Atlas.BaseURL)))
	}
	v.credentials(&c.Atlas, getenv)
	if c.Atlas.MaxConcurrency == 0 {
		c.Atlas.MaxConcurrency = DefaultMaxConcurrency
	}
	if c.Atlas.MaxConcurrency < 1 || c.Atlas.MaxConcurrency > 256 {
		v.fail([]any{"atlas", "max_concurrency"}, "must be between 1 and 256, got %d", c.Atlas.MaxConcurrency)
	}
	if c.Atlas.Timeout == 0 {
		c.Atlas.Timeout = Duration(DefaultTimeout)
	}
	if c.Atlas.MaxAttempts == 0 {
		c.Atlas.MaxAttempts = DefaultMaxAttempts
	}
	if c.Atlas.MaxAttempts < 1 || c.Atlas.MaxAttempts > 10 {
		v.fail([]any{"atlas", "max_attempts"}, "must be between 1 and 10, got %d", c.Atlas.MaxAttempts)
	}
	if c.Atlas.RateLimitFactor == 0 {
		c.Atlas.RateLimitFactor = 0.8
	}
	if c.Atlas.RateLimitFactor < 0 || c.Atlas.RateLimitFactor > 1 {
		v.fail([]any{"atlas", "rate_limit_factor"}, "must be above 0 and at most 1, got %g", c.Atlas.RateLimitFactor)
	}
	if _, set := mapKey(v.root, "min_refresh_interval"); !set {
		c.MinRefreshInterval = Duration(DefaultMinRefreshInterval)
	}
	if c.RefreshTimeout == 0 {
		c.RefreshTimeout = Duration(DefaultRefreshTimeout)
	}
	if _, set := mapKey(v.root, "discovery_interval"); !set {
		c.DiscoveryInterval = Duration(DefaultDiscoveryInterval)
	}
	if len(c.Projects) == 0 {
		v.fail([]any{"projects"}, "at least one project is required (id, name or discover_all_projects)")
	}
	ids := map[string]int{}
	for i := range c.Projects {
		v.project(i, &c.Projects[i], ids)
	}
}

func mapKey(root *yaml.Node, key string) (*yaml.Node, bool) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

func (v *validator) credentials(a *Atlas, getenv func(string) string) {
	switch {
	case a.ServiceAccount != nil && a.APIKey != nil:
		v.fail([]any{"atlas", "api_key"}, "set either service_account or api_key, not both")
		return
	case a.ServiceAccount == nil && a.APIKey == nil:
		id, secret, pub, priv := getenv(EnvClientID), getenv(EnvClientSecret), getenv(EnvPublicKey), getenv(EnvPrivateKey)
		switch {
		case id != "" && pub != "":
			v.fail([]any{"atlas"}, "both %s and %s are set; set one kind of credentials", EnvClientID, EnvPublicKey)
		case id != "":
			a.ServiceAccount = &ServiceAccount{ClientID: id, ClientSecret: Secret(secret)}
			if secret == "" {
				v.fail([]any{"atlas"}, "%s is set but %s is empty", EnvClientID, EnvClientSecret)
			}
		case pub != "":
			a.APIKey = &APIKey{PublicKey: pub, PrivateKey: Secret(priv)}
			if priv == "" {
				v.fail([]any{"atlas"}, "%s is set but %s is empty", EnvPublicKey, EnvPrivateKey)
			}
		default:
			v.fail([]any{"atlas"}, "no credentials: set atlas.service_account or atlas.api_key, or the %s/%s or %s/%s environment variables",
				EnvClientID, EnvClientSecret, EnvPublicKey, EnvPrivateKey)
		}
		return
	}
	if sa := a.ServiceAccount; sa != nil {
		p := []any{"atlas", "service_account"}
		if sa.ClientID == "" {
			v.fail(append(p, "client_id"), "is required")
		}
		v.secret(p, "client_secret", &sa.ClientSecret, sa.ClientSecretFile)
	}
	if k := a.APIKey; k != nil {
		p := []any{"atlas", "api_key"}
		if k.PublicKey == "" {
			v.fail(append(p, "public_key"), "is required")
		}
		v.secret(p, "private_key", &k.PrivateKey, k.PrivateKeyFile)
	}
}

// secret resolves key or key_file into s.
func (v *validator) secret(p []any, key string, s *Secret, file string) {
	switch {
	case *s != "" && file != "":
		v.fail(append(p, key+"_file"), "set either %s or %s_file, not both", key, key)
	case *s == "" && file == "":
		v.fail(append(p, key+"_file"), "%s_file (or %s) is required", key, key)
	case file != "":
		raw, err := os.ReadFile(file)
		if err != nil {
			v.fail(append(p, key+"_file"), "cannot read %s: %v", file, errors.Unwrap(err))
			return
		}
		*s = Secret(strings.TrimSpace(string(raw)))
		if *s == "" {
			v.fail(append(p, key+"_file"), "%s is empty", file)
		}
	}
}

func (v *validator) project(i int, p *Project, ids map[string]int) {
	at := func(k ...any) []any { return append([]any{"projects", i}, k...) }
	set := 0
	for _, b := range []bool{p.ID != "", p.Name != "", p.DiscoverAllProjects} {
		if b {
			set++
		}
	}
	if set != 1 {
		v.fail(at(), "set exactly one of id, name or discover_all_projects")
	}
	if p.ID != "" {
		if !hex24.MatchString(p.ID) {
			v.fail(at("id"), "%q is not a project id (24 lowercase hex digits)", p.ID)
		} else if j, dup := ids[p.ID]; dup {
			v.fail(at("id"), "project %s is already configured in projects[%d]", p.ID, j)
		} else {
			ids[p.ID] = i
		}
	}
	if !p.DiscoverAllProjects && (p.ProjectInclude != nil || p.ProjectExclude != nil) {
		v.fail(at("project_include"), "project_include and project_exclude need discover_all_projects: true")
	}
	for j, c := range p.Clusters {
		if !clusterName.MatchString(c) {
			v.fail(at("clusters", j), "%q is not a cluster name (letters, digits and hyphens, starting with a letter or digit)", c)
		}
	}
	for j, k := range p.Kinds {
		if _, ok := atlas.ParseKind(k); !ok {
			v.fail(at("kinds", j), "unknown kind %q (want one of cloud, flex, serverless, tenant, legacy)", k)
		}
	}
	if len(p.Snapshots) > 0 && len(p.Clusters) != 1 {
		v.fail(at("snapshots"), "snapshots needs exactly one cluster in clusters, got %d", len(p.Clusters))
	}
	for j, s := range p.Snapshots {
		if !hex24.MatchString(s) {
			v.fail(at("snapshots", j), "%q is not a snapshot id (24 lowercase hex digits)", s)
		}
	}
}

// SafeConfig holds the current configuration and swaps it atomically on reload.
type SafeConfig struct {
	mu sync.RWMutex
	c  *Config
}

// Get returns the current configuration.
func (s *SafeConfig) Get() *Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.c
}

// Reload loads file and, only if it is valid, makes it current.
func (s *SafeConfig) Reload(file string) (*Config, error) {
	c, err := Load(file)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
	return c, nil
}
