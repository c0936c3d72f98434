package web

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
)

// Limits on what a page reads from the stores.
const (
	// maxConfigSize is the largest ModelPack config shown.
	maxConfigSize = 1 << 20
	// maxScansPerPage is how many files one version page scans that are
	// not cached yet; the rest are scanned on a later visit.
	maxScansPerPage = 32
	// maxParams is how many external parameters of a provenance are shown.
	maxParams = 50
	// maxValueLen is the longest parameter or annotation value shown whole.
	maxValueLen = 500
)

// scanSlots bounds the scans running at once across all requests.
var scanSlots = make(chan struct{}, 2)

// version is one manifest of a repository that is not a referrer, with
// its referrers.
type version struct {
	M    *storage.Manifest
	Tags []string
	// Size is the manifest and the blobs it references; set by sized.
	Size      int64
	Kind      string
	Referrers []*storage.Manifest
}

// sized sets Size (parsing the manifest, so only for versions shown).
func (v *version) sized() *version {
	v.Size = v.M.Size + registry.ContentSize(v.M.Content)
	return v
}

// signatures counts the bundle referrers by kind.
func (v *version) signatures() (sigs, atts int) {
	for _, r := range v.Referrers {
		if r.ArtifactType != attest.MediaTypeBundle {
			continue
		}
		if pt := r.Annotations[attest.AnnotationPredicateType]; pt == "" || pt == verify.PredicateCosignSign {
			sigs++
		} else {
			atts++
		}
	}
	return sigs, atts
}

// repoVersions reads a repository's manifests and tags: the versions
// (manifests that are not referrers) newest first, as the registry's
// versions endpoint orders them.
func (u *UI) repoVersions(ctx context.Context, repo string) ([]*version, error) {
	ms, err := u.cfg.Meta.RepositoryManifests(ctx, repo)
	if err != nil {
		return nil, err
	}
	tags, err := u.cfg.Meta.TagsByDigest(ctx, repo)
	if err != nil {
		return nil, err
	}
	byDigest := map[digest.Digest]*version{}
	var out []*version
	for _, m := range ms {
		if m.Subject != "" {
			continue
		}
		v := &version{M: m, Tags: tags[m.Digest], Kind: kindOf(m)}
		slices.Sort(v.Tags)
		byDigest[m.Digest] = v
		out = append(out, v)
	}
	for _, m := range ms {
		if v := byDigest[m.Subject]; m.Subject != "" && v != nil {
			v.Referrers = append(v.Referrers, m)
		}
	}
	slices.SortStableFunc(out, func(a, b *version) int {
		if c := b.M.Pushed.Compare(a.M.Pushed); c != 0 {
			return c
		}
		return strings.Compare(string(a.M.Digest), string(b.M.Digest))
	})
	return out, nil
}

// kindOf names what a manifest holds, for people.
func kindOf(m *storage.Manifest) string {
	switch m.ArtifactType {
	case model.ArtifactTypeModel, model.LegacyArtifactTypeModel, model.MediaTypeConfig, model.LegacyMediaTypeConfig:
		return "model"
	case model.ArtifactTypeDataset:
		return "dataset"
	case model.MediaTypeKitConfig:
		return "ModelKit"
	case attest.MediaTypeBundle:
		return "signature bundle"
	case ocispec.MediaTypeImageConfig:
		return "container image"
	}
	if m.MediaType == ocispec.MediaTypeImageIndex {
		return "index"
	}
	if m.ArtifactType == "" {
		return "artifact"
	}
	return m.ArtifactType
}

// summary is what the index page shows of a repository.
type summary struct {
	Name       string
	Versions   int
	Latest     *version
	Verdict    *verdict
	LastPushed time.Time
	at         time.Time
}

// summaryOf returns the cached summary of repo, or reads it.
func (u *UI) summaryOf(ctx context.Context, host, repo string) (*summary, error) {
	now := u.now()
	if s := u.summaries.get(repo, now); s != nil {
		return s, nil
	}
	vs, err := u.repoVersions(ctx, repo)
	if errors.Is(err, storage.ErrNameUnknown) {
		return nil, nil // deleted meanwhile
	}
	if err != nil {
		return nil, err
	}
	s := &summary{Name: repo, Versions: len(vs), at: now}
	if len(vs) > 0 {
		s.Latest = vs[0].sized()
		s.LastPushed = vs[0].M.Pushed
		// The summary keeps what the page shows, not the manifests' bodies.
		var q *storage.Quarantine
		if u.quar != nil {
			if q, err = u.quar.Quarantined(ctx, repo, vs[0].M.Digest); err != nil {
				return nil, err
			}
		}
		s.Verdict, err = u.verdictOf(ctx, host, repo, vs[0].M, vs[0].Referrers, q)
		if err != nil {
			return nil, err
		}
	}
	u.summaries.put(s)
	return s, nil
}

// statement is the part of an in-toto statement the page shows.
type statement struct {
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		BuildDefinition struct {
			BuildType            string                     `json:"buildType"`
			ExternalParameters   map[string]json.RawMessage `json:"externalParameters"`
			ResolvedDependencies []struct {
				URI  string `json:"uri"`
				Name string `json:"name"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	} `json:"predicate"`
}

// unverifiedStatement decodes the statement in a bundle's DSSE envelope
// without checking its signature; zero when it does not decode.
func unverifiedStatement(bundle []byte) statement {
	var b struct {
		DSSEEnvelope *struct {
			Payload string `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	var st statement
	if json.Unmarshal(bundle, &b) != nil || b.DSSEEnvelope == nil {
		return st
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return st
	}
	json.Unmarshal(payload, &st)
	return st
}

func (b *bundleView) fromStatement(st statement) {
	if st.PredicateType != verify.PredicateSLSAProvenance {
		return
	}
	bd := st.Predicate.BuildDefinition
	b.BuilderID = st.Predicate.RunDetails.Builder.ID
	b.BuildType = bd.BuildType
	b.Params = b.Params[:0]
	for k, raw := range bd.ExternalParameters {
		var compact bytes.Buffer
		if json.Compact(&compact, raw) != nil {
			continue
		}
		val := compact.String()
		var s string
		if json.Unmarshal(raw, &s) == nil {
			val = s
		}
		b.Params = append(b.Params, keyValue{Key: k, Value: clip(val)})
	}
	sort.Slice(b.Params, func(i, j int) bool { return b.Params[i].Key < b.Params[j].Key })
	if len(b.Params) > maxParams {
		b.Params = b.Params[:maxParams]
	}
	b.Deps = b.Deps[:0]
	for _, d := range bd.ResolvedDependencies {
		b.Deps = append(b.Deps, dependencyView{Role: clip(d.Name), URI: clip(d.URI)})
		if len(b.Deps) >= maxParams {
			break
		}
	}
}

// keyValue is one row of a table of names and values.
type keyValue struct {
	Key, Value string
}

// clip shortens a value for display.
func clip(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// readBlob reads a blob of at most limit bytes; nil when it is missing.
func (u *UI) readBlob(ctx context.Context, d digest.Digest, limit int64) ([]byte, error) {
	rc, err := u.cfg.Blobs.Open(ctx, d)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if int64(len(b)) > limit {
		return nil, nil
	}
	return b, nil
}

// modelConfig reads a ModelPack config's descriptor and config sections
// as rows of names and values, keeping every field a producer wrote.
func (u *UI) modelConfig(ctx context.Context, desc ocispec.Descriptor) (rows []keyValue, note string, err error) {
	if desc.MediaType != model.MediaTypeConfig && desc.MediaType != model.LegacyMediaTypeConfig {
		return nil, "", nil
	}
	if desc.Size > maxConfigSize {
		return nil, fmt.Sprintf("The config (%s) is too large to show here.", humanSize(desc.Size)), nil
	}
	b, err := u.readBlob(ctx, desc.Digest, maxConfigSize)
	if err != nil {
		return nil, "", err
	}
	if b == nil {
		return nil, "The config blob is not in the store.", nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, "The config is not valid JSON.", nil
	}
	for _, section := range []string{"descriptor", "config"} {
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw[section], &fields) != nil {
			continue
		}
		for k, v := range fields {
			val := string(v)
			var s string
			if json.Unmarshal(v, &s) == nil {
				val = s
			} else {
				var compact bytes.Buffer
				if json.Compact(&compact, v) == nil {
					val = compact.String()
				}
			}
			rows = append(rows, keyValue{Key: section + "." + k, Value: clip(val)})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows, "", nil
}

// scanResult is a scan of one blob.
type scanResult struct {
	Report scan.Report
	// Err is set when the blob could not be read or parsed at all.
	Err string
}

// scanBlob scans a file's blob, caching the report by digest. budget
// counts the scans this page may still start; ok is false when the file
// was not scanned (too large, budget spent).
func (u *UI) scanBlob(ctx context.Context, f model.File, budget *int) (*scanResult, string) {
	if u.cfg.ScanMaxSize < 0 {
		return nil, "not scanned: scanning is off"
	}
	if f.Archive {
		return nil, "archive layer: run cairn scan on the pulled files"
	}
	if r, ok := u.scans.get(string(f.Desc.Digest)); ok {
		return r, ""
	}
	if *budget <= 0 {
		return nil, "not scanned yet: reload the page"
	}
	*budget--
	select {
	case scanSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, "not scanned: the request ended"
	}
	defer func() { <-scanSlots }()
	res := &scanResult{}
	rc, err := u.cfg.Blobs.Open(ctx, f.Desc.Digest)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return nil, "not scanned: the blob is not in the store"
	}
	if err != nil {
		u.log.Warn("web: scan: open blob", "digest", f.Desc.Digest, "err", err)
		return nil, "not scanned: the blob could not be read"
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		ra = &seekReaderAt{r: rc}
	}
	// Safetensors and GGUF files are scanned whatever their size: the
	// scanner reads their headers only.
	if f.Desc.Size > u.cfg.ScanMaxSize && !headerOnly(ra) {
		return nil, fmt.Sprintf("not scanned: larger than %s; run cairn scan on the pulled file", humanSize(u.cfg.ScanMaxSize))
	}
	rep, err := scan.Reader(ra, f.Desc.Size, f.Path)
	if err != nil {
		u.log.Warn("web: scan", "digest", f.Desc.Digest, "err", err)
		return nil, "not scanned: the blob could not be read"
	}
	res.Report = rep
	u.scans.put(string(f.Desc.Digest), res)
	return res, ""
}

// headerOnly reports whether r starts like a safetensors file (a
// little-endian header length within the scanner's limit, then '{') or a
// GGUF file: formats whose scan reads the header and not the tensors.
func headerOnly(r io.ReaderAt) bool {
	var b [9]byte
	if n, _ := r.ReadAt(b[:], 0); n < len(b) {
		return false
	}
	if string(b[:4]) == "GGUF" {
		return true
	}
	n := binary.LittleEndian.Uint64(b[:8])
	return n > 1 && n <= scan.MaxSafetensorsHeader && b[8] == '{'
}

// seekReaderAt reads at offsets through Seek and Read, one call at a time.
type seekReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(s.r, p)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return n, err
}
