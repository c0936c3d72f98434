package auth

import (
	"strings"

	"cairn.dev/cairn/registry"
)

// ValidPattern reports whether p is a repository pattern: path elements
// separated by "/", each either "**" (any number of elements, none
// included) or made of the characters of repository names and "*" (any
// characters but "/"). A pattern without "*" names one repository. "**"
// alone matches every repository.
func ValidPattern(p string) bool {
	if p == "" || len(p) > registry.MaxNameLength {
		return false
	}
	for e := range strings.SplitSeq(p, "/") {
		if e == "**" {
			continue
		}
		if e == "" {
			return false
		}
		for i := 0; i < len(e); i++ {
			c := e[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '*') {
				return false
			}
		}
		if strings.Contains(e, "**") {
			return false // "**" only as a whole element
		}
	}
	return true
}

// Match reports whether the repository name matches pattern (see
// ValidPattern). It runs in time proportional to the product of their
// lengths at worst.
func Match(pattern, name string) bool {
	if pattern == "**" {
		return true
	}
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	pe := strings.Split(pattern, "/")
	ne := strings.Split(name, "/")
	// done[i][j] memoises a failed match of pe[i:] against ne[j:].
	var failed map[[2]int]bool
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(pe) && pe[i] != "**" {
			if j >= len(ne) || !matchElem(pe[i], ne[j]) {
				return false
			}
			i, j = i+1, j+1
		}
		if i == len(pe) {
			return j == len(ne)
		}
		// pe[i] is "**": skip it, or let it take one more element.
		if failed[[2]int{i, j}] {
			return false
		}
		if match(i+1, j) || j < len(ne) && match(i, j+1) {
			return true
		}
		if failed == nil {
			failed = map[[2]int]bool{}
		}
		failed[[2]int{i, j}] = true
		return false
	}
	return match(0, 0)
}

// matchElem matches one path element against a glob where "*" stands for
// any run of characters (the classic linear-backtracking wildcard match).
func matchElem(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
