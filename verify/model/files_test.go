package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fileSummary is what the fixture tests compare.
type fileSummary struct {
	Path    string
	Kind    Kind
	Archive bool
	Mode    os.FileMode
}

func summarize(files []File) []fileSummary {
	var s []fileSummary
	for _, f := range files {
		s = append(s, fileSummary{f.Path, f.Kind, f.Archive, f.Mode})
	}
	return s
}

func TestFiles_Fixtures(t *testing.T) {
	tests := []struct {
		fixture      string
		artifactType string
		want         []fileSummary
	}{
		{"cnai-legacy.json", LegacyArtifactTypeModel, []fileSummary{
			{"model-00001-of-00002.safetensors", KindWeight, false, 0o644},
			{"config.json", KindWeightConfig, false, 0o644},
			{"scripts/run.sh", KindCode, false, 0o755},
			{"", KindDoc, true, 0o644},
		}},
		{"kitops.json", MediaTypeKitConfig, []fileSummary{
			{"", KindWeight, true, 0o644},
			{"", KindWeight, true, 0o644},
			{"", KindDataset, true, 0o644},
			{"", KindCode, true, 0o644},
			{"", KindDoc, true, 0o644},
		}},
		{"oras.json", "application/vnd.unknown.artifact.v1", []fileSummary{
			{"model.safetensors", KindWeight, false, 0o644},
			{"config.json", KindWeightConfig, false, 0o644},
			{"", "", true, 0o644},
			// the untitled layer is left out, as oras pull does
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(fixtureDir, "manifests", tc.fixture))
			must(t, err)
			at, files, err := Files(b)
			must(t, err)
			if at != tc.artifactType {
				t.Errorf("artifact type %q, want %q", at, tc.artifactType)
			}
			if got := summarize(files); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("files\n got %+v\nwant %+v", got, tc.want)
			}
			for _, f := range files {
				if f.Desc.Digest == "" || f.Desc.Size <= 0 {
					t.Errorf("descriptor %+v", f.Desc)
				}
			}
		})
	}
}

func TestFiles_CairnBuilt(t *testing.T) {
	for _, dataset := range []bool{false, true} {
		t.Run(fmt.Sprint("dataset=", dataset), func(t *testing.T) {
			dir := modelTree(t, t.TempDir(), 0o644)
			entries, _, man := packDir(t, dir, ScanOptions{Dataset: dataset, SmallFile: 64}, BuildOptions{})
			at, files, err := Files(man)
			must(t, err)
			want := ArtifactTypeModel
			if dataset {
				want = ArtifactTypeDataset
			}
			if at != want {
				t.Errorf("artifact type %s, want %s", at, want)
			}
			if len(files) != len(entries) {
				t.Fatalf("%d files for %d entries", len(files), len(entries))
			}
			for i, f := range files {
				e := entries[i]
				if e.Members != nil {
					if !f.Archive || f.Path != "" || f.Kind != KindDataset {
						t.Errorf("group %s came back as %+v", e.Path, f)
					}
					continue
				}
				if f.Path != e.Path || f.Kind != e.Kind || f.Mode != e.Mode || f.Archive || f.Desc.Size != e.Size {
					t.Errorf("file %d: %+v, entry %+v", i, f, e)
				}
			}
		})
	}
}

// manifestWith builds a ModelPack manifest with one raw layer per path.
func manifestWith(paths ...string) []byte {
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeModel,
		Config:       ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: digest.FromString("c"), Size: 1},
	}
	m.SchemaVersion = 2
	for i, p := range paths {
		m.Layers = append(m.Layers, ocispec.Descriptor{
			MediaType:   MediaTypeWeightRaw,
			Digest:      digest.FromString(fmt.Sprint(i)),
			Size:        1,
			Annotations: map[string]string{AnnotationFilepath: p},
		})
	}
	b, _ := json.Marshal(m)
	return b
}

func TestFiles_Refuses(t *testing.T) {
	tooMany := make([]string, MaxFiles+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprint("f", i)
	}
	tests := []struct {
		name     string
		manifest []byte
		want     error
		path     string // named in the error, when a path is at fault
	}{
		{"dotdot", manifestWith("../x"), ErrUnsafePath, "../x"},
		{"absolute", manifestWith("ok", "/tmp/x"), ErrUnsafePath, "/tmp/x"},
		{"escapes after cleaning", manifestWith("a/../../x"), ErrUnsafePath, "a/../../x"},
		{"inner dotdot that stays inside", manifestWith("a/../b"), ErrUnsafePath, "a/../b"},
		{"dot", manifestWith("./x"), ErrUnsafePath, "./x"},
		{"empty element", manifestWith("a//b"), ErrUnsafePath, "a//b"},
		{"trailing slash", manifestWith("a/"), ErrUnsafePath, "a/"},
		{"backslash", manifestWith(`a\b`), ErrUnsafePath, `a\b`},
		{"windows escape", manifestWith(`..\..\x`), ErrUnsafePath, `..\..\x`},
		{"NUL", manifestWith("a\x00b"), ErrUnsafePath, "a\x00b"},
		{"newline", manifestWith("a\nb"), ErrUnsafePath, "a\nb"},
		{"cairn metadata", manifestWith(".cairn/x"), ErrUnsafePath, ".cairn/x"},
		{"cairn metadata, other case", manifestWith(".Cairn/receipt.json"), ErrUnsafePath, ".Cairn/receipt.json"},
		{"cairn dir itself", manifestWith(".cairn"), ErrUnsafePath, ".cairn"},
		{"too long", manifestWith(strings.Repeat("a/", MaxPathLen/2) + "x"), ErrUnsafePath, strings.Repeat("a/", MaxPathLen/2) + "x"},
		{"element too long", manifestWith(strings.Repeat("a", 256)), ErrUnsafePath, strings.Repeat("a", 256)},
		{"missing filepath", manifestWith(""), ErrUnsafePath, digest.FromString("0").String()},
		{"duplicate", manifestWith("a", "b", "a"), ErrDuplicatePath, "a"},
		{"case-only duplicate", manifestWith("Model.bin", "model.BIN"), ErrDuplicatePath, "model.BIN"},
		{"file and directory", manifestWith("a", "a/b"), ErrDuplicatePath, "a/b"},
		{"directory and file", manifestWith("a/b", "A"), ErrDuplicatePath, "A"},
		{"too many layers", manifestWith(tooMany...), ErrTooMany, ""},
		{"zstd layer", []byte(`{"schemaVersion":2,"artifactType":"` + ArtifactTypeModel + `","config":{"mediaType":"` + MediaTypeConfig + `","digest":"` + digest.FromString("c").String() + `","size":1},` +
			`"layers":[{"mediaType":"` + MediaTypeWeightTarZstd + `","digest":"` + digest.FromString("z").String() + `","size":1,"annotations":{"org.cncf.model.filepath":"w"}}]}`), ErrUnsupportedMediaType, "w"},
		{"unknown layer type", []byte(`{"schemaVersion":2,"artifactType":"` + ArtifactTypeModel + `","config":{"mediaType":"` + MediaTypeConfig + `","digest":"` + digest.FromString("c").String() + `","size":1},` +
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + digest.FromString("z").String() + `","size":1,"annotations":{"org.cncf.model.filepath":"w"}}]}`), ErrUnsupportedMediaType, "w"},
		{"bad layer digest", []byte(`{"schemaVersion":2,"artifactType":"` + ArtifactTypeModel + `","config":{"mediaType":"` + MediaTypeConfig + `","digest":"` + digest.FromString("c").String() + `","size":1},` +
			`"layers":[{"mediaType":"` + MediaTypeWeightRaw + `","digest":"sha256:../../etc","size":1,"annotations":{"org.cncf.model.filepath":"w"}}]}`), ErrInvalidManifest, ""},
		{"index", []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`), ErrInvalidManifest, ""},
		{"schema 1", []byte(`{"schemaVersion":1}`), ErrInvalidManifest, ""},
		{"not json", []byte(`{`), ErrInvalidManifest, ""},
		{"oras title escaping", []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + digest.FromString("{}").String() + `","size":2},` +
			`"layers":[{"mediaType":"application/octet-stream","digest":"` + digest.FromString("z").String() + `","size":1,"annotations":{"org.opencontainers.image.title":"../../.bashrc"}}]}`), ErrUnsafePath, "../../.bashrc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, files, err := Files(tc.manifest)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Files: %v (files %v); want %v", err, summarize(files), tc.want)
			}
			if files != nil {
				t.Errorf("Files returned files with an error")
			}
			if tc.path != "" {
				var pe *PathError
				if !errors.As(err, &pe) || pe.Path != tc.path {
					t.Errorf("error %v does not name %q", err, tc.path)
				}
			}
		})
	}
}

func TestParseMediaTypes(t *testing.T) {
	tests := []struct {
		mt     string
		kind   Kind
		format layerFormat
	}{
		{MediaTypeWeightRaw, KindWeight, formatRaw},
		{MediaTypeWeightTar, KindWeight, formatTar},
		{MediaTypeWeightTarGzip, KindWeight, formatTar},
		{MediaTypeWeightTarZstd, KindWeight, formatZstd},
		{MediaTypeWeightConfigRaw, KindWeightConfig, formatRaw},
		{MediaTypeWeightConfigTar, KindWeightConfig, formatTar},
		{MediaTypeWeightConfigTarGzip, KindWeightConfig, formatTar},
		{MediaTypeWeightConfigTarZstd, KindWeightConfig, formatZstd},
		{MediaTypeDocRaw, KindDoc, formatRaw},
		{MediaTypeDocTar, KindDoc, formatTar},
		{MediaTypeDocTarGzip, KindDoc, formatTar},
		{MediaTypeDocTarZstd, KindDoc, formatZstd},
		{MediaTypeCodeRaw, KindCode, formatRaw},
		{MediaTypeCodeTar, KindCode, formatTar},
		{MediaTypeCodeTarGzip, KindCode, formatTar},
		{MediaTypeCodeTarZstd, KindCode, formatZstd},
		{MediaTypeDatasetRaw, KindDataset, formatRaw},
		{MediaTypeDatasetTar, KindDataset, formatTar},
		{MediaTypeDatasetTarGzip, KindDataset, formatTar},
		{MediaTypeDatasetTarZstd, KindDataset, formatZstd},
		{"application/vnd.cnai.model.weight.config.v1.raw", KindWeightConfig, formatRaw},
		{"application/vnd.cnai.model.dataset.v1.tar+gzip", KindDataset, formatTar},
		{"application/vnd.cnai.model.unknown.v1.raw", "", formatRaw},
		{"application/vnd.cnai.model.unknown.v1.tar", "", formatUnknown},
		{"application/vnd.cncf.model.weight.v2.raw", "", formatUnknown},
		{"application/vnd.cncf.model.weight.v1.tar+bzip2", "", formatUnknown},
		{"application/vnd.oci.image.layer.v1.tar", "", formatUnknown},
	}
	for _, tc := range tests {
		k, f := parseModelPackMediaType(tc.mt)
		if k != tc.kind || f != tc.format {
			t.Errorf("parseModelPackMediaType(%q) = %q, %d; want %q, %d", tc.mt, k, f, tc.kind, tc.format)
		}
		if f == formatRaw && k != "" && k.rawMediaType() != tc.mt && !strings.Contains(tc.mt, "cnai") {
			t.Errorf("%s: rawMediaType %s", k, k.rawMediaType())
		}
	}
	kit := []struct {
		mt     string
		kind   Kind
		format layerFormat
	}{
		{"application/vnd.kitops.modelkit.model.v1.tar", KindWeight, formatTar},
		{"application/vnd.kitops.modelkit.modelpart.v1.tar+gzip", KindWeight, formatTar},
		{"application/vnd.kitops.modelkit.dataset.v1.tar", KindDataset, formatTar},
		{"application/vnd.kitops.modelkit.code.v1.tar+gzip", KindCode, formatTar},
		{"application/vnd.kitops.modelkit.docs.v1.tar", KindDoc, formatTar},
		{"application/vnd.kitops.modelkit.docs.v1.tar+zstd", KindDoc, formatZstd},
		{"application/vnd.kitops.modelkit.docs.v1.tar+lz4", "", formatUnknown},
		{"application/vnd.kitops.modelkit.prompts.v1.tar", "", formatUnknown},
		{MediaTypeKitConfig, "", formatUnknown},
	}
	for _, tc := range kit {
		k, f := parseKitMediaType(tc.mt)
		if k != tc.kind || f != tc.format {
			t.Errorf("parseKitMediaType(%q) = %q, %d; want %q, %d", tc.mt, k, f, tc.kind, tc.format)
		}
	}
}
