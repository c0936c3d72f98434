package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
)

var update = flag.Bool("update", false, "rewrite the fixtures under testdata/model")

// fixtureDir holds the committed fixtures (tests read them by relative path).
const fixtureDir = "../../testdata/model"

// writeFile creates dir/rel (and its parents) with content and mode.
func writeFile(t testing.TB, dir, rel string, content []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}

// hashEntries returns the sha256 of every entry's Open bytes, checking that
// the length matches Entry.Size.
func hashEntries(t testing.TB, entries []Entry) []digest.Digest {
	t.Helper()
	ds := make([]digest.Digest, len(entries))
	for i, e := range entries {
		rc, err := e.Open()
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
		if n != e.Size {
			t.Fatalf("%s: Open gave %d bytes, Size is %d", e.Path, n, e.Size)
		}
		ds[i] = digest.NewDigest(digest.SHA256, h)
	}
	return ds
}

// packDir runs Scan, hashes, and Build.
func packDir(t testing.TB, dir string, so ScanOptions, bo BuildOptions) (entries []Entry, config, manifest []byte) {
	t.Helper()
	entries, err := Scan(dir, so)
	if err != nil {
		t.Fatal(err)
	}
	config, manifest, err = Build(entries, hashEntries(t, entries), bo)
	if err != nil {
		t.Fatal(err)
	}
	return entries, config, manifest
}

// tensor is one tensor of a hand-made weight file.
type tensor struct {
	name  string
	dtype string // safetensors dtype
	ggml  uint32 // ggml type
	shape []uint64
	bytes int // data size
}

// makeSafetensors builds a valid safetensors file: header (padded with
// spaces to 8 bytes), then zeroed tensor data.
func makeSafetensors(tensors []tensor, meta map[string]string) []byte {
	hdr := map[string]any{}
	if meta != nil {
		hdr["__metadata__"] = meta
	}
	off := 0
	for _, t := range tensors {
		hdr[t.name] = map[string]any{"dtype": t.dtype, "shape": t.shape, "data_offsets": []int{off, off + t.bytes}}
		off += t.bytes
	}
	j, _ := json.Marshal(hdr)
	for len(j)%8 != 0 {
		j = append(j, ' ')
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(j)))
	b.Write(j)
	b.Write(make([]byte, off))
	return b.Bytes()
}

// ggufKV is one GGUF metadata entry: a string, a uint32, or a []string.
type ggufKV struct {
	key string
	val any
}

// makeGGUF builds a GGUF v3 file: header, metadata, tensor infos, padding
// to 32 bytes, zeroed tensor data.
func makeGGUF(kvs []ggufKV, tensors []tensor) []byte {
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	str := func(s string) { le(uint64(len(s))); b.WriteString(s) }
	b.WriteString("GGUF")
	le(uint32(3))
	le(uint64(len(tensors)))
	le(uint64(len(kvs)))
	for _, kv := range kvs {
		str(kv.key)
		switch v := kv.val.(type) {
		case string:
			le(uint32(ggufString))
			str(v)
		case uint32:
			le(uint32(ggufUint32))
			le(v)
		case []string:
			le(uint32(ggufArray))
			le(uint32(ggufString))
			le(uint64(len(v)))
			for _, s := range v {
				str(s)
			}
		default:
			panic("makeGGUF: unsupported value")
		}
	}
	off := uint64(0)
	for _, t := range tensors {
		str(t.name)
		le(uint32(len(t.shape)))
		for _, d := range t.shape {
			le(d)
		}
		le(t.ggml)
		le(off)
		off += uint64(t.bytes+31) / 32 * 32
	}
	for b.Len()%32 != 0 {
		b.WriteByte(0)
	}
	b.Write(make([]byte, off))
	return b.Bytes()
}

// Fixture contents; TestFixtures keeps the committed files equal to them.
var (
	tinySafetensors = makeSafetensors([]tensor{
		{name: "model.embed.weight", dtype: "BF16", shape: []uint64{16, 8}, bytes: 256},
		{name: "model.norm.weight", dtype: "F32", shape: []uint64{8}, bytes: 32},
	}, map[string]string{"format": "pt"})
	tinyGGUF = makeGGUF([]ggufKV{
		{"general.architecture", "llama"},
		{"general.name", "tiny"},
		{"general.file_type", uint32(1)},
		{"tokenizer.ggml.tokens", []string{"<s>", "</s>", "a", "b"}},
	}, []tensor{
		{name: "token_embd.weight", ggml: 1, shape: []uint64{8, 4}, bytes: 64},
		{name: "output_norm.weight", ggml: 0, shape: []uint64{8}, bytes: 32},
	})
	tinyConfigJSON = []byte(`{"architectures":["LlamaForCausalLM"],"model_type":"llama","torch_dtype":"bfloat16","hidden_size":8}` + "\n")
)

func TestFixtures(t *testing.T) {
	for name, want := range map[string][]byte{
		"tiny.safetensors": tinySafetensors,
		"tiny.gguf":        tinyGGUF,
		"config.json":      tinyConfigJSON,
	} {
		p := filepath.Join(fixtureDir, name)
		if *update {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test -run TestFixtures -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its builder; run go test -run TestFixtures -update", p)
		}
	}
}

func paths(entries []Entry) []string {
	var ps []string
	for _, e := range entries {
		ps = append(ps, e.Path)
	}
	return ps
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
