package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/model"
)

type pushOptions struct {
	transferOptions
	dataset     bool
	annotations []string
	name        string
	version     string
	ignore      []string
}

func newPushCmd() *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push DIR REF",
		Short: "Pack a model (or dataset) directory as a ModelPack artifact and push it",
		Long: `Pack DIR as a CNCF ModelPack artifact, one uncompressed layer per file, and
push it to REF (registry/repository:tag). Prints the manifest digest.

Packing is deterministic: the same files give the same digest. A symlink to a
regular file is pushed as that file's content (Hugging Face cache snapshots
are such links); other symlinks and device files are refused.

Files are hashed while they upload (one read per file), several at a time.
Files whose digest is known from an earlier push and that the registry
already has are skipped; an interrupted push resumes where the registry
stopped.`,
		Example: `  cairn push ./llama-8b 127.0.0.1:5000/models/llama:v1
  cairn push --dataset ./corpus 127.0.0.1:5000/data/corpus:2026-11
  cairn push ./model reg.example.com/team/model:v2 --annotation org.opencontainers.image.source=https://git.example.com/model`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd, o, args[0], args[1])
		},
	}
	o.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.dataset, "dataset", false, "pack as a dataset (small files grouped into tar layers)")
	f.StringArrayVar(&o.annotations, "annotation", nil, "manifest annotation KEY=VALUE (repeatable)")
	f.StringVar(&o.name, "name", "", "model name recorded in the config")
	f.StringVar(&o.version, "version", "", "model version recorded in the config")
	f.StringArrayVar(&o.ignore, "ignore", []string{".git", ".cache"}, "leave out paths matching PATTERN (path.Match; 'dir/**' for a subtree; a bare name matches at any depth)")
	return cmd
}

// pushResult is what push prints with --json.
type pushResult struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	Files     int           `json:"files"`
	Uploaded  int           `json:"uploaded"`
	Skipped   int           `json:"skipped"`
}

func runPush(cmd *cobra.Command, o pushOptions, dir, refStr string) error {
	ctx := cmd.Context()
	annotations := map[string]string{}
	for _, a := range o.annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("--annotation %q: want KEY=VALUE", a)
		}
		annotations[k] = v
	}
	repo, r, err := o.repository(refStr)
	if err != nil {
		return err
	}
	tag := repo.Reference.Reference
	if tag == "" {
		tag = "latest"
	}
	if repo.Reference.ValidateReferenceAsTag() != nil && repo.Reference.Reference != "" {
		return fmt.Errorf("%s: push needs a tag, not a digest", refStr)
	}
	cache, err := o.openCache()
	if err != nil {
		return err
	}
	entries, err := model.Scan(dir, model.ScanOptions{Dataset: o.dataset, Ignore: o.ignore})
	if err != nil {
		return refused(err)
	}
	if len(entries) == 0 {
		return fmt.Errorf("%s: no files to push", dir)
	}
	var total int64
	for _, e := range entries {
		total += e.Size
		if e.LinkTarget != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is a symlink to %s; pushing the file's content\n", e.Path, e.LinkTarget)
		}
	}

	stats := cache.StatCache()
	digests := make([]digest.Digest, len(entries))
	uploaded := make([]bool, len(entries))
	pr := newProgress(cmd, "pushing", total, len(entries))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.concurrency, 1))
	for i, e := range entries {
		g.Go(func() error {
			key := ""
			var src client.Source
			if e.Source != "" {
				fi, err := os.Stat(e.Source)
				if err != nil {
					return err
				}
				if fi.Size() != e.Size {
					return fmt.Errorf("%s changed while pushing", e.Path)
				}
				key = client.StatKey(e.Source, fi)
				src = client.FileSource(e.Source, key, e.Size)
			} else {
				src = entrySource(e)
			}
			if d, ok := stats.Get(key); ok {
				if have, err := r.Exists(gctx, d); err == nil && have {
					digests[i] = d
					pr.add(e.Size)
					return nil
				}
			}
			desc, err := cache.Upload(gctx, r, src, 0, pr.add)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			digests[i], uploaded[i] = desc.Digest, true
			stats.Put(key, desc.Digest)
			return nil
		})
	}
	err = g.Wait()
	pr.done()
	stats.Save()
	if err != nil {
		return err
	}

	config, manifest, err := model.Build(entries, digests, buildOptions(o, annotations))
	if err != nil {
		return err
	}
	cd := digest.FromBytes(config)
	if have, err := r.Exists(ctx, cd); err != nil || !have {
		if _, err := cache.Upload(ctx, r, bytesSource(config), 0, nil); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))}
	if err := repo.PushReference(ctx, md, bytes.NewReader(manifest), tag); err != nil {
		return fmt.Errorf("push manifest: %w", err)
	}
	res := pushResult{Reference: repo.Reference.Registry + "/" + repo.Reference.Repository + ":" + tag, Digest: md.Digest, Size: total, Files: len(entries)}
	for _, u := range uploaded {
		if u {
			res.Uploaded++
		} else {
			res.Skipped++
		}
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		return json.NewEncoder(out).Encode(res)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "pushed %s: %d files, %d uploaded, %d already there\n", res.Reference, res.Files, res.Uploaded, res.Skipped)
	fmt.Fprintln(out, md.Digest)
	return nil
}

// entrySource uploads a generated layer (a dataset tar group): the stream is
// deterministic, so resuming at an offset regenerates and skips.
func entrySource(e model.Entry) client.Source {
	return client.Source{Size: e.Size, Open: func(off int64) (io.ReadCloser, error) {
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

func bytesSource(b []byte) client.Source {
	return client.Source{Size: int64(len(b)), Open: func(off int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	}}
}

func buildOptions(o pushOptions, annotations map[string]string) model.BuildOptions {
	bo := model.BuildOptions{Annotations: annotations, Name: o.name, Version: o.version}
	if o.dataset {
		bo.ArtifactType = model.ArtifactTypeDataset
	}
	return bo
}
