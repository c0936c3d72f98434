package scan_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/verify/scan"
)

// corpusDir returns ../shared/corpus/pickle relative to the repository
// root (or $CAIRN_CORPUS/pickle, for a work tree that is not beside it),
// or skips the test.
func corpusDir(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("CAIRN_CORPUS"); env != "" {
		dir := filepath.Join(env, "pickle")
		if _, err := os.Stat(filepath.Join(dir, "EXPECTED.tsv")); err != nil {
			t.Fatalf("CAIRN_CORPUS: %v", err)
		}
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above", wd)
		}
		root = parent
	}
	dir := filepath.Join(root, "..", "shared", "corpus", "pickle")
	if _, err := os.Stat(filepath.Join(dir, "EXPECTED.tsv")); err != nil {
		t.Skipf("public corpus not found at %s (it is read from ../shared/corpus next to the repository): %v", dir, err)
	}
	return dir
}

// corpusCase is one line of EXPECTED.tsv.
type corpusCase struct {
	path, want, why string
}

func corpusCases(t testing.TB, dir string) []corpusCase {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "EXPECTED.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []corpusCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) < 2 {
			t.Fatalf("EXPECTED.tsv: bad line %q", line)
		}
		c := corpusCase{path: parts[0], want: parts[1]}
		if len(parts) == 3 {
			c.why = parts[2]
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// notScannedOK are the files EXPECTED.tsv calls unsafe that the scanner
// reports as not scanned: a 7z archive, whose members it cannot read.
var notScannedOK = map[string]bool{"picklescan/data/malicious1.7z": true}

func TestFile_Corpus(t *testing.T) {
	dir := corpusDir(t)
	cases := corpusCases(t, dir)
	match := 0
	for _, c := range cases {
		rep, err := scan.File(t.Context(), filepath.Join(dir, c.path))
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		// EXPECTED.tsv has two verdicts: safe (must pass) and unsafe (must
		// be refused). Its unsafe files must be VerdictUnsafe, except
		// those in notScannedOK, which the scanner cannot read at all and
		// reports as not scanned: refused too (only VerdictSafe passes),
		// without the scanner claiming to have seen what is inside.
		got := string(rep.Verdict)
		if c.want == "unsafe" && rep.Verdict == scan.VerdictNotScanned && notScannedOK[c.path] {
			got = "unsafe"
		}
		if got != c.want {
			t.Errorf("%s: %s, want %s (%s); format %s %s, findings:", c.path, got, c.want, c.why, rep.Format, rep.Variant)
			for _, f := range rep.Findings {
				t.Errorf("    %s", f)
			}
			continue
		}
		match++
	}
	t.Logf("corpus: %d/%d verdicts as in EXPECTED.tsv", match, len(cases))
}

// TestFile_CorpusUnlisted scans the files EXPECTED.tsv does not list: no
// error, and a verdict for each.
func TestFile_CorpusUnlisted(t *testing.T) {
	dir := corpusDir(t)
	listed := map[string]bool{}
	for _, c := range corpusCases(t, dir) {
		listed[filepath.FromSlash(c.path)] = true
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if listed[rel] || !strings.Contains(rel, string(filepath.Separator)) {
			return nil
		}
		rep, err := scan.File(t.Context(), p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		t.Logf("%s: %s %s %s %s", rel, rep.Format, rep.Variant, rep.Verdict, rep.Summary())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
