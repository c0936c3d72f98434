package promote

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/agent"
)

// ExportOptions configure Export. The zero value exports without checks.
type ExportOptions struct {
	// Agent, when set, checks every version at the source as Copy's gate
	// does before anything is written; a rule that requires the
	// transparency log also makes its proof part of the file.
	Agent *agent.Agent
	// Concurrency is how many blobs are fetched at once; zero means 3.
	Concurrency int
}

// ExportResult is what Export wrote.
type ExportResult struct {
	// Versions are the index.json entries of the versions exported.
	Versions []ocispec.Descriptor `json:"versions"`
	// Receipts record the checks of each version (with an Agent).
	Receipts []*agent.Receipt `json:"receipts,omitempty"`
	// Referrers counts the referrer manifests, Blobs every blob written
	// (manifests included) and Bytes their size.
	Referrers int   `json:"referrers"`
	Blobs     int   `json:"blobs"`
	Bytes     int64 `json:"bytes"`
}

// Export writes the versions srcs name, with every referrer, to w as one
// OCI image layout in a tar: oci-layout, blobs/sha256/<hex> for every
// blob (each once, streamed from the registry and checked against its
// digest as it is written: nothing is stored on the local disk), and,
// last, index.json. index.json lists every manifest: each version with
// AnnotationSource (its reference) and the org.opencontainers.image.ref.name
// annotation TAG (what oras and skopeo name it by; a tag already used by an
// earlier version of the file, or a version named by digest, has none:
// reach it by digest), then its referrers, which have neither. When the agent's rule for a version requires the transparency
// log, its checkpoint and inclusion proof are blobs of the layout named by
// the version's AnnotationCheckpoint and AnnotationInclusion. The layout
// is readable by oras (--oci-layout) and skopeo (oci-archive:).
//
// On an error w holds a partial tar: write to a temporary file and rename
// it on success.
func Export(ctx context.Context, w io.Writer, srcs []*client.Repository, o ExportOptions) (*ExportResult, error) {
	res := &ExportResult{}
	type version struct {
		src  *client.Repository
		desc ocispec.Descriptor
		ann  map[string]string
		ev   [][]byte // checkpoint, inclusion proof
	}
	// Every version is checked before a byte is written.
	var versions []version
	tags := map[string]bool{}
	for _, src := range srcs {
		v := version{src: src}
		if o.Agent != nil {
			rc := &agent.Receipt{}
			res.Receipts = append(res.Receipts, rc)
			t, err := client.LoadTarget(ctx, src)
			if err != nil {
				return res, err
			}
			if err := client.AddTransparency(ctx, src, t, o.Agent, rc); err != nil {
				return res, err
			}
			if _, err := o.Agent.CheckMetadata(t, rc); err != nil {
				return res, err
			}
			rc.Verified = true
			v.desc = t.Desc
			if t.Transparency != nil {
				v.ev = [][]byte{t.Transparency.Checkpoint, t.Transparency.MarshalInclusion()}
			}
		} else {
			desc, err := src.Repo.Resolve(ctx, src.Repo.Reference.Reference)
			if err != nil {
				return res, fmt.Errorf("%s: %w", src.Repo.Reference, err)
			}
			v.desc = desc
		}
		ref := src.Repo.Reference
		v.ann = map[string]string{AnnotationSource: ref.String()}
		if tag := ref.Reference; !src.ByDigest() && !tags[tag] {
			tags[tag] = true
			v.ann[ocispec.AnnotationRefName] = tag
		}
		versions = append(versions, v)
	}

	tw := &tarStore{tw: tar.NewWriter(w), have: map[digest.Digest]bool{}}
	if err := tw.file(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return res, err
	}
	index := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex}
	listed := map[digest.Digest]bool{}
	for _, v := range versions {
		for i, b := range v.ev {
			d := content.NewDescriptorFromBytes("application/octet-stream", b)
			if err := tw.Push(ctx, d, bytesReader(b)); err != nil {
				return res, err
			}
			v.ann[[]string{AnnotationCheckpoint, AnnotationInclusion}[i]] = d.Digest.String()
		}
		g := &graph{repo: v.src.Repo}
		opts := oras.ExtendedCopyGraphOptions{Depth: MaxReferrerDepth, FindPredecessors: g.predecessors}
		opts.Concurrency = o.Concurrency
		if err := oras.ExtendedCopyGraph(ctx, g, tw, v.desc, opts); err != nil {
			return res, fmt.Errorf("export %s: %w", v.src.Repo.Reference, verifyErr(err))
		}
		entry := ocispec.Descriptor{MediaType: v.desc.MediaType, Digest: v.desc.Digest, Size: v.desc.Size, Annotations: v.ann}
		index.Manifests = append(index.Manifests, entry)
		res.Versions = append(res.Versions, entry)
		// A referrer already in the file (of an earlier version) was not
		// copied again, but it is listed once.
		for _, d := range g.listed() {
			if !listed[d.Digest] && d.MediaType == ocispec.MediaTypeImageManifest {
				listed[d.Digest] = true
				index.Manifests = append(index.Manifests, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType})
				res.Referrers++
			}
		}
	}
	b, err := json.Marshal(index)
	if err != nil {
		return res, err
	}
	if err := tw.file(ocispec.ImageIndexFile, b); err != nil {
		return res, err
	}
	res.Blobs, res.Bytes = tw.blobs, tw.bytes
	return res, tw.tw.Close()
}

// tarStore is the destination of an export: each blob pushed becomes the
// tar entry blobs/sha256/<hex>, written as it streams and checked against
// its descriptor (a mismatch fails the export).
type tarStore struct {
	mu    sync.Mutex
	tw    *tar.Writer
	have  map[digest.Digest]bool
	blobs int
	bytes int64
}

var epoch = time.Unix(0, 0)

func (s *tarStore) file(name string, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(b)), Mode: 0o644, ModTime: epoch}); err != nil {
		return err
	}
	_, err := s.tw.Write(b)
	return err
}

func (s *tarStore) Push(_ context.Context, desc ocispec.Descriptor, r io.Reader) error {
	if err := desc.Digest.Validate(); err != nil || desc.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%s: only sha256 blobs are exported: %w", desc.Digest, errdef.ErrUnsupported)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.have[desc.Digest] {
		return fmt.Errorf("%s: %w", desc.Digest, errdef.ErrAlreadyExists)
	}
	if err := s.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "blobs/sha256/" + desc.Digest.Encoded(), Size: desc.Size, Mode: 0o444, ModTime: epoch}); err != nil {
		return err
	}
	vr := content.NewVerifyReader(r, desc)
	if _, err := io.Copy(s.tw, vr); err != nil {
		return err
	}
	if err := vr.Verify(); err != nil {
		return fmt.Errorf("%s: %w", desc.Digest, err)
	}
	s.have[desc.Digest] = true
	s.blobs++
	s.bytes += desc.Size
	return nil
}

func (s *tarStore) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.have[desc.Digest], nil
}

func (s *tarStore) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	return nil, fmt.Errorf("%s: an export is written, not read: %w", desc.Digest, errdef.ErrUnsupported)
}

var _ content.Storage = (*tarStore)(nil)

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
