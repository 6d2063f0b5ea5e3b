// Command specfacts extracts the facts the exporter's tests check its Atlas operations against
// from OpenAPI descriptions of the Atlas Administration API v2: per GET operation its
// operationId, method, path, whether it pages, whether it is deprecated, and the resource
// versions its 200 response offers with each version's sunset date. Only facts are written,
// none of the description's text.
//
// Usage:
//
//	go run ./tools/specfacts SPEC.yaml [MORE.yaml ...] > atlas/testdata/operations.json
//
// When several files describe the same operation, the first one wins, so an older copy of the
// description can follow the current one to supply operations removed since. It is run by hand
// only: no test or build needs a description.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: specfacts SPEC.yaml [MORE.yaml ...] > atlas/testdata/operations.json")
		os.Exit(2)
	}
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "specfacts:", err)
		os.Exit(1)
	}
}

// facts is the generated file.
type facts struct {
	Sources    []source    `json:"sources"`
	Operations []operation `json:"operations"`
}

// source names one description read and the upstream revision it declares (info.x-xgen-sha).
type source struct {
	File string `json:"file"`
	SHA  string `json:"x-xgen-sha,omitempty"`
}

// operation is what the tests need to know about one operation.
type operation struct {
	OperationID string    `json:"operationId"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Paged       bool      `json:"paged"`
	Deprecated  bool      `json:"deprecated"`
	Versions    []version `json:"versions"`
}

// version is one resource version (application/vnd.atlas.VERSION+json) of the 200 response.
type version struct {
	Version string `json:"version"`
	Sunset  string `json:"sunset,omitempty"`
}

type spec struct {
	Info struct {
		SHA string `yaml:"x-xgen-sha"`
	} `yaml:"info"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Parameters map[string]parameter `yaml:"parameters"`
	} `yaml:"components"`
}

type parameter struct {
	Ref  string `yaml:"$ref"`
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type specOperation struct {
	OperationID string      `yaml:"operationId"`
	Deprecated  bool        `yaml:"deprecated"`
	Parameters  []parameter `yaml:"parameters"`
	Responses   map[string]struct {
		Content map[string]struct {
			Sunset string `yaml:"x-sunset"`
		} `yaml:"content"`
	} `yaml:"responses"`
}

func run(w io.Writer, files []string) error {
	facts, err := extract(files)
	if err != nil {
		return err
	}
	// One source and one operation a line, so a regeneration diffs by operation.
	var b strings.Builder
	b.WriteString("{\n  \"sources\": [\n")
	for i, s := range facts.Sources {
		writeLine(&b, s, i == len(facts.Sources)-1)
	}
	b.WriteString("  ],\n  \"operations\": [\n")
	for i, op := range facts.Operations {
		writeLine(&b, op, i == len(facts.Operations)-1)
	}
	b.WriteString("  ]\n}\n")
	_, err = io.WriteString(w, b.String())
	return err
}

func writeLine(b *strings.Builder, v any, last bool) {
	line, _ := json.Marshal(v) // plain structs of strings and bools: cannot fail
	b.WriteString("    ")
	b.Write(line)
	if !last {
		b.WriteByte(',')
	}
	b.WriteByte('\n')
}

func extract(files []string) (*facts, error) {
	out := &facts{Operations: []operation{}}
	seen := map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var s spec
		if err := yaml.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(s.Paths) == 0 {
			return nil, fmt.Errorf("%s: no paths: not an OpenAPI description", file)
		}
		out.Sources = append(out.Sources, source{File: filepath.Base(file), SHA: s.Info.SHA})
		for path, item := range s.Paths {
			node, ok := item["get"]
			if !ok {
				continue
			}
			var op specOperation
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s: GET %s: %w", file, path, err)
			}
			if op.OperationID == "" {
				return nil, fmt.Errorf("%s: GET %s has no operationId", file, path)
			}
			if seen[op.OperationID] {
				continue
			}
			seen[op.OperationID] = true
			out.Operations = append(out.Operations, operation{
				OperationID: op.OperationID, Method: "GET", Path: path, Deprecated: op.Deprecated,
				Paged: paged(op.Parameters, s.Components.Parameters), Versions: versions(op),
			})
		}
	}
	sort.Slice(out.Operations, func(i, j int) bool { return out.Operations[i].Path < out.Operations[j].Path })
	return out, nil
}

// paged reports whether the operation takes itemsPerPage, directly or through a shared
// parameter.
func paged(params []parameter, shared map[string]parameter) bool {
	for _, p := range params {
		if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
			p = shared[name]
		}
		if p.Name == "itemsPerPage" && p.In == "query" {
			return true
		}
	}
	return false
}

func versions(op specOperation) []version {
	out := []version{}
	for media, c := range op.Responses["200"].Content {
		v, ok := strings.CutPrefix(media, "application/vnd.atlas.")
		if !ok {
			continue
		}
		v, ok = strings.CutSuffix(v, "+json")
		if !ok {
			continue
		}
		out = append(out, version{Version: v, Sunset: c.Sunset})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out
}
