package model

import (
	"fmt"
	"path"
	"strings"
)

// MatchInclude reports whether the file path p is selected by globs (as
// given to pull --include): every path when globs is empty; otherwise a
// glob matches the whole path (path.Match), "dir/**" a subtree, and a glob
// without '/' the base name at any depth.
func MatchInclude(globs []string, p string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if prefix, ok := strings.CutSuffix(g, "/**"); ok && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
			return true
		}
		if ok, _ := path.Match(g, p); ok {
			return true
		}
		if ok, _ := path.Match(g, path.Base(p)); ok && !strings.Contains(g, "/") {
			return true
		}
	}
	return false
}

// CheckInclude reports the first malformed glob of globs.
func CheckInclude(globs []string) error {
	for _, g := range globs {
		if _, err := path.Match(strings.TrimSuffix(g, "/**"), ""); err != nil {
			return fmt.Errorf("--include %q: %w", g, err)
		}
	}
	return nil
}
