package bundle_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"cairn.dev/cairn/verify/bundle"
)

// TestDefinedOnce keeps the bundle media type and the limits on bundles
// and referrers defined in this package only: every other package refers
// to them, so that the agent, the gate, the web UI and the CLI cannot
// drift apart.
func TestDefinedOnce(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Skipf("repository root not found: %v", err)
	}
	here, _ := filepath.Abs(".")
	// A limit on bundles or referrers given a number.
	limit := regexp.MustCompile(`(?m)^\s*(?:const\s+)?([Mm]ax\w*(?:Bundle|Referrer)\w*)\s*(?:int64\s*|int\s*)?=\s*[0-9]`)
	checked := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		if abs, _ := filepath.Abs(filepath.Dir(p)); abs == here {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		checked++
		if strings.Contains(string(b), bundle.MediaType) {
			t.Errorf("%s spells out the bundle media type: use bundle.MediaType (or attest.MediaTypeBundle)", p)
		}
		for _, m := range limit.FindAllStringSubmatch(string(b), -1) {
			t.Errorf("%s defines %s with a number: refer to a limit of package bundle", p, m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("only %d Go files checked: the walk missed the repository", checked)
	}
	t.Logf("%d Go files checked", checked)
}
