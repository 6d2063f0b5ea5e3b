package config

import (
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Atlas's service accounts and API keys belong to one organisation each: an estate of several
// organisations needs one set of credentials per organisation. Beside the atlas section's own
// (the default set), the credentials section names more sets, as blackbox_exporter's modules
// and snmp_exporter's auth modules are named, and each projects entry says with which set it
// reads (credentials: NAME; without the key, the default set). Every set shares the atlas
// section's connection settings.

// DefaultCredentials is the name logs and metrics give the atlas section's credentials, and
// the one a projects entry may name them by (credentials: default, the same as no key).
const DefaultCredentials = "default"

// CredentialSet is one named set of the credentials section: the service account or API key
// of one Atlas organisation.
type CredentialSet struct {
	Name           string          `yaml:"-"`
	ServiceAccount *ServiceAccount `yaml:"service_account"`
	APIKey         *APIKey         `yaml:"api_key"`
}

// Credentials are the sets of the credentials section, in the file's order.
type Credentials []CredentialSet

// MarshalYAML writes the sets as the section has them: a mapping of names to credentials.
func (cs Credentials) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range cs {
		var v yaml.Node
		if err := v.Encode(c); err != nil {
			return nil, err
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: c.Name}, &v)
	}
	return n, nil
}

// SetName is the name of set s as logs and metrics give it: DefaultCredentials for "".
func SetName(s string) string {
	if s == "" {
		return DefaultCredentials
	}
	return s
}

// Sets are the credential sets the projects entries read with, in the order the entries first
// name them: "" is the atlas section's. A project two sets select is read by the first.
func (c *Config) Sets() []string {
	var out []string
	for _, p := range c.Projects {
		if !slices.Contains(out, p.Credentials) {
			out = append(out, p.Credentials)
		}
	}
	return out
}

// Named reports whether the configuration has a credentials section: the exporter then tells
// the sets apart in its metrics (credentials label) and reads each project's organisation.
func (c *Config) Named() bool { return len(c.Credentials) > 0 }

// set returns the credential set named name, "" for the atlas section's.
func (c *Config) set(name string) (CredentialSet, bool) {
	if name == "" {
		return CredentialSet{ServiceAccount: c.Atlas.ServiceAccount, APIKey: c.Atlas.APIKey}, true
	}
	for _, s := range c.Credentials {
		if s.Name == name {
			return s, true
		}
	}
	return CredentialSet{}, false
}

// SecretFile is a secret the configuration read from a file.
type SecretFile struct {
	Key    string // the key naming the file: atlas.service_account.client_secret_file, ...
	File   string
	Secret Secret // as read when the configuration was loaded
}

// SecretFiles lists the secrets read from files: the atlas section's, then each set's.
func (c *Config) SecretFiles() []SecretFile {
	var out []SecretFile
	add := func(path string, s CredentialSet) {
		if sa := s.ServiceAccount; sa != nil && sa.ClientSecretFile != "" {
			out = append(out, SecretFile{path + ".service_account.client_secret_file", sa.ClientSecretFile, sa.ClientSecret})
		}
		if k := s.APIKey; k != nil && k.PrivateKeyFile != "" {
			out = append(out, SecretFile{path + ".api_key.private_key_file", k.PrivateKeyFile, k.PrivateKey})
		}
	}
	add("atlas", CredentialSet{ServiceAccount: c.Atlas.ServiceAccount, APIKey: c.Atlas.APIKey})
	for _, s := range c.Credentials {
		add(join("credentials", s.Name), s)
	}
	return out
}

var setName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// credentialFields decode a service_account or api_key block into sa or k.
func (d *decoder) credentialFields(sa **ServiceAccount, k **APIKey) map[string]field {
	return map[string]field{
		"service_account": func(n *yaml.Node, p string) {
			*sa = &ServiceAccount{}
			d.credential(n, p, "client_id", &(*sa).ClientID, "client_secret", &(*sa).ClientSecret, &(*sa).ClientSecretFile)
		},
		"api_key": func(n *yaml.Node, p string) {
			*k = &APIKey{}
			d.credential(n, p, "public_key", &(*k).PublicKey, "private_key", &(*k).PrivateKey, &(*k).PrivateKeyFile)
		},
	}
}

// credentialSets decodes the credentials section, a mapping of set names to credentials.
func (d *decoder) credentialSets(dst *Credentials) field {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.MappingNode {
			d.invalid(path, "must be a mapping of credential set names to their service_account or api_key")
			return
		}
		first := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || !setName.MatchString(k.Value) {
				d.add(k.Line, path, "set names are letters, digits, '_' and '-', starting with a letter or digit")
				continue
			}
			p := join(path, k.Value)
			if line, dup := first[k.Value]; dup {
				d.add(k.Line, p, "is already set on line %d", line)
				continue
			}
			first[k.Value] = k.Line
			d.lines[p] = k.Line
			if k.Value == DefaultCredentials {
				d.invalid(p, "%s names the atlas section's credentials; give this set another name", DefaultCredentials)
				continue
			}
			set := CredentialSet{Name: k.Value}
			if v := d.value(n.Content[i+1]); v != nil && v.ShortTag() != "!!null" {
				d.mapping(v, p, d.credentialFields(&set.ServiceAccount, &set.APIKey))
			}
			*dst = append(*dst, set)
		}
	}
}

// checkCredentials checks the credentials each projects entry reads with: the atlas section's
// (or the environment's) where an entry names none, and otherwise a set of the credentials
// section, each with exactly one kind of credentials. A set no entry reads with is an error,
// as are the atlas section's own when only named sets are read: nothing is left unwatched
// unnoticed. Credentials from the environment that no entry needs are not read.
func (d *decoder) checkCredentials(c *Config, getenv func(string) string) {
	used := map[string]bool{}
	for i := range c.Projects {
		p := &c.Projects[i]
		if p.Credentials == DefaultCredentials {
			p.Credentials = ""
		}
		if _, ok := c.set(p.Credentials); !ok {
			names := make([]string, 0, len(c.Credentials))
			for _, s := range c.Credentials {
				names = append(names, s.Name)
			}
			known := "the credentials section has none"
			if len(names) > 0 {
				known = "it has " + strings.Join(names, ", ")
			}
			d.fail(join(index("projects", i), "credentials"), "names no set of the credentials section (%s)", known)
			continue
		}
		used[p.Credentials] = true
	}
	own := c.Atlas.ServiceAccount != nil || c.Atlas.APIKey != nil
	switch {
	case used[""] || !c.Named():
		d.credentials(&c.Atlas, getenv)
	case own:
		key := "atlas.service_account"
		if c.Atlas.ServiceAccount == nil {
			key = "atlas.api_key"
		}
		d.fail(key, "no projects entry reads with the atlas section's credentials (an entry without a credentials key does): remove them, or read with them")
	}
	for _, s := range c.Credentials {
		at := join("credentials", s.Name)
		if !used[s.Name] {
			d.fail(at, "no projects entry reads with this set (credentials: %s): remove it, or read with it", s.Name)
		}
		d.credentialBlock(at, s.ServiceAccount, s.APIKey)
	}
}
