package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
	"golang.org/x/net/http/httpguts"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// The connection settings are the atlas section's alone: every credential set reads the same
// Atlas host (base_url) from the same place, so the path there (a proxy, a TLS-inspecting
// proxy's CA) is the host's and the network's, not an organisation's. Each set's client, and
// its token endpoint, is built with them (ClientConfig). They are the keys of Prometheus's
// HTTP client configuration (github.com/prometheus/common/config), which builds them, with
// one difference: without proxy_url or proxy_from_environment the environment's proxy
// (HTTPS_PROXY, NO_PROXY) is used, as it always was here and is by any Go program, where
// Prometheus would use none; proxy_from_environment: false turns it off.

// Network is the atlas section's connection settings.
type Network struct {
	TLSConfig            *TLSConfig          `yaml:"tls_config,omitempty"`
	ProxyURL             *URL                `yaml:"proxy_url,omitempty"`
	NoProxy              string              `yaml:"no_proxy,omitempty"`
	ProxyFromEnvironment *bool               `yaml:"proxy_from_environment,omitempty"`
	ProxyConnectHeader   map[string][]Secret `yaml:"proxy_connect_header,omitempty"`
}

// TLSConfig is tls_config, the TLS settings of the connection to Atlas.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	CertFile           string `yaml:"cert_file,omitempty"`
	KeyFile            string `yaml:"key_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
	MinVersion         string `yaml:"min_version,omitempty"`
	// The files' contents when the configuration was loaded: a reload that finds them changed
	// is a new configuration (Equal compares them), and clients are built from them.
	ca, cert string
	key      Secret
}

// URL is a URL that marshals without its password.
type URL struct{ *url.URL }

// MarshalYAML writes the URL with its password hidden.
func (u URL) MarshalYAML() (any, error) { return u.Redacted(), nil }

// networkFields decode the connection settings into n.
func (d *decoder) networkFields(n *Network) map[string]field {
	return map[string]field{
		"tls_config": func(v *yaml.Node, p string) {
			n.TLSConfig = &TLSConfig{}
			d.tlsConfig(v, p, n.TLSConfig)
		},
		"proxy_url": func(v *yaml.Node, p string) {
			if !d.scalar(v, p, "must be a URL") {
				return
			}
			u, err := url.Parse(v.Value)
			if err != nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" ||
				!slices.Contains([]string{"http", "https", "socks5"}, u.Scheme) {
				// The value is not quoted: it may hold a password.
				d.invalid(p, "must be a proxy URL: http://, https:// or socks5:// host and port, such as http://proxy.example.com:3128")
				return
			}
			n.ProxyURL = &URL{u}
		},
		"no_proxy":               text(d, &n.NoProxy),
		"proxy_from_environment": d.optionalBool(&n.ProxyFromEnvironment),
		"proxy_connect_header": func(v *yaml.Node, p string) {
			const want = "must be a mapping of header names to lists of values"
			if v.Kind != yaml.MappingNode {
				d.invalid(p, want)
				return
			}
			n.ProxyConnectHeader = map[string][]Secret{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k := v.Content[i]
				if k.Kind != yaml.ScalarNode || !httpguts.ValidHeaderFieldName(k.Value) {
					d.add(k.Line, p, "%s: a key is not an HTTP header name", want)
					continue
				}
				hp := join(p, k.Value)
				d.lines[hp] = k.Line
				var vals []Secret
				if val := d.value(v.Content[i+1]); val != nil {
					list(d, &vals, func(s *Secret) field { return text(d, s) })(val, hp)
				}
				for _, s := range vals {
					if !httpguts.ValidHeaderFieldValue(string(s)) {
						d.fail(hp, "a value holds a character an HTTP header cannot")
					}
				}
				n.ProxyConnectHeader[k.Value] = vals
			}
		},
	}
}

func (d *decoder) tlsConfig(n *yaml.Node, path string, t *TLSConfig) {
	d.mapping(n, path, map[string]field{
		"ca_file":              text(d, &t.CAFile),
		"cert_file":            text(d, &t.CertFile),
		"key_file":             text(d, &t.KeyFile),
		"server_name":          text(d, &t.ServerName),
		"insecure_skip_verify": d.boolean(&t.InsecureSkipVerify),
		"min_version": func(v *yaml.Node, p string) {
			names := slices.Sorted(maps.Keys(commoncfg.TLSVersions))
			if !d.scalar(v, p, "must be one of "+strings.Join(names, ", ")) {
				return
			}
			if _, ok := commoncfg.TLSVersions[v.Value]; !ok {
				d.invalid(p, "must be one of %s", strings.Join(names, ", "))
				return
			}
			t.MinVersion = v.Value
		},
	})
}

// checkNetwork checks how the connection settings go together, reads tls_config's files, and
// builds the connection every client uses into c.conn.
func (d *decoder) checkNetwork(c *Config) {
	n := &c.Atlas.Network
	fromEnv := n.ProxyFromEnvironment
	switch {
	case n.ProxyURL != nil && fromEnv != nil && *fromEnv:
		d.fail("atlas.proxy_from_environment", "set proxy_url or proxy_from_environment: true, not both")
		return
	case n.NoProxy != "" && n.ProxyURL == nil:
		d.fail("atlas.no_proxy", "needs proxy_url (the environment's proxy takes NO_PROXY from the environment)")
		return
	case len(n.ProxyConnectHeader) > 0 && n.ProxyURL == nil && fromEnv != nil && !*fromEnv:
		d.fail("atlas.proxy_connect_header", "needs a proxy: proxy_url, or the environment's")
		return
	}
	var conn atlas.Connection
	if t := n.TLSConfig; t != nil {
		tc, ok := d.readTLSFiles(t)
		if !ok {
			return
		}
		cfg, err := commoncfg.NewTLSConfig(&tc)
		if err != nil {
			d.fail("atlas.tls_config", "%v", err)
			return
		}
		conn.TLS = cfg
	}
	pc := commoncfg.ProxyConfig{NoProxy: n.NoProxy, ProxyFromEnvironment: n.ProxyURL == nil && (fromEnv == nil || *fromEnv)}
	if n.ProxyURL != nil {
		pc.ProxyURL = commoncfg.URL{URL: n.ProxyURL.URL}
	}
	if len(n.ProxyConnectHeader) > 0 {
		pc.ProxyConnectHeader = commoncfg.ProxyHeader{}
		for k, vs := range n.ProxyConnectHeader {
			for _, v := range vs {
				pc.ProxyConnectHeader[k] = append(pc.ProxyConnectHeader[k], commoncfg.Secret(v))
			}
		}
		conn.ProxyConnectHeader = pc.GetProxyConnectHeader()
	}
	if err := pc.Validate(); err != nil {
		d.fail("atlas", "%v", err) // the checks above say it first, with the key's line
		return
	}
	conn.Proxy = pc.Proxy()
	if conn.Proxy == nil {
		conn.Proxy = noProxy // proxy_from_environment: false, and no proxy_url
	}
	c.conn = conn
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// readTLSFiles reads the files tls_config names into t, and returns the settings with their
// contents for prometheus/common/config to build from; ok is false when one is unusable.
func (d *decoder) readTLSFiles(t *TLSConfig) (tc commoncfg.TLSConfig, ok bool) {
	const at = "atlas.tls_config"
	ok = true
	read := func(key, file string) string {
		raw, err := ReadSecretFile(file)
		if err != nil {
			// The reason only (no such file, permission denied): the path is the key's value.
			d.fail(join(at, key), "cannot read the file: %v", errors.Unwrap(err))
			ok = false
		}
		return string(raw)
	}
	if t.CAFile != "" {
		t.ca = read("ca_file", t.CAFile)
		if ok && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.ca)) {
			d.fail(join(at, "ca_file"), "holds no PEM certificate")
			ok = false
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		d.fail(join(at, "key_file"), "cert_file and key_file go together: set both, or neither")
		ok = false
	case t.CertFile != "":
		t.cert, t.key = read("cert_file", t.CertFile), Secret(read("key_file", t.KeyFile))
		if !ok {
			break
		}
		if _, err := tls.X509KeyPair([]byte(t.cert), []byte(t.key)); err != nil {
			d.fail(join(at, "key_file"), "cert_file and key_file are not a certificate and its key: %v", err)
			ok = false
		}
	}
	return commoncfg.TLSConfig{
		CA: t.ca, Cert: t.cert, Key: commoncfg.Secret(t.key), ServerName: t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: commoncfg.TLSVersions[t.MinVersion],
	}, ok
}
