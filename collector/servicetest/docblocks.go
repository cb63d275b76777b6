package servicetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DocBlocks returns the fenced code blocks of language lang in the
// repository file path (e.g. "README.md"), keyed by their first line, so
// tests can check that documented examples work.
func DocBlocks(t testing.TB, path, lang string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	var cur []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			if len(cur) > 0 {
				blocks[strings.TrimSpace(cur[0])] = strings.Join(cur, "\n") + "\n"
			}
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}
