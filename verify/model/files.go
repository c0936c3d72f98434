package model

import (
	_ "crypto/sha256" // digest algorithms Files accepts
	_ "crypto/sha512"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one file (or archive layer) a pulled manifest describes.
type File struct {
	// Path is the validated, slash-separated path relative to the
	// destination; "" for an archive layer, whose entries carry the paths.
	Path string
	// Desc is the layer descriptor, as in the manifest.
	Desc ocispec.Descriptor
	// Kind is the layer's kind (from the media type, or the path for plain
	// OCI artifacts); "" when the media type names no known kind.
	Kind Kind
	// Archive is true for tar and tar+gzip layers: extract them with
	// ExtractTar, which also decompresses gzip.
	Archive bool
	// Mode is 0644, or 0755 when the layer's file metadata has an execute
	// bit (archives: the entries carry their modes; Mode is 0644).
	Mode fs.FileMode
}

// flavor is the family of manifest Files recognised.
type flavor int

const (
	flavorModelPack flavor = iota // cncf or cnai names
	flavorKit                     // KitOps ModelKit
	flavorOCI                     // plain OCI artifact (oras push)
)

// Files parses an OCI image manifest and returns its files, in layer order,
// and its artifact type (artifactType, or the config media type when that
// is empty, as the image spec says).
//
// It accepts ModelPack manifests (ArtifactTypeModel, ArtifactTypeDataset,
// or the config media type MediaTypeConfig), the legacy vnd.cnai names,
// KitOps ModelKits (config MediaTypeKitConfig; every layer is an archive)
// and plain OCI artifacts whose layers carry org.opencontainers.image.title
// (what `oras push` makes; layers without a title are left out, as `oras
// pull` does, and directories pushed with io.deis.oras.content.unpack are
// archives).
//
// ModelPack raw layers are named by org.cncf.model.filepath (then
// org.cnai.model.filepath, then org.opencontainers.image.title). Every path
// must pass the checks of ExtractTar's entry names: Files refuses, with a
// *PathError naming the path, absolute paths, "..", "." and empty elements,
// backslashes, NUL and other control characters, paths under .cairn/,
// paths over MaxPathLen bytes, duplicates (letter case ignored, since the
// files would collide on macOS and Windows) and a file whose path is a
// directory of another. It refuses tar+zstd layers (ErrUnsupportedMediaType)
// and manifests with more than MaxFiles layers (ErrTooMany).
//
// Digests are checked for form (digest.Digest.Validate) but the blobs are
// not fetched: callers verify each layer as it streams.
func Files(manifest []byte) (artifactType string, files []File, err error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if m.SchemaVersion != 2 {
		return "", nil, fmt.Errorf("%w: schemaVersion %d", ErrInvalidManifest, m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != ocispec.MediaTypeImageManifest {
		return "", nil, fmt.Errorf("%w: media type %q is not an OCI image manifest", ErrInvalidManifest, m.MediaType)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return "", nil, fmt.Errorf("%w: config digest %q: %v", ErrInvalidManifest, m.Config.Digest, err)
	}
	if len(m.Layers) > MaxFiles {
		return "", nil, fmt.Errorf("%w: %d layers (at most %d)", ErrTooMany, len(m.Layers), MaxFiles)
	}
	artifactType = m.ArtifactType
	if artifactType == "" {
		artifactType = m.Config.MediaType
	}
	fl := flavorOCI
	switch {
	case m.Config.MediaType == MediaTypeKitConfig:
		fl = flavorKit
	case m.ArtifactType == ArtifactTypeModel, m.ArtifactType == ArtifactTypeDataset,
		m.ArtifactType == LegacyArtifactTypeModel,
		m.Config.MediaType == MediaTypeConfig, m.Config.MediaType == LegacyMediaTypeConfig:
		fl = flavorModelPack
	}

	seen := newPathSet()
	files = make([]File, 0, len(m.Layers))
	for i, l := range m.Layers {
		f, ok, err := layerFile(fl, l)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		if err := l.Digest.Validate(); err != nil {
			return "", nil, fmt.Errorf("%w: layer %d digest %q: %v", ErrInvalidManifest, i, l.Digest, err)
		}
		if l.Size < 0 {
			return "", nil, fmt.Errorf("%w: layer %d size %d", ErrInvalidManifest, i, l.Size)
		}
		if !f.Archive {
			if err := checkPath(f.Path); err != nil {
				return "", nil, err
			}
			if err := seen.add(f.Path); err != nil {
				return "", nil, err
			}
		}
		files = append(files, f)
	}
	return artifactType, files, nil
}

// layerFile turns one layer into a File; ok is false for layers a plain
// OCI artifact leaves unnamed.
func layerFile(fl flavor, l ocispec.Descriptor) (f File, ok bool, err error) {
	f = File{Desc: l, Mode: 0o644}
	title := l.Annotations[annotationOCITitle]
	unsupported := func() (File, bool, error) {
		name := firstNonEmpty(l.Annotations[AnnotationFilepath], l.Annotations[LegacyAnnotationFilepath], title, string(l.Digest))
		return File{}, false, pathError(name, fmt.Errorf("%w: %q", ErrUnsupportedMediaType, l.MediaType))
	}
	switch fl {
	case flavorKit:
		kind, format := parseKitMediaType(l.MediaType)
		if format != formatTar {
			return unsupported()
		}
		f.Kind, f.Archive = kind, true
		return f, true, nil

	case flavorModelPack:
		kind, format := parseModelPackMediaType(l.MediaType)
		switch format {
		case formatTar:
			f.Kind, f.Archive = kind, true
			return f, true, nil
		case formatRaw:
			f.Kind = kind
			f.Path = firstNonEmpty(l.Annotations[AnnotationFilepath], l.Annotations[LegacyAnnotationFilepath], title)
			if f.Path == "" {
				return File{}, false, pathError(string(l.Digest), fmt.Errorf("%w: raw layer without %s", ErrUnsafePath, AnnotationFilepath))
			}
			f.Mode = metadataMode(firstNonEmpty(l.Annotations[AnnotationFileMetadata], l.Annotations[LegacyAnnotationFileMetadata]))
			return f, true, nil
		}
		return unsupported()
	}

	// Plain OCI artifact.
	if title == "" {
		return File{}, false, nil
	}
	if l.Annotations[annotationORASUnpack] == "true" {
		if !strings.HasSuffix(l.MediaType, "tar+gzip") && !strings.HasSuffix(l.MediaType, ".tar") && !strings.HasSuffix(l.MediaType, "tar.gzip") {
			return unsupported()
		}
		f.Archive = true
		return f, true, nil
	}
	f.Path = title
	if pathProblem(title) == "" {
		f.Kind, _ = Classify(title)
	}
	return f, true, nil
}

// metadataMode reads the mode of AnnotationFileMetadata JSON: 0755 if it
// has an execute bit, else 0644 (also when the value does not parse).
func metadataMode(s string) fs.FileMode {
	if s == "" || len(s) > 64<<10 {
		return 0o644
	}
	var md struct {
		Mode uint32 `json:"mode"`
	}
	if json.Unmarshal([]byte(s), &md) != nil {
		return 0o644
	}
	return normMode(fs.FileMode(md.Mode))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
