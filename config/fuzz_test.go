package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds any file to the configuration loader: it must answer with a config or an
// error, never panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse("fuzz.yml", raw, func(string) string { return "" })
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
	})
}
