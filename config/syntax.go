package config

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns yaml's parse error into "file:line: message", at the line of the problem.
func syntaxError(file string, raw []byte, err error) error {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	ends := lineEnds(raw)
	if strings.HasPrefix(msg, "did not find expected ") || strings.HasPrefix(msg, "found duplicate %") ||
		msg == "found incompatible YAML document" || msg == "found undefined tag handle" {
		// For a parser problem (not a scanner problem) yaml prints the line counted from 0 (0
		// when it prints none), and often not the problem's line but the line where the block
		// or bracket it is in begins: an indentation slip deep in projects points at line 1.
		// The problem is on the first line from there on such that the file up to that line
		// fails the same way; parsing longer prefixes only adds lines, so search by halves.
		from, want := line+1, err.Error()
		n := sort.Search(len(ends)-from+1, func(i int) bool {
			err := yaml.Unmarshal(raw[:ends[from+i-1]], new(yaml.Node))
			return err != nil && err.Error() == want
		})
		line = from + n
	}
	// A problem found at the end of the file is on its last line.
	line = min(line, len(ends))
	if line <= 0 {
		return fmt.Errorf("%s: %s", file, msg)
	}
	return fmt.Errorf("%s:%d: %s", file, line, msg)
}

// lineEnds returns, for each line of raw, the offset just after it.
func lineEnds(raw []byte) []int {
	var ends []int
	for i, b := range raw {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		ends = append(ends, len(raw))
	}
	return ends
}
