package config

import (
	"errors"
	"regexp"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

var (
	hex24       = regexp.MustCompile(`^[a-f0-9]{24}$`)
	clusterName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]*$`)
)

// validate checks what decoding alone cannot: how keys go together, identifiers, credentials.
func (d *decoder) validate(c *Config, getenv func(string) string) {
	if _, err := atlas.ValidateBaseURL(c.Atlas.BaseURL); err != nil {
		// Say what is expected, with the key's line, as for every other key.
		d.fail("atlas.base_url", "must be https://host or https://host:port (http:// only for a loopback host)")
	}
	d.checkNetwork(c)
	d.checkCredentials(c, getenv)
	if len(c.Projects) == 0 {
		d.fail("projects", "at least one project is required (id, name or discover_all_projects)")
	}
	ids := map[string]int{}
	for i := range c.Projects {
		d.checkProject(i, &c.Projects[i], ids)
	}
}

// credentials checks the atlas section's credentials, taken from the environment when it has
// none.
func (d *decoder) credentials(a *Atlas, getenv func(string) string) {
	if a.ServiceAccount == nil && a.APIKey == nil {
		id, secret, pub, priv := getenv(EnvClientID), getenv(EnvClientSecret), getenv(EnvPublicKey), getenv(EnvPrivateKey)
		switch {
		case id != "" && pub != "":
			d.fail("atlas", "both %s and %s are set; set one kind of credentials", EnvClientID, EnvPublicKey)
		case id != "":
			a.ServiceAccount = &ServiceAccount{ClientID: id, ClientSecret: Secret(secret)}
			if secret == "" {
				d.fail("atlas", "%s is set but %s is empty", EnvClientID, EnvClientSecret)
			}
		case pub != "":
			a.APIKey = &APIKey{PublicKey: pub, PrivateKey: Secret(priv)}
			if priv == "" {
				d.fail("atlas", "%s is set but %s is empty", EnvPublicKey, EnvPrivateKey)
			}
		default:
			d.fail("atlas", "no credentials: set atlas.service_account or atlas.api_key, or the %s/%s or %s/%s environment variables",
				EnvClientID, EnvClientSecret, EnvPublicKey, EnvPrivateKey)
		}
		return
	}
	d.credentialBlock("atlas", a.ServiceAccount, a.APIKey)
}

// credentialBlock checks the credentials below path: one kind exactly, complete, its secret
// read from its file where it names one.
func (d *decoder) credentialBlock(path string, sa *ServiceAccount, k *APIKey) {
	switch {
	case sa != nil && k != nil:
		d.fail(join(path, "api_key"), "set either service_account or api_key, not both")
		return
	case sa == nil && k == nil:
		d.fail(path, "set service_account or api_key")
		return
	}
	if sa != nil {
		at := join(path, "service_account")
		if sa.ClientID == "" {
			d.fail(join(at, "client_id"), "is required")
		}
		d.secret(at, "client_secret", &sa.ClientSecret, sa.ClientSecretFile)
	}
	if k != nil {
		at := join(path, "api_key")
		if k.PublicKey == "" {
			d.fail(join(at, "public_key"), "is required")
		}
		d.secret(at, "private_key", &k.PrivateKey, k.PrivateKeyFile)
	}
}

// secret resolves key or key_file (below path) into s.
func (d *decoder) secret(path, key string, s *Secret, file string) {
	at := join(path, key+"_file")
	switch {
	case d.failed[join(path, key)]:
		// Already reported; it is not missing.
	case *s != "" && file != "":
		d.fail(at, "set either %s or %s_file, not both", key, key)
	case *s == "" && file == "":
		d.fail(at, "%s_file (or %s) is required", key, key)
	case file != "":
		secret, err := ReadSecretFile(file)
		if err != nil {
			// The reason only (no such file, permission denied): the path is the key's value.
			d.fail(at, "cannot read the file: %v", errors.Unwrap(err))
			return
		}
		*s = secret
		if *s == "" {
			d.fail(at, "the file is empty")
		}
	}
}

// checkProject checks projects[i]; ids maps each project id met so far to its index.
func (d *decoder) checkProject(i int, p *Project, ids map[string]int) {
	at := index("projects", i)
	set := 0
	for _, b := range []bool{p.ID != "", p.Name != "", p.DiscoverAllProjects} {
		if b {
			set++
		}
	}
	if set != 1 {
		d.fail(at, "set exactly one of id, name or discover_all_projects")
	}
	if p.ID != "" {
		if !hex24.MatchString(p.ID) {
			d.fail(join(at, "id"), "must be a project id: 24 lowercase hex digits")
		} else if j, dup := ids[p.ID]; dup {
			d.fail(join(at, "id"), "the same project is already configured in projects[%d]", j)
		} else {
			ids[p.ID] = i
		}
	}
	if !p.DiscoverAllProjects && (p.ProjectInclude != nil || p.ProjectExclude != nil) {
		d.fail(join(at, "project_include"), "project_include and project_exclude need discover_all_projects: true")
	}
	for j, c := range p.Clusters {
		if !clusterName.MatchString(c) {
			d.fail(index(join(at, "clusters"), j), "must be a cluster name: letters, digits and hyphens, starting with a letter or digit")
		}
	}
	if len(p.Snapshots) > 0 && len(p.Clusters) != 1 {
		d.fail(join(at, "snapshots"), "needs exactly one cluster in clusters")
	}
	for j, s := range p.Snapshots {
		if !hex24.MatchString(s) {
			d.fail(index(join(at, "snapshots"), j), "must be a snapshot id: 24 lowercase hex digits")
		}
	}
}
