package tlogcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the outside verifier outside: the standard library and
// golang.org/x/mod/sumdb only.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.Contains(p, ".") && !strings.HasPrefix(p, "golang.org/x/mod/sumdb/") {
			t.Errorf("the outside verifier imports %s", p)
		}
	}
}
