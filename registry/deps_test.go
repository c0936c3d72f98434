package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the layering of DESIGN.md: the registry and the
// verifier never pull in the web framework, the verifier never depends on
// the registry, and web is the only package that imports echo (and, in
// its tests, chromedp) directly.
func TestDependencies(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	forbidden := map[string][]string{
		"cairn.dev/cairn/registry/...": {"github.com/labstack/echo"},
		"cairn.dev/cairn/verify/...":   {"github.com/labstack/echo", "cairn.dev/cairn/registry", "cairn.dev/cairn/web"},
	}
	for pkgs, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkgs).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				if dep == b || strings.HasPrefix(dep, b+"/") {
					t.Errorf("%s imports %s", pkgs, dep)
				}
			}
		}
	}

	// Direct imports, tests included: echo only in web, chromedp only in
	// web's tests. cmd/cairn reaches echo through web.New only.
	out, err := exec.Command("go", "list", "-test", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "cairn.dev/cairn/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	only := map[string]string{"github.com/labstack/echo": "cairn.dev/cairn/web", "github.com/chromedp/": "cairn.dev/cairn/web"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		// Test variants are listed as "p [p.test]" and "p_test [p.test]".
		base := strings.TrimSuffix(strings.Fields(pkg)[0], "_test")
		if strings.HasSuffix(base, ".test") {
			continue // the generated test main
		}
		for _, imp := range strings.Fields(imports) {
			imp = strings.Fields(imp)[0]
			for prefix, allowed := range only {
				if strings.HasPrefix(imp, prefix) && base != allowed {
					t.Errorf("%s imports %s: only %s may", pkg, imp, allowed)
				}
			}
		}
	}
}
