package main

import (
	"compress/gzip"
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
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/model"
)

// Limits on what a registry sends a pull.
const (
	// maxManifestBytes bounds a manifest, as the registry does.
	maxManifestBytes = 4 << 20
	// maxConfigBytes bounds a model config.
	maxConfigBytes = 4 << 20
	// maxReferrers bounds the referrers recorded in DIR/.cairn.
	maxReferrers = 100
	// maxReferrerBlob bounds one blob of a referrer (a signature bundle, an
	// attestation) recorded in DIR/.cairn.
	maxReferrerBlob = 4 << 20
)

type pullOptions struct {
	transferOptions
	agentOptions
	include []string
}

func newPullCmd() *cobra.Command {
	var o pullOptions
	cmd := &cobra.Command{
		Use:   "pull REF DIR",
		Short: "Pull a model into a directory, checking every file's digest as it streams",
		Long: `Resolve REF to a digest and fetch the model's files into DIR, several at a time.
Each file is hashed while it is written to a temporary file and is renamed
into place only when it matches its digest; a mismatch stops the pull with
exit code 1, naming the file and both digests.

Files go through a local content-addressed cache shared by pulls: a file
already held is not fetched again, and a pull that was interrupted resumes.
DIR/.cairn/ records the manifest, config and referrers (signatures,
attestations), so DIR can be verified offline later.

Pull never creates a symlink or device, and refuses absolute paths, paths
that leave DIR, and duplicate paths. It reads ModelPack artifacts, the older
vnd.cnai.model names, KitOps ModelKits and plain oras artifacts.

With --policy, or --key (or the keyless flags), pull is the verification
agent of cairn run without the workload: signatures and attestations are
checked before any file is fetched, the files stream into a staging
directory and are scanned, and only a model that passes every check is
moved into DIR (exit 1 otherwise, with nothing of it left in DIR).`,
		Example: `  cairn pull 127.0.0.1:5000/models/llama:v1 ./llama-8b
  cairn pull 127.0.0.1:5000/models/llama:v1 ./llama --include '*.json' --include 'tokenizer*'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPull(cmd, o, args[0], args[1])
		},
	}
	o.transferOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	cmd.Flags().StringArrayVar(&o.include, "include", nil, "only files whose path matches GLOB (path.Match; 'dir/**' for a subtree; repeatable)")
	return cmd
}

// pullRecord is DIR/.cairn/pull.json.
type pullRecord struct {
	Reference  string        `json:"reference"`
	Registry   string        `json:"registry"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Pulled     time.Time     `json:"pulled"`
	Files      []string      `json:"files"`
	Partial    bool          `json:"partial,omitempty"`
}

func matchAny(globs []string, p string) bool {
	if len(globs) == 0 {
		return true
	}
	for _, g := range globs {
		if prefix, ok := strings.CutSuffix(g, "/**"); ok && (p == prefix || strings.HasPrefix(p, prefix+"/")) {
			return true
		}
		if ok, _ := path.Match(g, p); ok {
			return true
		}
		if ok, _ := path.Match(g, path.Base(p)); ok && !strings.Contains(g, "/") {
			return true
		}
	}
	return false
}

func runPull(cmd *cobra.Command, o pullOptions, refStr, dir string) error {
	ctx := cmd.Context()
	for _, g := range o.include {
		if _, err := path.Match(strings.TrimSuffix(g, "/**"), ""); err != nil {
			return fmt.Errorf("--include %q: %w", g, err)
		}
	}
	if o.agentOptions.enabled() {
		rc, err := pullForRun(cmd, runOptions{transferOptions: o.transferOptions, agentOptions: o.agentOptions, ref: refStr, dir: dir, include: o.include})
		if rc != nil && len(rc.Checks) > 0 {
			if perr := printReceipt(cmd, rc, o.asJSON); perr != nil && err == nil {
				err = perr
			}
		}
		return err
	}
	repo, r, err := o.repository(refStr)
	if err != nil {
		return err
	}
	cache, err := o.openCache()
	if err != nil {
		return err
	}
	desc, manifest, err := fetchManifest(ctx, repo, refStr)
	if isDenied(err) {
		return refused(err) // quarantined, or refused by the registry's policy
	}
	if err != nil {
		return err
	}
	_, files, err := model.Files(manifest)
	if err != nil {
		return refused(fmt.Errorf("%s: %w", refStr, err))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return refused(fmt.Errorf("%s: manifest: %w", refStr, err))
	}
	config, err := fetchBlob(ctx, repo, m.Config, maxConfigBytes)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var selected []model.File
	var total int64
	for _, f := range files {
		if f.Archive || matchAny(o.include, f.Path) {
			selected = append(selected, f)
			total += f.Desc.Size
		}
	}
	if len(selected) == 0 {
		return refused(fmt.Errorf("%s: no file matches --include", refStr))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}

	fetched, cached, err := fetchFiles(cmd, o.transferOptions, cache, r, selected, total, dir, o.include)
	if err != nil {
		return err
	}
	rec := pullRecord{
		Reference: refStr, Registry: repo.Reference.Registry, Repository: repo.Reference.Repository,
		Digest: desc.Digest, Pulled: time.Now().UTC(), Partial: len(o.include) > 0,
	}
	for _, f := range selected {
		rec.Files = append(rec.Files, f.Path)
	}
	if err := writeRecord(ctx, repo, dir, rec, manifest, config); err != nil {
		return err
	}
	if o.asJSON {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
			"reference": refStr, "digest": desc.Digest, "files": len(selected), "fetched": fetched, "cached": cached, "dir": dir,
		})
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "pulled %s: %d files (%d fetched, %d from the cache), every digest checked\n", refStr, len(selected), fetched, cached)
	fmt.Fprintln(cmd.OutOrStdout(), desc.Digest)
	return nil
}

// fetchFiles fetches the selected files through the cache, several at a
// time, each verified as it streams, and places them under dir (archive
// layers are extracted there). It returns how many were fetched and how many
// came from the cache. Digest mismatches and unsafe paths are refusals.
func fetchFiles(cmd *cobra.Command, o transferOptions, cache *client.Cache, r *client.Remote, selected []model.File, total int64, dir string, include []string) (fetched, cached int, err error) {
	pr := newProgress(cmd, "pulling", total, len(selected))
	results := make([]bool, len(selected))
	g, gctx := errgroup.WithContext(cmd.Context())
	g.SetLimit(max(o.concurrency, 1))
	for i, f := range selected {
		g.Go(func() error {
			name := f.Path
			if name == "" {
				name = f.Desc.Digest.String()
			}
			_, got, err := cache.Fetch(gctx, r, f.Desc, name, pr.add)
			if err != nil {
				return err
			}
			results[i] = got
			if f.Archive {
				return extractArchive(cache, f, dir, include)
			}
			dst, err := safeJoin(dir, f.Path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return cache.Place(f.Desc.Digest, dst, f.Mode)
		})
	}
	err = g.Wait()
	pr.done()
	if err != nil {
		var de *client.DigestError
		if errors.As(err, &de) {
			return 0, 0, refused(err)
		}
		var pe *model.PathError
		if errors.As(err, &pe) {
			return 0, 0, refused(err)
		}
		return 0, 0, err
	}
	for _, got := range results {
		if got {
			fetched++
		} else {
			cached++
		}
	}
	return fetched, cached, nil
}

// fetchManifest resolves ref and fetches the manifest by digest, verifying
// it against the digest (oras-go's content.ReadAll checks size and digest).
func fetchManifest(ctx context.Context, repo *remote.Repository, refStr string) (ocispec.Descriptor, []byte, error) {
	desc, err := repo.Resolve(ctx, repo.Reference.Reference)
	if isDenied(err) {
		// A HEAD carries no reason; the GET's error body does.
		if _, rc, gerr := repo.FetchReference(ctx, repo.Reference.Reference); gerr != nil {
			err = gerr
		} else {
			rc.Close()
		}
	}
	if err != nil {
		return desc, nil, fmt.Errorf("resolve %s: %w", refStr, err)
	}
	if desc.Size > maxManifestBytes {
		return desc, nil, refused(fmt.Errorf("%s: manifest of %d bytes exceeds %d", refStr, desc.Size, maxManifestBytes))
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return desc, nil, fmt.Errorf("fetch manifest %s: %w", desc.Digest, err)
	}
	defer rc.Close()
	b, err := content.ReadAll(rc, desc)
	if err != nil {
		return desc, nil, refused(fmt.Errorf("manifest %s: %w", desc.Digest, err))
	}
	return desc, b, nil
}

// fetchBlob reads small content (a blob, or a manifest: oras-go routes by
// media type), verified against its descriptor.
func fetchBlob(ctx context.Context, repo *remote.Repository, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size > limit {
		return nil, fmt.Errorf("%s: %d bytes exceeds the limit of %d", desc.Digest, desc.Size, limit)
	}
	rc, err := repo.Fetch(ctx, desc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return content.ReadAll(rc, desc)
}

// safeJoin joins a validated relative path to dir, refusing when an
// existing element on the way is a symlink: a pull never writes through a
// link.
func safeJoin(dir, rel string) (string, error) {
	p := dir
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", &model.PathError{Path: strings.Join(parts[:i+1], "/"), Err: fmt.Errorf("%w: is a symlink in the destination", model.ErrUnsafePath)}
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return "", &model.PathError{Path: strings.Join(parts[:i+1], "/"), Err: fmt.Errorf("%w: not a directory in the destination", model.ErrUnsafePath)}
		}
	}
	return p, nil
}

// extractArchive unpacks a verified tar (or tar+gzip) layer from the cache.
func extractArchive(cache *client.Cache, f model.File, dir string, include []string) error {
	rc, err := os.Open(cache.Path(f.Desc.Digest))
	if err != nil {
		return err
	}
	defer rc.Close()
	var r io.Reader = rc
	if strings.HasSuffix(f.Desc.MediaType, "gzip") {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Desc.Digest, err)
		}
		defer zr.Close()
		r = zr
	}
	_, err = model.ExtractTar(r, dir)
	return err
}

// writeRecord writes DIR/.cairn: the manifest and config as pulled, the
// referrers with their small blobs, and pull.json.
func writeRecord(ctx context.Context, repo *remote.Repository, dir string, rec pullRecord, manifest, config []byte) error {
	meta := filepath.Join(dir, ".cairn")
	if err := os.MkdirAll(filepath.Join(meta, "referrers"), 0o755); err != nil {
		return err
	}
	write := func(name string, b []byte) error {
		tmp := filepath.Join(meta, name+".tmp")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(meta, name))
	}
	if err := write("manifest.json", manifest); err != nil {
		return err
	}
	if err := write("config.json", config); err != nil {
		return err
	}
	var refs []ocispec.Descriptor
	err := repo.Referrers(ctx, ocispec.Descriptor{Digest: rec.Digest, MediaType: ocispec.MediaTypeImageManifest}, "", func(page []ocispec.Descriptor) error {
		refs = append(refs, page...)
		if len(refs) > maxReferrers {
			refs = refs[:maxReferrers]
			return errStopReferrers
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopReferrers) {
		return fmt.Errorf("referrers: %w", err)
	}
	for _, d := range refs {
		mb, err := fetchBlob(ctx, repo, d, maxReferrerBlob)
		if err != nil {
			return fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		if err := write(filepath.Join("referrers", d.Digest.Encoded()+".json"), mb); err != nil {
			return err
		}
		var rm ocispec.Manifest
		if json.Unmarshal(mb, &rm) != nil {
			continue
		}
		for _, l := range rm.Layers {
			if l.Size > maxReferrerBlob || l.Digest.Validate() != nil {
				continue
			}
			lb, err := fetchBlob(ctx, repo, l, maxReferrerBlob)
			if err != nil {
				return fmt.Errorf("referrer blob %s: %w", l.Digest, err)
			}
			if err := write(filepath.Join("referrers", l.Digest.Encoded()), lb); err != nil {
				return err
			}
		}
	}
	idx, _ := json.MarshalIndent(ocispec.Index{Versioned: specsV2, MediaType: ocispec.MediaTypeImageIndex, Manifests: nonNilDescs(refs)}, "", "  ")
	if err := write("referrers.json", idx); err != nil {
		return err
	}
	rb, _ := json.MarshalIndent(rec, "", "  ")
	return write("pull.json", rb)
}

var errStopReferrers = errors.New("enough referrers")

var specsV2 = specs.Versioned{SchemaVersion: 2}

func nonNilDescs(d []ocispec.Descriptor) []ocispec.Descriptor {
	if d == nil {
		return []ocispec.Descriptor{}
	}
	return d
}
