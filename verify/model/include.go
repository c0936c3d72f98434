package model

import (
	"fmt"
	"path"
	"strings"
)

// MatchInclude reports whether the file path p is selected by globs (as
// given to pull --include and --exclude): every path when globs is empty;
// otherwise a path some glob matches, when any glob selects, and that no
// glob beginning with '!' (an --exclude) matches. A glob matches the whole
// path (path.Match), "dir/**" a subtree, and a glob without '/' the base
// name at any depth.
func MatchInclude(globs []string, p string) bool {
	selecting, in := false, false
	for _, g := range globs {
		if neg, ok := strings.CutPrefix(g, "!"); ok {
			if matchGlob(neg, p) {
				return false
			}
			continue
		}
		selecting = true
		in = in || matchGlob(g, p)
	}
	return !selecting || in
}

func matchGlob(g, p string) bool {
	if prefix, ok := strings.CutSuffix(g, "/**"); ok && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
		return true
	}
	if ok, _ := path.Match(g, p); ok {
		return true
	}
	ok, _ := path.Match(g, path.Base(p))
	return ok && !strings.Contains(g, "/")
}

// Exclude turns --exclude globs into the '!' globs MatchInclude reads and
// appends them to include.
func Exclude(include, exclude []string) []string {
	out := append([]string(nil), include...)
	for _, g := range exclude {
		out = append(out, "!"+g)
	}
	return out
}

// CheckInclude reports the first malformed glob of globs.
func CheckInclude(globs []string) error {
	for _, g := range globs {
		flag := "--include"
		if neg, ok := strings.CutPrefix(g, "!"); ok {
			g, flag = neg, "--exclude"
		}
		if _, err := path.Match(strings.TrimSuffix(g, "/**"), ""); err != nil {
			return fmt.Errorf("%s %q: %w", flag, g, err)
		}
	}
	return nil
}
