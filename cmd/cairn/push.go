package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

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

func runPush(cmd *cobra.Command, o pushOptions, dir, refStr string) error {
	annotations := map[string]string{}
	for _, a := range o.annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return fmt.Errorf("--annotation %q: want KEY=VALUE", a)
		}
		annotations[k] = v
	}
	repo, err := o.open(refStr)
	if err != nil {
		return err
	}
	cache, err := o.openCache()
	if err != nil {
		return err
	}
	bo := model.BuildOptions{Annotations: annotations, Name: o.name, Version: o.version}
	if o.dataset {
		bo.ArtifactType = model.ArtifactTypeDataset
	}
	res, err := client.Push(cmd.Context(), repo, dir, client.PushOptions{
		Cache: cache, Scan: model.ScanOptions{Dataset: o.dataset, Ignore: o.ignore}, Build: bo,
		Concurrency: o.concurrency, Progress: newProgress(cmd, "pushing"),
		OnLink: func(p, target string) {
			fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is a symlink to %s; pushing the file's content\n", p, target)
		},
	})
	var pe *model.PathError
	if errors.As(err, &pe) || errors.Is(err, model.ErrUnsupportedFile) {
		return refused(err)
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.asJSON {
		return json.NewEncoder(out).Encode(res)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "pushed %s: %d files, %d uploaded, %d already there\n", res.Reference, res.Files, res.Uploaded, res.Skipped)
	fmt.Fprintln(out, res.Digest)
	return nil
}
