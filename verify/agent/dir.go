package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/bundle"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/tlogproof"
)

// The names of a pulled directory's record (see the package
// documentation).
const (
	// MetaDir is the directory, under a pulled model's root, that holds
	// the record.
	MetaDir        = ".cairn"
	recordFile     = "pull.json"
	manifestFile   = "manifest.json"
	configFile     = "config.json"
	referrersFile  = "referrers.json"
	referrersDir   = "referrers"
	ReceiptFile    = "receipt.json"
	checkpointFile = "checkpoint"
	inclusionFile  = "inclusion.json"
	stagingPattern = "staging-*"
)

// Limits on what a directory's record may hold; the record is read before
// anything in it is trusted.
const (
	// MaxManifestSize bounds .cairn/manifest.json, as the registry bounds
	// manifests.
	MaxManifestSize = 4 << 20
	// MaxConfigSize bounds .cairn/config.json.
	MaxConfigSize = 4 << 20
	// MaxRecordSize bounds .cairn/pull.json and .cairn/referrers.json.
	MaxRecordSize = 1 << 20
	// MaxRecordedReferrers bounds the referrers a pull records.
	MaxRecordedReferrers = bundle.MaxCount
	// MaxReferrerBlobSize bounds one referrer manifest or layer recorded.
	MaxReferrerBlobSize = bundle.MaxSize
)

// Record is .cairn/pull.json: what a pull fetched. It is a cache for
// display, never an authority: no check reads it.
type Record struct {
	Reference  string        `json:"reference"`
	Registry   string        `json:"registry"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Pulled     time.Time     `json:"pulled"`
	// Files are the paths written, members of archive layers included.
	Files []string `json:"files"`
	// Include are the --include globs of a partial pull.
	Include []string `json:"include,omitempty"`
	Partial bool     `json:"partial,omitempty"`
}

// DirRecord is what a pull writes to DIR/.cairn.
type DirRecord struct {
	Pull     Record
	Manifest []byte
	Config   []byte
	// Referrers are the descriptors of the manifest's referrers.
	Referrers []ocispec.Descriptor
	// Blobs are the referrer manifests and their small layers, by digest.
	Blobs map[digest.Digest][]byte
	// Transparency, when set, is the transparency log's proof of what the
	// reference meant (.cairn/checkpoint and .cairn/inclusion.json).
	Transparency *tlogproof.Evidence
}

// WriteRecord writes r to dir/.cairn, each file by a temporary file and a
// rename.
func WriteRecord(dir string, r *DirRecord) error {
	meta := filepath.Join(dir, MetaDir)
	if err := os.MkdirAll(filepath.Join(meta, referrersDir), 0o755); err != nil {
		return err
	}
	write := func(name string, b []byte) error {
		p := filepath.Join(meta, filepath.FromSlash(name))
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, p)
	}
	if err := write(manifestFile, r.Manifest); err != nil {
		return err
	}
	if err := write(configFile, r.Config); err != nil {
		return err
	}
	refs := r.Referrers
	if refs == nil {
		refs = []ocispec.Descriptor{}
	}
	for _, d := range refs {
		b, ok := r.Blobs[d.Digest]
		if !ok {
			continue
		}
		if err := write(referrersDir+"/"+d.Digest.Encoded()+".json", b); err != nil {
			return err
		}
		var m ocispec.Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		for _, l := range m.Layers {
			if lb, ok := r.Blobs[l.Digest]; ok && l.Digest.Validate() == nil {
				if err := write(referrersDir+"/"+l.Digest.Encoded(), lb); err != nil {
					return err
				}
			}
		}
	}
	idx, _ := json.MarshalIndent(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: refs}, "", "  ")
	if err := write(referrersFile, idx); err != nil {
		return err
	}
	if r.Transparency != nil {
		if err := write(checkpointFile, r.Transparency.Checkpoint); err != nil {
			return err
		}
		if err := write(inclusionFile, r.Transparency.MarshalInclusion()); err != nil {
			return err
		}
	} else {
		// A proof of what an earlier pull meant proves nothing now.
		for _, name := range []string{checkpointFile, inclusionFile} {
			if err := os.Remove(filepath.Join(meta, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	rb, _ := json.MarshalIndent(r.Pull, "", "  ")
	return write(recordFile, rb)
}

// RemoveStaging removes staging directories left in dir/.cairn by pulls
// that were cut off.
func RemoveStaging(dir string) {
	old, _ := filepath.Glob(filepath.Join(dir, MetaDir, stagingPattern))
	for _, p := range old {
		os.RemoveAll(p)
	}
}

// NewStaging makes a staging directory inside dir/.cairn, on the same
// filesystem as dir, so that checked files move into place by rename.
func NewStaging(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, MetaDir), 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(filepath.Join(dir, MetaDir), stagingPattern)
}

// readMeta reads a file of dir/.cairn, bounded by limit.
func readMeta(dir, name string, limit int64) ([]byte, error) {
	p := filepath.Join(dir, MetaDir, filepath.FromSlash(name))
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s: %w (cairn pull writes DIR/.cairn)", dir, path.Join(MetaDir, name), ErrNotPulled)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", verify.ErrVerification, path.Join(MetaDir, name), limit)
	}
	return b, nil
}

// dirSource is a pulled directory's recorded referrers, as an
// attest.ReferrerSource: every read is checked against its digest by
// attest.CollectBundles.
type dirSource struct {
	dir     string
	subject digest.Digest
	refs    []ocispec.Descriptor
}

func (s *dirSource) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	if desc.Digest != s.subject {
		return nil
	}
	var page []ocispec.Descriptor
	for _, r := range s.refs {
		if artifactType == "" || r.ArtifactType == artifactType {
			page = append(page, r)
		}
	}
	return fn(page)
}

func (s *dirSource) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if desc.Digest.Validate() != nil {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	name := referrersDir + "/" + desc.Digest.Encoded()
	if desc.MediaType == ocispec.MediaTypeImageManifest {
		name += ".json"
	}
	b, err := readMeta(s.dir, name, MaxReferrerBlobSize)
	if errors.Is(err, ErrNotPulled) {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

// LoadDir reads the model a pulled directory holds from its record: the
// manifest (whose digest is computed from the bytes, so an edited manifest
// cannot match its signature), the config (checked against the manifest)
// and the bundles attached to the manifest. Registry, Repository and
// ByDigest are left for the caller to set from what the operator named.
func LoadDir(ctx context.Context, dir string) (*Target, *Record, error) {
	manifest, err := readMeta(dir, manifestFile, MaxManifestSize)
	if err != nil {
		return nil, nil, err
	}
	config, err := readMeta(dir, configFile, MaxConfigSize)
	if err != nil {
		return nil, nil, err
	}
	var rec Record
	if b, err := readMeta(dir, recordFile, MaxRecordSize); err == nil {
		json.Unmarshal(b, &rec) // display only
	}
	t := &Target{
		Reference: dir,
		Desc:      ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))},
		Manifest:  manifest, Config: config,
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s: %v", verify.ErrVerification, dir, path.Join(MetaDir, manifestFile), err)
	}
	if m.MediaType != "" {
		t.Desc.MediaType = m.MediaType
	}
	if _, t.Files, err = model.Files(manifest); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %s: %w", verify.ErrVerification, dir, path.Join(MetaDir, manifestFile), err)
	}
	if digest.FromBytes(config) != m.Config.Digest {
		return nil, nil, fmt.Errorf("%w: %s: %s does not match the manifest's config digest", verify.ErrVerification, dir, path.Join(MetaDir, configFile))
	}
	src := &dirSource{dir: dir, subject: t.Desc.Digest}
	if ib, err := readMeta(dir, referrersFile, MaxRecordSize); err == nil {
		var idx ocispec.Index
		if json.Unmarshal(ib, &idx) == nil {
			src.refs = idx.Manifests
		}
	} else if !errors.Is(err, ErrNotPulled) {
		return nil, nil, err
	}
	if t.Collected, err = attest.Collect(ctx, src, t.Desc, attest.Selection{}); err != nil {
		return nil, nil, err
	}
	t.Bundles = t.Collected.Bundles
	if t.Transparency, err = loadEvidence(dir); err != nil {
		return nil, nil, err
	}
	return t, &rec, nil
}

// loadEvidence reads the transparency log's proof a pull kept, or nil
// when it kept none.
func loadEvidence(dir string) (*tlogproof.Evidence, error) {
	cp, err := readMeta(dir, checkpointFile, tlogproof.MaxCheckpointSize)
	if errors.Is(err, ErrNotPulled) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	inc, err := readMeta(dir, inclusionFile, tlogproof.MaxInclusionSize)
	if err != nil {
		return nil, err
	}
	ev := &tlogproof.Evidence{Checkpoint: cp}
	if err := ev.ParseInclusion(inc); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", dir, path.Join(MetaDir, inclusionFile), err)
	}
	return ev, nil
}

// checkMeta refuses anything under dir/.cairn that cairn does not write
// there: the record's own files, the referrers its index lists and their
// layers, the receipt. Symlinks and other non-regular files are refused.
func checkMeta(dir string) error {
	meta := filepath.Join(dir, MetaDir)
	allowed := map[string]bool{recordFile: true, manifestFile: true, configFile: true, referrersFile: true, ReceiptFile: true,
		checkpointFile: true, inclusionFile: true}
	if ib, err := readMeta(dir, referrersFile, MaxRecordSize); err == nil {
		var idx ocispec.Index
		if json.Unmarshal(ib, &idx) == nil {
			for _, r := range idx.Manifests {
				if r.Digest.Validate() != nil {
					continue
				}
				allowed[referrersDir+"/"+r.Digest.Encoded()+".json"] = true
				mb, err := readMeta(dir, referrersDir+"/"+r.Digest.Encoded()+".json", MaxReferrerBlobSize)
				if err != nil {
					continue
				}
				var m ocispec.Manifest
				if json.Unmarshal(mb, &m) != nil {
					continue
				}
				for _, l := range m.Layers {
					if l.Digest.Validate() == nil {
						allowed[referrersDir+"/"+l.Digest.Encoded()] = true
					}
				}
			}
		}
	}
	fi, err := os.Lstat(meta)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s: not a directory", verify.ErrVerification, MetaDir)
	}
	return filepath.WalkDir(meta, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(meta, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == referrersDir && d.IsDir():
			return nil
		case d.Type().IsRegular() && allowed[rel]:
			return nil
		}
		what := "a file cairn did not write"
		if d.IsDir() {
			what = "a directory cairn did not make"
			if ok, _ := path.Match(stagingPattern, rel); ok {
				what = "the staging directory of a pull that was cut off; pull again"
			}
		} else if !d.Type().IsRegular() {
			what = "not a regular file"
		}
		return fmt.Errorf("%w: %s: an unexpected file: %s", verify.ErrVerification, path.Join(MetaDir, rel), what)
	})
}

// DirOptions are what the operator names when a directory is checked: the
// directory's own record is never asked.
type DirOptions struct {
	// Repository is HOST/REPO, the repository whose policy rule applies.
	// It may be empty only when the policy gives every repository the same
	// rule (signers given on the command line).
	Repository string
	// Digest, when set, is the manifest digest the directory must hold;
	// it is what a rule's pinDigest asks for.
	Digest digest.Digest
	// Include are the globs of a partial pull: the directory must hold
	// exactly the model's files that match them. Empty means every file.
	Include []string
}

// CheckDir applies every check to a directory cairn pull wrote, offline,
// and returns the receipt (also on failure).
func (a *Agent) CheckDir(ctx context.Context, dir string, o DirOptions) (*Receipt, error) {
	rc := &Receipt{Dir: dir}
	host, repo := "", ""
	if o.Repository != "" {
		var ok bool
		host, repo, ok = strings.Cut(o.Repository, "/")
		if !ok || host == "" || repo == "" {
			return rc, fmt.Errorf("repository %q: want HOST/REPO", o.Repository)
		}
	} else if !a.Policy.Universal() {
		return rc, fmt.Errorf("%s: %w: the policy's rules differ by repository, and the directory's own record of where it came from is not trusted; give --repository HOST/REPO", dir, ErrNoRepository)
	}
	if o.Digest != "" {
		if err := o.Digest.Validate(); err != nil {
			return rc, fmt.Errorf("digest %q: %w", o.Digest, err)
		}
	}
	t, rec, err := LoadDir(ctx, dir)
	if err != nil {
		if errors.Is(err, verify.ErrVerification) {
			return rc, rc.fail("reference", err)
		}
		return rc, err
	}
	t.Registry, t.Repository = host, repo
	if o.Repository == "" {
		// Every repository gets the same rule: the record only labels it.
		t.Registry, t.Repository, _ = strings.Cut(rec.Registry+"/"+rec.Repository, "/")
	}
	if o.Digest != "" {
		if t.Desc.Digest != o.Digest {
			rc.Reference, rc.Repository, rc.Digest = dir, t.Name(), t.Desc.Digest
			return rc, rc.fail("reference", fmt.Errorf("%w: %s holds manifest %s, not %s", verify.ErrVerification, dir, t.Desc.Digest, o.Digest))
		}
		t.ByDigest = true
	}
	rule, err := a.CheckMetadata(t, rc)
	if err != nil {
		return rc, err
	}
	if err := checkMeta(dir); err != nil {
		return rc, rc.fail("unexpected files", err)
	}
	if err := a.CheckFiles(ctx, rule, t, dir, FileOptions{Include: o.Include, SkipMeta: true}, rc); err != nil {
		return rc, err
	}
	rc.Verified = true
	return rc, nil
}
