package registry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies keeps the layering of DESIGN.md: the registry and the
// verifier never pull in the web framework, and the verifier never depends
// on the registry.
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
}
