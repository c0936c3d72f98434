package model

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BuildOptions configures Build. The zero value builds a model manifest.
type BuildOptions struct {
	// ArtifactType of the manifest; empty means ArtifactTypeModel, or
	// ArtifactTypeDataset when every entry has kind dataset.
	ArtifactType string
	// Annotations are copied into the manifest (the user's
	// --annotation k=v).
	Annotations map[string]string
	// Name and Version go into the config's descriptor when set.
	Name, Version string
}

// Config is the ModelPack config blob (media type MediaTypeConfig), with
// the fields cairn writes. Field names follow modelpack/model-spec
// docs/config.md.
type Config struct {
	Descriptor ConfigDescriptor `json:"descriptor"`
	ModelFS    ModelFS          `json:"modelfs"`
	Config     ModelConfig      `json:"config"`
}

// ConfigDescriptor is the config's general information. cairn never writes
// createdAt, so that the same files always give the same config.
type ConfigDescriptor struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	// Family is the model family, from config.json model_type.
	Family string `json:"family,omitempty"`
}

// ModelConfig is the config's technical metadata.
type ModelConfig struct {
	Architecture string `json:"architecture,omitempty"`
	Format       string `json:"format,omitempty"`
	ParamSize    string `json:"paramSize,omitempty"`
	Precision    string `json:"precision,omitempty"`
	Quantization string `json:"quantization,omitempty"`
}

// ModelFS lists the layer digests (for uncompressed layers, DiffIDs are
// the layer digests).
type ModelFS struct {
	Type    string          `json:"type"`
	DiffIDs []digest.Digest `json:"diffIds"`
}

// FileMetadata is the value of AnnotationFileMetadata (modelpack/model-spec
// docs/annotations.md). cairn writes name (the base name), mode (0644 or
// 0755, as a decimal number), uid and gid 0, size, mtime at the Unix epoch
// ("1970-01-01T00:00:00Z") and typeflag 0 (a regular file, as modctl
// writes it; tar's '0' is read as regular too).
type FileMetadata struct {
	Name     string `json:"name"`
	Mode     uint32 `json:"mode"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	Size     int64  `json:"size"`
	ModTime  string `json:"mtime"`
	Typeflag byte   `json:"typeflag"`
}

// epochRFC3339 is how encoding/json writes the Unix epoch as a time.Time.
const epochRFC3339 = "1970-01-01T00:00:00Z"

// Build makes the config and the manifest once every entry's digest is
// known: digests[i] is the sha256 (or sha512) of entries[i].Open()'s bytes.
// Entries must be as Scan returns them: sorted by Path, paths unique and
// safe. The layers follow the entries' order.
//
// Build reads model metadata from the entries' files: safetensors headers
// (dtypes -> precision, shapes -> paramSize), GGUF headers
// (general.architecture, general.file_type -> quantization or precision,
// tensor shapes -> paramSize) and the root config.json (architectures[0],
// model_type, torch_dtype). format is the weight format with the most
// bytes. Metadata is best effort: a header that does not parse adds
// nothing; only I/O errors fail Build.
//
// The same entries and digests always give byte-identical config and
// manifest: no times, sorted map keys (encoding/json), fixed field order.
func Build(entries []Entry, digests []digest.Digest, opts BuildOptions) (config, manifest []byte, err error) {
	if len(entries) == 0 {
		return nil, nil, ErrEmpty
	}
	if len(entries) != len(digests) {
		return nil, nil, fmt.Errorf("model: %d entries but %d digests", len(entries), len(digests))
	}
	if len(entries) > MaxFiles {
		return nil, nil, fmt.Errorf("%w: more than %d layers", ErrTooMany, MaxFiles)
	}
	seen := newPathSet()
	dataset := true
	for i, e := range entries {
		if i > 0 && entries[i-1].Path >= e.Path {
			return nil, nil, pathError(e.Path, errors.New("model: entries not sorted by path (use Scan's order)"))
		}
		if err := checkPath(e.Path); err != nil {
			return nil, nil, err
		}
		if err := seen.add(e.Path); err != nil {
			return nil, nil, err
		}
		if err := digests[i].Validate(); err != nil {
			return nil, nil, pathError(e.Path, fmt.Errorf("digest %q: %w", digests[i], err))
		}
		if e.Size < 0 || !e.Kind.valid() || e.MediaType == "" {
			return nil, nil, pathError(e.Path, errors.New("model: entry without size, kind or media type"))
		}
		dataset = dataset && e.Kind == KindDataset
	}

	cfg := Config{
		Descriptor: ConfigDescriptor{Name: opts.Name, Version: opts.Version},
		ModelFS:    ModelFS{Type: "layers", DiffIDs: slices.Clone(digests)},
	}
	if !dataset {
		if err := describe(entries, &cfg); err != nil {
			return nil, nil, err
		}
	}
	config, err = json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}

	layers := make([]ocispec.Descriptor, len(entries))
	for i, e := range entries {
		meta, err := json.Marshal(FileMetadata{
			Name:    path.Base(e.Path),
			Mode:    uint32(normMode(e.Mode)),
			Size:    e.Size,
			ModTime: epochRFC3339,
		})
		if err != nil {
			return nil, nil, err
		}
		ann := map[string]string{
			AnnotationFilepath:     e.Path,
			AnnotationFileMetadata: string(meta),
		}
		if e.Members == nil {
			// Lets `oras pull` recreate single files too.
			ann[annotationOCITitle] = e.Path
		}
		if e.guessed {
			ann[AnnotationMediaTypeUntested] = "true"
		}
		layers[i] = ocispec.Descriptor{
			MediaType:   e.MediaType,
			Digest:      digests[i],
			Size:        e.Size,
			Annotations: ann,
		}
	}
	at := opts.ArtifactType
	if at == "" {
		at = ArtifactTypeModel
		if dataset {
			at = ArtifactTypeDataset
		}
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: at,
		Config: ocispec.Descriptor{
			MediaType: MediaTypeConfig,
			Digest:    digest.FromBytes(config),
			Size:      int64(len(config)),
		},
		Layers: layers,
	}
	if len(opts.Annotations) > 0 {
		m.Annotations = make(map[string]string, len(opts.Annotations))
		for k, v := range opts.Annotations {
			m.Annotations[k] = v
		}
	}
	manifest, err = json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	return config, manifest, nil
}

// weightFormats names the config's format by weight file extension.
var weightFormats = map[string]string{
	".safetensors": "safetensors", ".gguf": "gguf", ".ggml": "ggml",
	".onnx": "onnx", ".onnx_data": "onnx", ".bin": "pt", ".pt": "pt",
	".pth": "pt", ".ckpt": "pt", ".h5": "h5", ".hdf5": "h5", ".keras": "keras",
	".npz": "npz", ".npy": "npy", ".msgpack": "flax", ".pkl": "pickle",
	".pickle": "pickle", ".joblib": "joblib", ".tflite": "tflite",
	".lite": "tflite", ".mlmodel": "coreml", ".pb": "tensorflow",
	".pdparams": "paddle", ".pdmodel": "paddle", ".nemo": "nemo",
	".engine": "tensorrt", ".plan": "tensorrt", ".trt": "tensorrt",
	".llamafile": "llamafile", ".dduf": "dduf", ".mar": "mar",
}

// describe fills cfg.Config (and the family) from the weight files and
// config.json.
func describe(entries []Entry, cfg *Config) error {
	bytesByFormat := map[string]int64{}
	for _, e := range entries {
		if e.Kind != KindWeight || e.Members != nil {
			continue
		}
		if f, ok := weightFormats[strings.ToLower(path.Ext(e.Path))]; ok {
			bytesByFormat[f] += e.Size
		}
	}
	format := ""
	for f, n := range bytesByFormat {
		if format == "" || n > bytesByFormat[format] || n == bytesByFormat[format] && f < format {
			format = f
		}
	}
	c := &cfg.Config
	c.Format = format

	var st tensorStats
	var gguf ggufInfo
	gguf.fileType = -1
	for _, e := range metadataFiles(entries, format) {
		switch format {
		case "safetensors":
			s, err := readHeader(e, func(r io.Reader) (tensorStats, error) { return readSafetensorsHeader(r, e.Size) })
			if err != nil {
				return err
			}
			st.merge(s)
		case "gguf":
			g, err := readHeader(e, readGGUFHeader)
			if err != nil {
				return err
			}
			st.merge(g.tensors)
			if gguf.arch == "" {
				gguf.arch = g.arch
			}
			if gguf.fileType < 0 {
				gguf.fileType = g.fileType
			}
		}
	}
	if st.params > 0 && !st.over {
		c.ParamSize = formatParamSize(st.params)
	}
	switch format {
	case "safetensors":
		c.Precision = precisionList(st.byType)
	case "gguf":
		if isIdent(strings.ToLower(gguf.arch)) {
			c.Architecture = gguf.arch
		}
		if p, ok := ggufPrecision[gguf.fileType]; ok {
			c.Precision = p
		} else if q, ok := ggufFileTypes[gguf.fileType]; ok {
			c.Quantization = q
		} else if gguf.fileType < 0 {
			c.Precision = precisionList(st.byType) // "" unless all tensors are unquantized
		}
	}

	// config.json at the root: Hugging Face transformers.
	i, found := slices.BinarySearchFunc(entries, "config.json", func(e Entry, p string) int { return cmp.Compare(e.Path, p) })
	if !found || entries[i].Source == "" {
		return nil
	}
	hc, err := readHeader(entries[i], readHFConfig)
	if err != nil {
		return err
	}
	if len(hc.Architectures) > 0 && isArchName(hc.Architectures[0]) {
		c.Architecture = hc.Architectures[0]
	} else if c.Architecture == "" && isIdent(hc.ModelType) {
		c.Architecture = hc.ModelType
	}
	if isIdent(hc.ModelType) {
		cfg.Descriptor.Family = hc.ModelType
	}
	if c.Precision == "" {
		c.Precision = hc.dtype()
	}
	if q := strings.ToLower(hc.QuantizationConfig.QuantMethod); c.Quantization == "" && isIdent(q) {
		c.Quantization = q
	}
	return nil
}

// ggufSplit matches the shards of a split GGUF model (llama.cpp's
// gguf-split names them <name>-00001-of-00003.gguf).
var ggufSplit = regexp.MustCompile(`-[0-9]{5}-of-[0-9]{5}\.gguf$`)

// metadataFiles are the weight files whose headers describe the model:
// every .safetensors file (shards, and the components of a diffusers
// pipeline, add up), and for GGUF the shards of a split model, or else the
// largest file alone (repositories often hold one GGUF per quantization of
// the same model, which must not add up).
func metadataFiles(entries []Entry, format string) []Entry {
	var files []Entry
	for _, e := range entries {
		if e.Kind == KindWeight && e.Members == nil && e.Source != "" &&
			strings.EqualFold(path.Ext(e.Path), "."+format) {
			files = append(files, e)
		}
	}
	if format != "gguf" || len(files) < 2 {
		return files
	}
	split := true
	for _, e := range files {
		split = split && ggufSplit.MatchString(strings.ToLower(e.Path))
	}
	if split {
		return files
	}
	largest := files[0]
	for _, e := range files[1:] {
		if e.Size > largest.Size {
			largest = e
		}
	}
	return []Entry{largest}
}

// readHeader opens e's file and runs parse on it. I/O errors are returned;
// format errors (errFormat) give the zero value, so that a file Build does
// not understand adds no metadata.
func readHeader[T any](e Entry, parse func(io.Reader) (T, error)) (T, error) {
	var zero T
	f, err := os.Open(e.Source)
	if err != nil {
		return zero, pathError(e.Path, err)
	}
	defer f.Close()
	v, err := parse(f)
	if errors.Is(err, errFormat) {
		return zero, nil
	}
	if err != nil {
		return zero, pathError(e.Path, err)
	}
	return v, nil
}

// precisionList joins the precisions of the spec's vocabulary, the one with
// the most parameters first (ties by name). It returns "" if any tensor
// type is outside the vocabulary (a quantized type).
func precisionList(byType map[string]uint64) string {
	names := make([]string, 0, len(byType))
	for t := range byType {
		if !specPrecisions[t] {
			return ""
		}
		names = append(names, t)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(byType[b], byType[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return strings.Join(names, ",")
}

// specPrecisions is the precision vocabulary of docs/config.md.
var specPrecisions = setOf(
	"float32", "float64", "float16", "bfloat16", "float8_e4m3", "float8_e5m2",
	"complex32", "complex64", "complex128", "int8", "int16", "int32", "int64",
	"uint8", "uint16", "uint32", "uint64", "bool",
)

// isArchName accepts class names such as LlamaForCausalLM.
func isArchName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
