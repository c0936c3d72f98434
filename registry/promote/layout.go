package promote

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Limits on an OCI layout tar read by ReadLayout: the file comes from
// elsewhere (another network, a removable disk) and is untrusted.
const (
	// MaxLayoutEntries is the most tar entries (blobs, index.json,
	// oci-layout, directories).
	MaxLayoutEntries = 100000
	// MaxLayoutIndexSize bounds index.json.
	MaxLayoutIndexSize = 4 << 20
	// MaxLayoutManifests is the most manifests index.json lists.
	MaxLayoutManifests = 10000
	// MaxLayoutManifestSize bounds one manifest (the registry's limit).
	MaxLayoutManifestSize = 4 << 20
	// MaxLayoutBlobSize bounds one blob.
	MaxLayoutBlobSize = 1 << 40
)

// Annotations cairn writes on the index.json entries of an exported
// layout. The transparency evidence of a version is two blobs of the
// layout named by digest: the log's signed checkpoint and the inclusion
// proof (tlogproof.Evidence.MarshalInclusion) of the leaf that moved the
// tag to the version.
const (
	// AnnotationSource names the version's source reference
	// (HOST/REPO:TAG or HOST/REPO@DIGEST); the entries of referrers have
	// none.
	AnnotationSource = "dev.cairn.source"
	// AnnotationCheckpoint is the digest of the checkpoint blob.
	AnnotationCheckpoint = "dev.cairn.transparency.checkpoint"
	// AnnotationInclusion is the digest of the inclusion proof blob.
	AnnotationInclusion = "dev.cairn.transparency.inclusion"
)

// Layout is an OCI image layout read from a tar by ReadLayout: every blob
// was checked against its digest while the tar was read, and every
// manifest index.json lists is present and parsed. It is a read-only
// oras-go graph storage (Fetch, Exists, Predecessors) and a referrers
// lister over the manifests index.json lists.
type Layout struct {
	// Index is index.json.
	Index ocispec.Index
	r     io.ReaderAt
	blobs map[digest.Digest]section
	// referrers maps a subject to the manifests naming it.
	referrers map[digest.Digest][]ocispec.Descriptor
}

type section struct{ off, size int64 }

// countingReader counts the bytes read, so the offset of each tar entry's
// data is known (archive/tar reads whole blocks and never ahead).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ReadLayout reads an OCI image layout tar of size bytes from r. Only
// oci-layout, index.json, blobs/, blobs/sha256/ and blobs/sha256/<hex>
// are accepted (any other name, a link, a duplicate or a path that leaves
// the layout is refused); every blob is hashed and must match its name;
// index.json must list only manifests present in the layout, each
// parsed, and every blob a manifest names (config, layers, subject) must
// be present. A refusal wraps ErrLayout (itself a verify.ErrVerification).
func ReadLayout(r io.ReaderAt, size int64) (*Layout, error) {
	cr := &countingReader{r: io.NewSectionReader(r, 0, size)}
	tr := tar.NewReader(cr)
	l := &Layout{r: r, blobs: map[digest.Digest]section{}, referrers: map[digest.Digest][]ocispec.Descriptor{}}
	var index []byte
	seen := map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: tar: %w", ErrLayout, err)
		}
		if n >= MaxLayoutEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrLayout, MaxLayoutEntries)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if seen[strings.TrimSuffix(name, "/")] {
			return nil, fmt.Errorf("%w: %q twice", ErrLayout, h.Name)
		}
		seen[strings.TrimSuffix(name, "/")] = true
		switch h.Typeflag {
		case tar.TypeDir:
			if d := strings.TrimSuffix(name, "/"); d != "blobs" && d != "blobs/sha256" {
				return nil, fmt.Errorf("%w: unexpected directory %q", ErrLayout, h.Name)
			}
			continue
		case tar.TypeReg:
		default:
			return nil, fmt.Errorf("%w: %q is not a regular file (type %q)", ErrLayout, h.Name, h.Typeflag)
		}
		if h.Size < 0 || h.Size > MaxLayoutBlobSize {
			return nil, fmt.Errorf("%w: %q: %d bytes, more than %d", ErrLayout, h.Name, h.Size, MaxLayoutBlobSize)
		}
		switch {
		case name == ocispec.ImageLayoutFile:
			b, err := io.ReadAll(io.LimitReader(tr, 1<<10))
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrLayout, name, err)
			}
			var lf ocispec.ImageLayout
			if json.Unmarshal(b, &lf) != nil || lf.Version != ocispec.ImageLayoutVersion {
				return nil, fmt.Errorf("%w: %s: not an OCI layout version %s", ErrLayout, name, ocispec.ImageLayoutVersion)
			}
		case name == ocispec.ImageIndexFile:
			if h.Size > MaxLayoutIndexSize {
				return nil, fmt.Errorf("%w: index.json of %d bytes, more than %d", ErrLayout, h.Size, MaxLayoutIndexSize)
			}
			if index, err = io.ReadAll(tr); err != nil {
				return nil, fmt.Errorf("%w: index.json: %w", ErrLayout, err)
			}
		case strings.HasPrefix(name, "blobs/sha256/"):
			d := digest.NewDigestFromEncoded(digest.SHA256, strings.TrimPrefix(name, "blobs/sha256/"))
			if d.Validate() != nil {
				return nil, fmt.Errorf("%w: %q is not a blob name", ErrLayout, h.Name)
			}
			off := cr.n
			v := d.Verifier()
			if _, err := io.Copy(v, tr); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrLayout, name, err)
			}
			if !v.Verified() {
				return nil, fmt.Errorf("%w: %s: %w", ErrLayout, name, content.ErrMismatchedDigest)
			}
			l.blobs[d] = section{off: off, size: h.Size}
		default:
			return nil, fmt.Errorf("%w: unexpected file %q", ErrLayout, h.Name)
		}
	}
	if !seen[ocispec.ImageLayoutFile] || index == nil {
		return nil, fmt.Errorf("%w: no %s or %s", ErrLayout, ocispec.ImageLayoutFile, ocispec.ImageIndexFile)
	}
	if err := json.Unmarshal(index, &l.Index); err != nil {
		return nil, fmt.Errorf("%w: index.json: %w", ErrLayout, err)
	}
	if len(l.Index.Manifests) > MaxLayoutManifests {
		return nil, fmt.Errorf("%w: index.json lists %d manifests, more than %d", ErrLayout, len(l.Index.Manifests), MaxLayoutManifests)
	}
	for _, m := range l.Index.Manifests {
		if err := l.checkManifest(m); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// checkManifest checks that a manifest index.json lists is present with
// everything it names, and records its subject.
func (l *Layout) checkManifest(desc ocispec.Descriptor) error {
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return fmt.Errorf("%w: index.json lists %s of media type %q: only image manifests are carried", ErrLayout, desc.Digest, desc.MediaType)
	}
	if desc.Size > MaxLayoutManifestSize {
		return fmt.Errorf("%w: manifest %s of %d bytes, more than %d", ErrLayout, desc.Digest, desc.Size, MaxLayoutManifestSize)
	}
	b, err := l.readAll(desc)
	if err != nil {
		return fmt.Errorf("%w: index.json lists manifest %s: %w", ErrLayout, desc.Digest, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: manifest %s: %w", ErrLayout, desc.Digest, err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		if s, ok := l.blobs[d.Digest]; !ok || s.size != d.Size {
			return fmt.Errorf("%w: manifest %s names %s (%d bytes), which the layout does not hold", ErrLayout, desc.Digest, d.Digest, d.Size)
		}
	}
	if m.Subject != nil {
		if s, ok := l.blobs[m.Subject.Digest]; !ok || s.size != m.Subject.Size {
			return fmt.Errorf("%w: referrer %s names subject %s, which the layout does not hold", ErrLayout, desc.Digest, m.Subject.Digest)
		}
		r := desc
		r.ArtifactType = m.ArtifactType
		if r.ArtifactType == "" {
			r.ArtifactType = m.Config.MediaType
		}
		r.Annotations = m.Annotations
		l.referrers[m.Subject.Digest] = append(l.referrers[m.Subject.Digest], r)
	}
	return nil
}

func (l *Layout) readAll(desc ocispec.Descriptor) ([]byte, error) {
	rc, err := l.Fetch(context.Background(), desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, desc)
}

// Fetch returns a blob of the layout (checked when the tar was read).
func (l *Layout) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	s, ok := l.blobs[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	if s.size != desc.Size {
		return nil, fmt.Errorf("%s: %d bytes, the descriptor says %d: %w", desc.Digest, s.size, desc.Size, content.ErrMismatchedDigest)
	}
	return io.NopCloser(io.NewSectionReader(l.r, s.off, s.size)), nil
}

// Exists reports whether the layout holds desc.
func (l *Layout) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	s, ok := l.blobs[desc.Digest]
	return ok && s.size == desc.Size, nil
}

// Predecessors returns the manifests of the layout whose subject is desc.
func (l *Layout) Predecessors(_ context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return l.referrers[desc.Digest], nil
}

// Referrers lists the referrers of desc the layout holds, of
// artifactType if it is not empty.
func (l *Layout) Referrers(_ context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	var out []ocispec.Descriptor
	for _, r := range l.referrers[desc.Digest] {
		if artifactType == "" || r.ArtifactType == artifactType {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return fn(out)
}

var _ content.ReadOnlyGraphStorage = (*Layout)(nil)
