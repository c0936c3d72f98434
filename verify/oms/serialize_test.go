package oms_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// fixtures are the reference implementation's test models
// (tests/conftest.py), by fixture name: the model's own name and files.
// A model whose files map holds "" under the key "" is a single file.
var fixtures = map[string]struct {
	name  string
	files map[string]string
}{
	"sample_model_file":            {"file_model", map[string]string{"": "This is a simple model"}},
	"empty_model_file":             {"empty_file_model", map[string]string{"": ""}},
	"empty_model_folder":           {"empty_folder_model", map[string]string{}},
	"model_folder_with_empty_file": {"empty_file_inside_model", map[string]string{"empty_file": ""}},
	"sample_model_folder":          {"sample_model", sampleModel()},
	"deep_model_folder":            {"deep_model", deepModel()},
}

func sampleModel() map[string]string {
	m := map[string]string{}
	for i := range 2 {
		for j := range 3 {
			m[fmt.Sprintf("d%d/f%d%d", i, i, j)] = fmt.Sprintf("This is file f%d%d in d%d.", i, j, i)
		}
	}
	for i := range 4 {
		m[fmt.Sprintf("f%d", i)] = fmt.Sprintf("This is file f%d in root.", i)
	}
	return m
}

func deepModel() map[string]string {
	m := map[string]string{}
	for i := range 4 {
		m[fmt.Sprintf("d0/d1/d2/d3/d4/f%d", i)] = fmt.Sprintf("This is file f%d.", i)
	}
	return m
}

// makeFixture writes a fixture and returns the model's path.
func makeFixture(t *testing.T, fixture string) string {
	t.Helper()
	fx := fixtures[fixture]
	path := filepath.Join(t.TempDir(), fx.name)
	if content, ok := fx.files[""]; ok {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, path, fx.files)
	return path
}

// readGolden reads a _serialization golden: lines name:hexdigest.
func readGolden(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
	}
	return lines
}

func lines(m *oms.Manifest) []string {
	out := []string{}
	for _, r := range m.Resources {
		out = append(out, r.Name+":"+hex.EncodeToString(r.Digest))
	}
	return out
}

// TestSerialize_Golden checks Serialize against the reference's golden
// manifests and statements for its test models, by files, by 1 GB shards
// and by 8-byte shards.
func TestSerialize_Golden(t *testing.T) {
	base := corpus(t, "oms", "tests")
	methods := []struct {
		suffix, dir, payload string
		s                    oms.Serialization
	}{
		{"", "file", "", oms.Serialization{Method: oms.MethodFiles, AllowSymlinks: true}},
		{"", "file_shard", "_shard", oms.Serialization{Method: oms.MethodShards, ShardSize: oms.DefaultShardSize, AllowSymlinks: true}},
		{"_small_shards", "file_shard", "_small_shards", oms.Serialization{Method: oms.MethodShards, ShardSize: 8, AllowSymlinks: true}},
	}
	for fixture := range fixtures {
		for _, mt := range methods {
			t.Run(fixture+"/"+mt.dir+mt.suffix, func(t *testing.T) {
				m, err := oms.Serialize(t.Context(), makeFixture(t, fixture), mt.s, verify.HashOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want := readGolden(t, filepath.Join(base, "_serialization", "testdata", mt.dir, "TestSerializer", fixture+mt.suffix))
				if got := lines(m); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("resources:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}

				st, err := m.Statement()
				if err != nil {
					t.Fatal(err)
				}
				golden, err := os.ReadFile(filepath.Join(base, "_signing", "testdata", "signing", "TestPayload", fixture+mt.payload))
				if err != nil {
					t.Fatal(err)
				}
				var got, wantSt any
				if err := json.Unmarshal(st, &got); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(golden, &wantSt); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, wantSt) {
					t.Errorf("statement:\n%s\nwant:\n%s", st, golden)
				}

				back, err := oms.ParseStatement(st)
				if err != nil {
					t.Fatal(err)
				}
				if err := oms.Compare(back, m); err != nil || back.Name != m.Name || !reflect.DeepEqual(back.Serialization, m.Serialization) {
					t.Errorf("round trip: %v, %+v vs %+v", err, back, m)
				}
			})
		}
	}
}

func TestSerialize(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "m")
	writeFiles(t, dir, map[string]string{
		"a/b":              "1",
		"a.b":              "2",
		"a b":              "3",
		".hidden":          "4",
		".git/config":      "5",
		".gitattributes":   "6",
		"model.sig":        "7",
		"logs/run1/out":    "8",
		"logsx":            "9",
		"weights/x.safe":   "10",
		"weights/y.safe":   "11",
		"sub/.git/keepme?": "12",
	})
	s := oms.Serialization{IgnorePaths: []string{"logs", "model.sig", ".git", ".gitattributes", "logs"}}
	m, err := oms.Serialize(t.Context(), dir, s, verify.HashOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range m.Resources {
		names = append(names, r.Name)
	}
	// Element by element, "a" < "a b" < "a.b", so "a/b" sorts first.
	want := []string{".hidden", "a/b", "a b", "a.b", "logsx", "sub/.git/keepme?", "weights/x.safe", "weights/y.safe"}
	if !slices.Equal(names, want) {
		t.Errorf("resources %q, want %q", names, want)
	}
	if want := []string{".git", ".gitattributes", "logs", "model.sig"}; !slices.Equal(m.Serialization.IgnorePaths, want) {
		t.Errorf("recorded ignore paths %q, want %q", m.Serialization.IgnorePaths, want)
	}
	if m.Name != "m" || m.Serialization.Method != oms.MethodFiles || m.Serialization.HashType != oms.HashSHA256 {
		t.Errorf("manifest %+v", m)
	}

	t.Run("errors", func(t *testing.T) {
		link := filepath.Join(t.TempDir(), "m")
		writeFiles(t, link, map[string]string{"target": "x"})
		if err := os.Symlink("target", filepath.Join(link, "inside")); err != nil {
			t.Fatal(err)
		}
		escape := filepath.Join(t.TempDir(), "m")
		writeFiles(t, escape, map[string]string{"f": "x"})
		if err := os.Symlink("/etc/hostname", filepath.Join(escape, "out")); err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(t.TempDir(), "m")
		writeFiles(t, fifo, map[string]string{"f": "x"})
		if err := mkfifo(filepath.Join(fifo, "pipe")); err != nil {
			t.Skip(err)
		}
		for _, tc := range []struct {
			name, path string
			s          oms.Serialization
			is         error
			msg        string
		}{
			{"symlink not allowed", link, oms.Serialization{}, oms.ErrUnsupportedFile, "serialize inside"},
			{"symlink escaping", escape, oms.Serialization{AllowSymlinks: true}, oms.ErrUnsupportedFile, "leads out of the model"},
			{"fifo", fifo, oms.Serialization{}, oms.ErrUnsupportedFile, "not a regular file"},
			{"blake3", dir, oms.Serialization{HashType: "blake3"}, oms.ErrUnsupported, "blake3"},
			{"bad method", dir, oms.Serialization{Method: "tensors"}, oms.ErrUnsupported, "tensors"},
			{"escaping ignore path", dir, oms.Serialization{IgnorePaths: []string{"../x"}}, nil, "not a relative slash path"},
			{"missing", filepath.Join(dir, "nope"), oms.Serialization{}, os.ErrNotExist, "nope"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := oms.Serialize(t.Context(), tc.path, tc.s, verify.HashOptions{})
				if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.msg)
				}
			})
		}
		// A symlink inside the model, where allowed, is hashed as its target.
		m, err := oms.Serialize(t.Context(), link, oms.Serialization{AllowSymlinks: true}, verify.HashOptions{})
		if err != nil || len(m.Resources) != 2 || !slices.Equal(m.Resources[0].Digest, m.Resources[1].Digest) {
			t.Fatalf("allowed symlink: %v %+v", err, m)
		}
	})
}

func TestComparePaths(t *testing.T) {
	sorted := []string{".", "a", "a/b", "a/b/c", "a b", "a.b", "a0", "b/a", "ba", "é"}
	for i := range sorted {
		for j := range sorted {
			got := oms.ComparePaths(sorted[i], sorted[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("ComparePaths(%q, %q) = %d, want %d", sorted[i], sorted[j], got, want)
			}
		}
	}
}
