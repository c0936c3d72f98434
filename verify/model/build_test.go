package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// modelTree writes a small model directory and returns it.
func modelTree(t testing.TB, dir string, mode os.FileMode) string {
	writeFile(t, dir, "model.safetensors", tinySafetensors, mode)
	writeFile(t, dir, "config.json", tinyConfigJSON, mode)
	writeFile(t, dir, "tokenizer.json", []byte(`{"version":"1.0"}`), mode)
	writeFile(t, dir, "README.md", []byte("# tiny\n"), mode)
	writeFile(t, dir, "scripts/serve.py", []byte("print('hi')\n"), mode|0o100)
	writeFile(t, dir, ".gitattributes", []byte("*.safetensors filter=lfs\n"), mode)
	return dir
}

func TestBuild_Deterministic(t *testing.T) {
	base := t.TempDir()
	a := modelTree(t, filepath.Join(base, "a"), 0o644)
	_, cfgA, manA := packDir(t, a, ScanOptions{}, BuildOptions{Name: "tiny", Version: "1"})

	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"same directory again", func(t *testing.T) string { return a }},
		{"another copy, modes 0600", func(t *testing.T) string {
			return modelTree(t, filepath.Join(t.TempDir(), "m"), 0o600)
		}},
		{"another copy, modes 0640", func(t *testing.T) string {
			return modelTree(t, filepath.Join(t.TempDir(), "other-name"), 0o640)
		}},
		{"mtimes touched", func(t *testing.T) string {
			d := modelTree(t, filepath.Join(t.TempDir(), "m"), 0o644)
			old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
			filepath.Walk(d, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
			return d
		}},
		{"through a symlinked root", func(t *testing.T) string {
			link := filepath.Join(t.TempDir(), "link")
			must(t, os.Symlink(a, link))
			return link
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg, man := packDir(t, tc.setup(t), ScanOptions{}, BuildOptions{Name: "tiny", Version: "1"})
			if !bytes.Equal(cfg, cfgA) {
				t.Errorf("config differs:\n%s\n%s", cfg, cfgA)
			}
			if !bytes.Equal(man, manA) {
				t.Errorf("manifest differs:\n%s\n%s", man, manA)
			}
		})
	}

	// A content change does change the manifest.
	writeFile(t, a, "README.md", []byte("# tiny!\n"), 0o644)
	_, _, man := packDir(t, a, ScanOptions{}, BuildOptions{Name: "tiny", Version: "1"})
	if bytes.Equal(man, manA) {
		t.Error("manifest unchanged after a content change")
	}
}

func TestBuild_Manifest(t *testing.T) {
	dir := modelTree(t, t.TempDir(), 0o644)
	entries, cfgBytes, manBytes := packDir(t, dir, ScanOptions{}, BuildOptions{
		Name: "tiny", Version: "1.0",
		Annotations: map[string]string{"org.opencontainers.image.source": "https://example.com/tiny", "a": "b"},
	})
	var m ocispec.Manifest
	must(t, json.Unmarshal(manBytes, &m))
	if m.SchemaVersion != 2 || m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != ArtifactTypeModel {
		t.Errorf("manifest header: %d %s %s", m.SchemaVersion, m.MediaType, m.ArtifactType)
	}
	if m.Config.MediaType != MediaTypeConfig || m.Config.Digest != digest.FromBytes(cfgBytes) || m.Config.Size != int64(len(cfgBytes)) {
		t.Errorf("config descriptor %+v", m.Config)
	}
	if m.Annotations["a"] != "b" || len(m.Annotations) != 2 {
		t.Errorf("annotations %v", m.Annotations)
	}
	if len(m.Layers) != len(entries) {
		t.Fatalf("%d layers for %d entries", len(m.Layers), len(entries))
	}
	for i, l := range m.Layers {
		e := entries[i]
		if l.MediaType != e.MediaType || l.Size != e.Size || l.Annotations[AnnotationFilepath] != e.Path || l.Annotations[annotationOCITitle] != e.Path {
			t.Errorf("layer %d: %+v for %+v", i, l, e)
		}
		want := `{"name":"` + filepath.Base(e.Path) + `","mode":` + map[os.FileMode]string{0o644: "420", 0o755: "493"}[e.Mode] +
			`,"uid":0,"gid":0,"size":` + jsonInt(e.Size) + `,"mtime":"1970-01-01T00:00:00Z","typeflag":0}`
		if got := l.Annotations[AnnotationFileMetadata]; got != want {
			t.Errorf("layer %d metadata\n got %s\nwant %s", i, got, want)
		}
		_, guessed := Classify(e.Path)
		if got := l.Annotations[AnnotationMediaTypeUntested]; (got == "true") != guessed {
			t.Errorf("%s: untested annotation %q, guessed %v", e.Path, got, guessed)
		}
	}

	// The config decodes into the spec's shape with only the keys cairn writes.
	var generic map[string]map[string]any
	must(t, json.Unmarshal(cfgBytes, &generic))
	if _, ok := generic["descriptor"]["createdAt"]; ok {
		t.Error("config has createdAt")
	}
	var cfg Config
	must(t, json.Unmarshal(cfgBytes, &cfg))
	if cfg.ModelFS.Type != "layers" || len(cfg.ModelFS.DiffIDs) != len(m.Layers) {
		t.Errorf("modelfs %+v", cfg.ModelFS)
	}
	for i, d := range cfg.ModelFS.DiffIDs {
		if d != m.Layers[i].Digest {
			t.Errorf("diffIds[%d] = %s, layer digest %s", i, d, m.Layers[i].Digest)
		}
	}
	if cfg.Descriptor != (ConfigDescriptor{Name: "tiny", Version: "1.0", Family: "llama"}) {
		t.Errorf("descriptor %+v", cfg.Descriptor)
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestBuild_Metadata(t *testing.T) {
	ggufQ4 := makeGGUF([]ggufKV{
		{"general.architecture", "qwen2"},
		{"general.file_type", uint32(15)},
	}, []tensor{
		{name: "blk.0.attn_q.weight", ggml: 12, shape: []uint64{2000, 1000}, bytes: 1000},
		{name: "blk.0.attn_norm.weight", ggml: 0, shape: []uint64{1000}, bytes: 0},
	})
	bigShapes := makeSafetensors([]tensor{
		{name: "w", dtype: "F16", shape: []uint64{4096, 4096}},
		{name: "e", dtype: "F8_E4M3", shape: []uint64{128256, 4096}},
		{name: "n", dtype: "F32", shape: []uint64{4096}},
	}, nil)
	tests := []struct {
		name  string
		files map[string][]byte
		want  ModelConfig
	}{
		{"safetensors and config.json", map[string][]byte{
			"model.safetensors": tinySafetensors, "config.json": tinyConfigJSON,
		}, ModelConfig{Architecture: "LlamaForCausalLM", Format: "safetensors", ParamSize: "136", Precision: "bfloat16,float32"}},
		{"sharded safetensors, large shapes", map[string][]byte{
			"model-00001-of-00002.safetensors": bigShapes, "model-00002-of-00002.safetensors": tinySafetensors,
		}, ModelConfig{Format: "safetensors", ParamSize: "542.1m", Precision: "float8_e4m3,float16,float32,bfloat16"}},
		{"gguf f16", map[string][]byte{"tiny.gguf": tinyGGUF},
			ModelConfig{Architecture: "llama", Format: "gguf", ParamSize: "40", Precision: "float16"}},
		{"gguf quantized", map[string][]byte{"m.Q4_K_M.gguf": ggufQ4},
			ModelConfig{Architecture: "qwen2", Format: "gguf", ParamSize: "2m", Quantization: "Q4_K_M"}},
		{"one gguf per quantization: the largest", map[string][]byte{"m.Q4_K_M.gguf": ggufQ4, "m.F16.gguf": tinyGGUF},
			ModelConfig{Architecture: "qwen2", Format: "gguf", ParamSize: "2m", Quantization: "Q4_K_M"}},
		{"split gguf adds up", map[string][]byte{"m-00001-of-00002.gguf": ggufQ4, "m-00002-of-00002.gguf": ggufQ4},
			ModelConfig{Architecture: "qwen2", Format: "gguf", ParamSize: "4m", Quantization: "Q4_K_M"}},
		{"quantization_config", map[string][]byte{
			"model.safetensors": tinySafetensors,
			"config.json":       []byte(`{"architectures":["MistralForCausalLM"],"model_type":"mistral","quantization_config":{"quant_method":"AWQ","bits":4}}`),
		}, ModelConfig{Architecture: "MistralForCausalLM", Format: "safetensors", ParamSize: "136", Precision: "bfloat16,float32", Quantization: "awq"}},
		{"config.json only", map[string][]byte{"config.json": tinyConfigJSON, "pytorch_model.bin": []byte("pickle")},
			ModelConfig{Architecture: "LlamaForCausalLM", Format: "pt", Precision: "bfloat16"}},
		{"malformed headers add nothing", map[string][]byte{
			"model.safetensors": []byte("not a safetensors file"), "x.gguf": []byte("GGUF\x03\x00\x00\x00"), "config.json": []byte("{"),
		}, ModelConfig{Format: "safetensors"}},
		{"format is the weight format with most bytes", map[string][]byte{
			"model.onnx": bytes.Repeat([]byte{1}, 1000), "small.safetensors": tinySafetensors,
		}, ModelConfig{Format: "onnx"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, b := range tc.files {
				writeFile(t, dir, p, b, 0o644)
			}
			_, cfgBytes, _ := packDir(t, dir, ScanOptions{}, BuildOptions{})
			var cfg Config
			must(t, json.Unmarshal(cfgBytes, &cfg))
			if cfg.Config != tc.want {
				t.Errorf("config\n got %+v\nwant %+v", cfg.Config, tc.want)
			}
		})
	}
}

func TestBuild_Errors(t *testing.T) {
	dir := modelTree(t, t.TempDir(), 0o644)
	entries, err := Scan(dir, ScanOptions{})
	must(t, err)
	ds := hashEntries(t, entries)
	swapped := append([]Entry(nil), entries...)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	badDigests := append([]digest.Digest(nil), ds...)
	badDigests[2] = "sha256:xyz"
	unsafe := append([]Entry(nil), entries...)
	unsafe[0].Path = "../escape"
	tests := []struct {
		name    string
		entries []Entry
		digests []digest.Digest
		want    error
	}{
		{"no entries", nil, nil, ErrEmpty},
		{"count mismatch", entries, ds[1:], nil},
		{"unsorted", swapped, ds, nil},
		{"bad digest", entries, badDigests, nil},
		{"unsafe path", unsafe, ds, ErrUnsafePath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Build(tc.entries, tc.digests, BuildOptions{})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Build: %v, want an error (%v)", err, tc.want)
			}
		})
	}
}

func TestFormatParamSize(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0"}, {12, "12"}, {999, "999"}, {1000, "1k"}, {1049, "1k"}, {1050, "1.1k"},
		{1500000, "1.5m"}, {999960000, "1b"}, {6738415616, "6.7b"}, {8030261248, "8b"},
		{70553706496, "70.6b"}, {405e9, "405b"}, {1.2e12, "1.2t"}, {3e15, "3q"}, {5e18, "5000q"},
	}
	for _, tc := range tests {
		if got := formatParamSize(tc.n); got != tc.want {
			t.Errorf("formatParamSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestBuild_Dataset(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train/big.parquet", bytes.Repeat([]byte("p"), 3000), 0o644)
	writeFile(t, dir, "README.md", []byte("# data"), 0o644)
	_, cfgBytes, manBytes := packDir(t, dir, ScanOptions{Dataset: true, SmallFile: 1000}, BuildOptions{})
	var m ocispec.Manifest
	must(t, json.Unmarshal(manBytes, &m))
	if m.ArtifactType != ArtifactTypeDataset {
		t.Errorf("artifactType %s", m.ArtifactType)
	}
	if !strings.Contains(string(cfgBytes), `"config":{}`) {
		t.Errorf("dataset config %s", cfgBytes)
	}
	got := map[string]string{}
	for _, l := range m.Layers {
		got[l.Annotations[AnnotationFilepath]] = l.MediaType
	}
	want := map[string]string{"cairn-group-00001.tar": MediaTypeDatasetTar, "train/big.parquet": MediaTypeDatasetRaw}
	if len(got) != len(want) || got["cairn-group-00001.tar"] != want["cairn-group-00001.tar"] || got["train/big.parquet"] != want["train/big.parquet"] {
		t.Errorf("layers %v, want %v", got, want)
	}
}
