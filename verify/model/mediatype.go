package model

import "strings"

// Artifact and config types of ModelPack v1 (modelpack/model-spec
// specs-go/v1/mediatype.go).
const (
	// ArtifactTypeModel is the manifest artifactType of a ModelPack model.
	ArtifactTypeModel = "application/vnd.cncf.model.manifest.v1+json"
	// MediaTypeConfig is the media type of the ModelPack config blob.
	MediaTypeConfig = "application/vnd.cncf.model.config.v1+json"
	// ArtifactTypeDataset is cairn's own artifactType for datasets. A dataset
	// is laid out exactly like a model (same config media type, same layer
	// media types and annotations) but every layer has kind dataset, and
	// small files may be grouped into MediaTypeDatasetTar layers.
	ArtifactTypeDataset = "application/vnd.cairn.dataset.manifest.v1+json"
)

// Layer media types of ModelPack v1. Build writes only the .raw types and
// MediaTypeDatasetTar; Files reads all of them except +zstd.
const (
	// MediaTypeWeightRaw is a weights file, as is (one file, uncompressed).
	MediaTypeWeightRaw = "application/vnd.cncf.model.weight.v1.raw"
	// MediaTypeWeightTar is a tar of weights files.
	MediaTypeWeightTar = "application/vnd.cncf.model.weight.v1.tar"
	// MediaTypeWeightTarGzip is a gzip-compressed tar of weights files.
	MediaTypeWeightTarGzip = "application/vnd.cncf.model.weight.v1.tar+gzip"
	// MediaTypeWeightTarZstd is a zstd-compressed tar of weights files; Files refuses it.
	MediaTypeWeightTarZstd = "application/vnd.cncf.model.weight.v1.tar+zstd"
	// MediaTypeWeightConfigRaw is weight configuration (config.json, tokenizer files), as is (one file, uncompressed).
	MediaTypeWeightConfigRaw = "application/vnd.cncf.model.weight.config.v1.raw"
	// MediaTypeWeightConfigTar is a tar of weight configuration (config.json, tokenizer files).
	MediaTypeWeightConfigTar = "application/vnd.cncf.model.weight.config.v1.tar"
	// MediaTypeWeightConfigTarGzip is a gzip-compressed tar of weight configuration (config.json, tokenizer files).
	MediaTypeWeightConfigTarGzip = "application/vnd.cncf.model.weight.config.v1.tar+gzip"
	// MediaTypeWeightConfigTarZstd is a zstd-compressed tar of weight configuration (config.json, tokenizer files); Files refuses it.
	MediaTypeWeightConfigTarZstd = "application/vnd.cncf.model.weight.config.v1.tar+zstd"
	// MediaTypeDocRaw is a documentation file, as is (one file, uncompressed).
	MediaTypeDocRaw = "application/vnd.cncf.model.doc.v1.raw"
	// MediaTypeDocTar is a tar of documentation files.
	MediaTypeDocTar = "application/vnd.cncf.model.doc.v1.tar"
	// MediaTypeDocTarGzip is a gzip-compressed tar of documentation files.
	MediaTypeDocTarGzip = "application/vnd.cncf.model.doc.v1.tar+gzip"
	// MediaTypeDocTarZstd is a zstd-compressed tar of documentation files; Files refuses it.
	MediaTypeDocTarZstd = "application/vnd.cncf.model.doc.v1.tar+zstd"
	// MediaTypeCodeRaw is a code file, as is (one file, uncompressed).
	MediaTypeCodeRaw = "application/vnd.cncf.model.code.v1.raw"
	// MediaTypeCodeTar is a tar of code files.
	MediaTypeCodeTar = "application/vnd.cncf.model.code.v1.tar"
	// MediaTypeCodeTarGzip is a gzip-compressed tar of code files.
	MediaTypeCodeTarGzip = "application/vnd.cncf.model.code.v1.tar+gzip"
	// MediaTypeCodeTarZstd is a zstd-compressed tar of code files; Files refuses it.
	MediaTypeCodeTarZstd = "application/vnd.cncf.model.code.v1.tar+zstd"
	// MediaTypeDatasetRaw is a dataset file, as is (one file, uncompressed).
	MediaTypeDatasetRaw = "application/vnd.cncf.model.dataset.v1.raw"
	// MediaTypeDatasetTar is a tar of dataset files.
	MediaTypeDatasetTar = "application/vnd.cncf.model.dataset.v1.tar"
	// MediaTypeDatasetTarGzip is a gzip-compressed tar of dataset files.
	MediaTypeDatasetTarGzip = "application/vnd.cncf.model.dataset.v1.tar+gzip"
	// MediaTypeDatasetTarZstd is a zstd-compressed tar of dataset files; Files refuses it.
	MediaTypeDatasetTarZstd = "application/vnd.cncf.model.dataset.v1.tar+zstd"
)

// Layer annotation keys of ModelPack v1 (docs/annotations.md).
const (
	// AnnotationFilepath is the slash-separated path of a layer's file,
	// relative to the model root.
	AnnotationFilepath = "org.cncf.model.filepath"
	// AnnotationFileMetadata holds the JSON FileMetadata of a layer's file.
	AnnotationFileMetadata = "org.cncf.model.file.metadata+json"
	// AnnotationMediaTypeUntested is "true" when a layer's kind was guessed
	// (Build sets it on files whose name matched no rule of Scan).
	AnnotationMediaTypeUntested = "org.cncf.model.file.mediatype.untested"
)

// Names used by ModelPack before it moved to the CNCF (vnd.cnai, org.cnai).
// Files reads them; Build never writes them.
const (
	// LegacyArtifactTypeModel is the former ArtifactTypeModel.
	LegacyArtifactTypeModel = "application/vnd.cnai.model.manifest.v1+json"
	// LegacyMediaTypeConfig is the former MediaTypeConfig.
	LegacyMediaTypeConfig = "application/vnd.cnai.model.config.v1+json"
	// LegacyAnnotationFilepath is the former AnnotationFilepath.
	LegacyAnnotationFilepath = "org.cnai.model.filepath"
	// LegacyAnnotationFileMetadata is the former AnnotationFileMetadata.
	LegacyAnnotationFileMetadata = "org.cnai.model.file.metadata+json"
	legacyMediaTypePrefix        = "application/vnd.cnai.model."
	mediaTypePrefix              = "application/vnd.cncf.model."
)

// KitOps ModelKit names (kitops-ml/kitops pkg/lib/constants/mediaType.go).
// Every ModelKit layer is a tar (optionally gzip-compressed) of paths
// relative to the Kitfile's directory.
const (
	// MediaTypeKitConfig is the media type of a ModelKit's config, the
	// Kitfile as JSON.
	MediaTypeKitConfig   = "application/vnd.kitops.modelkit.config.v1+json"
	kitMediaTypePrefix   = "application/vnd.kitops.modelkit."
	annotationOCITitle   = "org.opencontainers.image.title"
	annotationORASUnpack = "io.deis.oras.content.unpack"
)

// Kind says what a file is for; it selects the layer media type.
type Kind string

// Kinds of ModelPack layers.
const (
	// KindWeight is a weights file (.safetensors, .gguf, .bin...).
	KindWeight Kind = "weight"
	// KindWeightConfig is a configuration of the weights (config.json,
	// tokenizer files) and, in cairn, any file no rule classifies.
	KindWeightConfig Kind = "weight.config"
	// KindDoc is documentation (README, LICENSE, *.md).
	KindDoc Kind = "doc"
	// KindCode is code (scripts, notebooks, sources).
	KindCode Kind = "code"
	// KindDataset is a dataset file; every file of a dataset has it.
	KindDataset Kind = "dataset"
)

func (k Kind) valid() bool {
	switch k {
	case KindWeight, KindWeightConfig, KindDoc, KindCode, KindDataset:
		return true
	}
	return false
}

// rawMediaType is the media type of an uncompressed single-file layer.
func (k Kind) rawMediaType() string { return mediaTypePrefix + string(k) + ".v1.raw" }

// layerFormat is how a layer's bytes become files.
type layerFormat int

const (
	formatUnknown layerFormat = iota
	formatRaw                 // the bytes are one file
	formatTar                 // a tar, possibly gzip-compressed
	formatZstd                // a tar+zstd: not supported (no zstd in the standard library)
)

// parseModelPackMediaType splits a ModelPack layer media type (current or
// legacy prefix) into kind and format. Unknown kinds with a .raw suffix
// (such as the legacy "unknown" kind) come back with kind "" and formatRaw.
func parseModelPackMediaType(mt string) (Kind, layerFormat) {
	rest, ok := strings.CutPrefix(mt, mediaTypePrefix)
	if !ok {
		if rest, ok = strings.CutPrefix(mt, legacyMediaTypePrefix); !ok {
			return "", formatUnknown
		}
	}
	var f layerFormat
	var kind string
	switch {
	case strings.HasSuffix(rest, ".v1.raw"):
		kind, f = strings.TrimSuffix(rest, ".v1.raw"), formatRaw
	case strings.HasSuffix(rest, ".v1.tar"):
		kind, f = strings.TrimSuffix(rest, ".v1.tar"), formatTar
	case strings.HasSuffix(rest, ".v1.tar+gzip"):
		kind, f = strings.TrimSuffix(rest, ".v1.tar+gzip"), formatTar
	case strings.HasSuffix(rest, ".v1.tar+zstd"):
		kind, f = strings.TrimSuffix(rest, ".v1.tar+zstd"), formatZstd
	default:
		return "", formatUnknown
	}
	if k := Kind(kind); k.valid() {
		return k, f
	}
	if f == formatRaw {
		return "", formatRaw
	}
	return "", formatUnknown
}

// parseKitMediaType maps a ModelKit layer media type to a kind and format.
func parseKitMediaType(mt string) (Kind, layerFormat) {
	rest, ok := strings.CutPrefix(mt, kitMediaTypePrefix)
	if !ok {
		return "", formatUnknown
	}
	base, comp, _ := strings.Cut(rest, ".v1.tar")
	var kind Kind
	switch base {
	case "model", "modelpart":
		kind = KindWeight
	case "dataset":
		kind = KindDataset
	case "code":
		kind = KindCode
	case "docs":
		kind = KindDoc
	default:
		return "", formatUnknown
	}
	if !strings.HasPrefix(rest, base+".v1.tar") {
		return "", formatUnknown
	}
	switch comp {
	case "", "+gzip":
		return kind, formatTar
	case "+zstd":
		return kind, formatZstd
	}
	return "", formatUnknown
}
