package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/verify/model"
)

// PushOptions configure Push.
type PushOptions struct {
	// Cache holds the state of uploads in progress (so an interrupted push
	// resumes) and the digests of files already pushed; required.
	Cache *Cache
	// Scan says which files of the directory to pack (datasets, ignores).
	Scan model.ScanOptions
	// Build says what goes in the config and manifest.
	Build model.BuildOptions
	// Concurrency is how many files upload at once; zero means 4.
	Concurrency int
	// Progress, when set, is told how the transfer goes.
	Progress Progress
	// OnLink, when set, is told of each symlink pushed as its target's
	// content.
	OnLink func(path, target string)
}

// PushResult is what Push did.
type PushResult struct {
	// Reference is HOST/REPO:TAG.
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
	// Size is the bytes of the files.
	Size     int64 `json:"size"`
	Files    int   `json:"files"`
	Uploaded int   `json:"uploaded"`
	Skipped  int   `json:"skipped"`
}

// Push packs dir as a ModelPack artifact (model.Scan, model.Build: one
// layer per file, deterministic) and pushes it to the repository's tag
// ("latest" when the reference names none). Files are hashed while they
// upload, several at a time; a file whose digest is known from an earlier
// push and that the registry already has is skipped; an interrupted upload
// resumes where the registry stopped.
func Push(ctx context.Context, r *Repository, dir string, o PushOptions) (*PushResult, error) {
	if o.Cache == nil {
		return nil, errors.New("client.Push: no cache")
	}
	ref := r.Repo.Reference
	tag := ref.Reference
	if tag == "" {
		tag = "latest"
	}
	if ref.Reference != "" && ref.ValidateReferenceAsTag() != nil {
		return nil, fmt.Errorf("%s: push needs a tag, not a digest", ref)
	}
	entries, err := model.Scan(dir, o.Scan)
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s: no files to push", dir)
	}
	var total int64
	for _, e := range entries {
		total += e.Size
		if e.LinkTarget != "" && o.OnLink != nil {
			o.OnLink(e.Path, e.LinkTarget)
		}
	}
	add := func(int64) {}
	if o.Progress != nil {
		o.Progress.Start(total, len(entries))
		add = o.Progress.Add
	}

	stats := o.Cache.StatCache()
	digests := make([]digest.Digest, len(entries))
	uploaded := make([]bool, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	if o.Concurrency > 0 {
		g.SetLimit(o.Concurrency)
	}
	for i, e := range entries {
		g.Go(func() error {
			key := ""
			var src Source
			if e.Source != "" {
				fi, err := os.Stat(e.Source)
				if err != nil {
					return err
				}
				if fi.Size() != e.Size {
					return fmt.Errorf("%s changed while pushing", e.Path)
				}
				key = StatKey(e.Source, fi)
				src = FileSource(e.Source, key, e.Size)
			} else {
				src = entrySource(e)
			}
			d, known := stats.Get(key)
			if known {
				if have, err := r.Remote.Exists(gctx, d); err == nil && have {
					digests[i] = d
					add(e.Size)
					return nil
				}
			}
			desc, err := o.Cache.Upload(gctx, r.Remote, src, 0, add)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			digests[i], uploaded[i] = desc.Digest, true
			stats.Put(key, desc.Digest)
			return nil
		})
	}
	err = g.Wait()
	if o.Progress != nil {
		o.Progress.Done()
	}
	stats.Save()
	if err != nil {
		return nil, err
	}

	config, manifest, err := model.Build(entries, digests, o.Build)
	if err != nil {
		return nil, err
	}
	cd := digest.FromBytes(config)
	if have, err := r.Remote.Exists(ctx, cd); err != nil || !have {
		if _, err := o.Cache.Upload(ctx, r.Remote, BytesSource(config), 0, nil); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := r.Repo.PushReference(ctx, md, bytes.NewReader(manifest), tag); err != nil {
		return nil, fmt.Errorf("push manifest: %w", err)
	}
	res := &PushResult{Reference: ref.Registry + "/" + ref.Repository + ":" + tag, Digest: md.Digest, Size: total, Files: len(entries)}
	for _, u := range uploaded {
		if u {
			res.Uploaded++
		} else {
			res.Skipped++
		}
	}
	return res, nil
}

// entrySource uploads a generated layer (a dataset tar group): the stream is
// deterministic, so resuming at an offset regenerates and skips.
func entrySource(e model.Entry) Source {
	return Source{Size: e.Size, Open: func(off int64) (io.ReadCloser, error) {
		rc, err := e.Open()
		if err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			return nil, err
		}
		return rc, nil
	}}
}

// BytesSource uploads b.
func BytesSource(b []byte) Source {
	return Source{Size: int64(len(b)), Open: func(off int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	}}
}
