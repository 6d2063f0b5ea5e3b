package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/atlas-backup-exporter/atlas_backup_exporter/atlas"
)

// maxAliased bounds how many values aliases may add to a file: a few lines of aliases can name
// millions. A file without aliases has fewer values than bytes, so the budget is both.
const maxAliased = 100_000

// decoder walks the YAML node tree into a Config itself, rather than through yaml's struct
// decoding, so that every problem names its key path and line, says what was expected without
// quoting the value (it may be a secret), and decoding goes on to report every problem at once.
type decoder struct {
	file   string
	lines  map[string]int  // line of every key path met, for the checks that run after decoding
	failed map[string]bool // key paths whose value could not be decoded
	probs  []problem
	budget int // values left to decode
	// overflow is set once the budget is spent: that is then the only problem.
	overflow bool
}

type problem struct {
	line int
	msg  string
}

func newDecoder(file string, size int) *decoder {
	return &decoder{file: file, lines: map[string]int{}, failed: map[string]bool{}, budget: size + maxAliased}
}

// err returns every problem, sorted by line, one a line; nil if there were none.
func (d *decoder) err() error {
	if len(d.probs) == 0 {
		return nil
	}
	sort.SliceStable(d.probs, func(i, j int) bool { return d.probs[i].line < d.probs[j].line })
	msgs := make([]string, len(d.probs))
	for i, p := range d.probs {
		msgs[i] = fmt.Sprintf("%s:%d: %s", d.file, p.line, p.msg)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

func (d *decoder) add(line int, path, format string, args ...any) {
	if d.overflow {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	d.probs = append(d.probs, problem{line, msg})
}

// invalid records that the value at path could not be decoded; the checks after decoding then
// say nothing more about it or what is below it.
func (d *decoder) invalid(path, format string, args ...any) {
	d.failed[path] = true
	d.add(d.lineOf(path), path, format, args...)
}

// fail records a problem found after decoding, unless the value at path or above it already
// failed to decode.
func (d *decoder) fail(path, format string, args ...any) {
	for p := path; ; p = parent(p) {
		if d.failed[p] {
			return
		}
		if p == "" {
			break
		}
	}
	d.add(d.lineOf(path), path, format, args...)
}

// lineOf is the line of the key path, or of the nearest key above it that the file has.
func (d *decoder) lineOf(path string) int {
	for ; path != ""; path = parent(path) {
		if l, ok := d.lines[path]; ok {
			return l
		}
	}
	return d.lines[""]
}

func parent(path string) string {
	return path[:max(0, strings.LastIndexAny(path, ".["))]
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func join(path, key string) string {
	if !plainKey.MatchString(key) {
		key = strconv.Quote(key) // keep the message on one line
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// value follows aliases, and returns nil once the budget is spent.
func (d *decoder) value(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if d.budget--; d.budget < 0 {
		if !d.overflow {
			d.probs = []problem{{n.Line, fmt.Sprintf("aliases add more than %d values to the file", maxAliased)}}
			d.overflow = true
		}
		return nil
	}
	return n
}

// A field decodes the value of one key, found at path.
type field func(n *yaml.Node, path string)

// mapping decodes the keys of n with fields; a key it does not know, or meets twice, is a
// problem, and a key without a value (null) is the same as an absent key.
func (d *decoder) mapping(n *yaml.Node, path string, fields map[string]field) {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.invalid(path, "the file must be a mapping of keys to values")
		} else {
			d.invalid(path, "must be a mapping of keys to values")
		}
		return
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			d.add(k.Line, path, "keys must be plain names")
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.add(k.Line, path, "merge keys (<<) are not supported; aliases (*name) are")
			continue
		}
		p := join(path, k.Value)
		if line, dup := first[k.Value]; dup {
			d.add(k.Line, p, "is already set on line %d", line)
			continue
		}
		first[k.Value] = k.Line
		d.lines[p] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			d.invalid(p, "unknown key; expected one of %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			continue
		}
		if v := d.value(n.Content[i+1]); v != nil && v.ShortTag() != "!!null" {
			f(v, p)
		}
	}
}

// list decodes a sequence, each item with elem; dst gets one element per item, so that item i
// is always projects[i] in later messages.
func list[T any](d *decoder, dst *[]T, elem func(*T) field) field {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.SequenceNode {
			d.invalid(path, "must be a list")
			return
		}
		*dst = make([]T, len(n.Content))
		for i, item := range n.Content {
			p := index(path, i)
			d.lines[p] = item.Line
			if item = d.value(item); item == nil {
				return
			}
			elem(&(*dst)[i])(item, p)
		}
	}
}

func (d *decoder) strings(dst *[]string) field {
	return list(d, dst, func(s *string) field { return text(d, s) })
}

// scalar reports whether n is a single non-null value, and records a problem otherwise.
func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.invalid(path, "%s", want)
		return false
	}
	return true
}

// text takes any scalar as written: `name: 2024` is the string "2024".
func text[T ~string](d *decoder, dst *T) field {
	return func(n *yaml.Node, path string) {
		if d.scalar(n, path, "must be a string") {
			*dst = T(n.Value)
		}
	}
}

// kindNames lists the kinds a project may name, as atlas knows them.
var kindNames = func() string {
	names := make([]string, len(atlas.Kinds))
	for i, k := range atlas.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}()

// kind takes a snapshot kind by its name.
func (d *decoder) kind(dst *atlas.Kind) field {
	return func(n *yaml.Node, path string) {
		if !d.scalar(n, path, "must be a string") {
			return
		}
		k, ok := atlas.ParseKind(n.Value)
		if !ok {
			d.invalid(path, "must be one of %s", kindNames)
			return
		}
		*dst = k
	}
}

// integer takes an unquoted YAML integer from lo to hi.
func (d *decoder) integer(dst *int, lo, hi int) field {
	return func(n *yaml.Node, path string) {
		var v int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil || v < lo || v > hi {
			d.invalid(path, "must be a whole number from %d to %d", lo, hi)
			return
		}
		*dst = v
	}
}

// fraction takes an unquoted YAML number above 0 and at most 1.
func (d *decoder) fraction(dst *float64) field {
	return func(n *yaml.Node, path string) {
		var v float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&v) != nil || !(v > 0 && v <= 1) {
			d.invalid(path, "must be a number above 0 and at most 1")
			return
		}
		*dst = v
	}
}

// duration takes a Go duration ("90s", "5m", "1h30m") from lo to hi.
func (d *decoder) duration(dst *Duration, lo, hi time.Duration) field {
	return func(n *yaml.Node, path string) {
		v, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil || v < lo || v > hi {
			d.invalid(path, "must be a duration from %s to %s, such as 30s or 2m30s", short(lo), short(hi))
			return
		}
		*dst = Duration(v)
	}
}

// short writes 5m0s as 5m and 24h0m0s as 24h.
func short(v time.Duration) string {
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// boolean takes the YAML booleans true and false, unquoted. yaml's struct decoding also takes
// yes/no/on/off but refuses "false" quoted; one plain rule is easier to state and to follow.
func (d *decoder) boolean(dst *bool) field {
	return func(n *yaml.Node, path string) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(dst) != nil {
			d.invalid(path, "must be true or false, unquoted")
		}
	}
}

func (d *decoder) optionalBool(dst **bool) field {
	return func(n *yaml.Node, path string) {
		b := new(bool)
		d.boolean(b)(n, path)
		if !d.failed[path] {
			*dst = b
		}
	}
}

// regex compiles an expression, anchored at both ends as in Prometheus.
func (d *decoder) regex(dst **Regexp) field {
	return func(n *yaml.Node, path string) {
		const want = "must be a regular expression (RE2 syntax)"
		if !d.scalar(n, path, want) {
			return
		}
		// Compiled alone first: "a)|(b" is invalid, though valid once wrapped.
		if _, err := regexp.Compile(n.Value); err != nil {
			var se *syntax.Error
			if errors.As(err, &se) {
				d.invalid(path, "%s: %s", want, se.Code) // the code only: se.Expr is the value
			} else {
				d.invalid(path, "%s", want)
			}
			return
		}
		*dst = &Regexp{Regexp: regexp.MustCompile("^(?:" + n.Value + ")$"), original: n.Value}
	}
}

// config decodes the document's root node, starting from every default.
func (d *decoder) config(n *yaml.Node) *Config {
	c := &Config{
		Atlas: Atlas{
			BaseURL: atlas.DefaultBaseURL, MaxConcurrency: atlas.DefaultMaxConcurrency, Timeout: Duration(atlas.DefaultTimeout),
			MaxAttempts: atlas.DefaultRetryPolicy.MaxAttempts, RateLimitFactor: atlas.DefaultRateLimitFactor,
		},
		MinRefreshInterval: Duration(DefaultMinRefreshInterval),
		RefreshTimeout:     Duration(DefaultRefreshTimeout),
		DiscoveryInterval:  Duration(DefaultDiscoveryInterval),
		JobsInterval:       Duration(DefaultJobsInterval),
	}
	d.lines[""] = n.Line
	if n = d.value(n); n == nil {
		return c
	}
	d.mapping(n, "", map[string]field{
		"atlas":                func(n *yaml.Node, p string) { d.atlas(n, p, &c.Atlas) },
		"credentials":          d.credentialSets(&c.Credentials),
		"min_refresh_interval": d.duration(&c.MinRefreshInterval, 0, 24*time.Hour),
		"refresh_timeout":      d.duration(&c.RefreshTimeout, time.Second, time.Hour),
		"discovery_interval":   d.duration(&c.DiscoveryInterval, 0, 7*24*time.Hour),
		"snapshot_metrics":     d.optionalBool(&c.SnapshotMetrics),
		"backup_schedules":     d.optionalBool(&c.BackupSchedules),
		"restore_jobs":         d.optionalBool(&c.RestoreJobs),
		"export_jobs":          d.optionalBool(&c.ExportJobs),
		"compliance_policy":    d.optionalBool(&c.CompliancePolicy),
		"jobs_interval":        d.duration(&c.JobsInterval, 0, 24*time.Hour),
		"projects":             list(d, &c.Projects, d.project),
	})
	return c
}

func (d *decoder) atlas(n *yaml.Node, path string, a *Atlas) {
	fields := d.credentialFields(&a.ServiceAccount, &a.APIKey)
	maps.Copy(fields, map[string]field{
		"base_url":          text(d, &a.BaseURL),
		"max_concurrency":   d.integer(&a.MaxConcurrency, 1, 256),
		"timeout":           d.duration(&a.Timeout, time.Second, 5*time.Minute),
		"max_attempts":      d.integer(&a.MaxAttempts, 1, 10),
		"rate_limit_factor": d.fraction(&a.RateLimitFactor),
	})
	maps.Copy(fields, d.networkFields(&a.Network))
	d.mapping(n, path, fields)
}

// credential decodes a block of an identifier and a secret, given inline or in a file.
func (d *decoder) credential(n *yaml.Node, path, idKey string, id *string, secretKey string, secret *Secret, file *string) {
	d.mapping(n, path, map[string]field{
		idKey:               text(d, id),
		secretKey:           text(d, secret),
		secretKey + "_file": text(d, file),
	})
}

func (d *decoder) project(p *Project) field {
	return func(n *yaml.Node, path string) {
		d.mapping(n, path, map[string]field{
			"id":                    text(d, &p.ID),
			"name":                  text(d, &p.Name),
			"discover_all_projects": d.boolean(&p.DiscoverAllProjects),
			"project_include":       d.regex(&p.ProjectInclude),
			"project_exclude":       d.regex(&p.ProjectExclude),
			"clusters":              d.strings(&p.Clusters),
			"include":               d.regex(&p.Include),
			"exclude":               d.regex(&p.Exclude),
			"kinds":                 list(d, &p.Kinds, d.kind),
			"snapshots":             d.strings(&p.Snapshots),
			"credentials":           text(d, &p.Credentials),
		})
	}
}
