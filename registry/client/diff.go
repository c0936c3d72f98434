package client

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify/model"
)

// Difference is how two models' files differ, by path. It is the JSON of
// `cairn diff --json`.
type Difference struct {
	From      DiffSide     `json:"from"`
	To        DiffSide     `json:"to"`
	Added     []DiffFile   `json:"added"`
	Removed   []DiffFile   `json:"removed"`
	Changed   []DiffChange `json:"changed"`
	Unchanged int          `json:"unchanged"`
}

// DiffSide names one of the two models.
type DiffSide struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`
}

// DiffFile is a file present on one side only. Path is FileInfo.Label:
// an archive layer is compared as one file, "[archive] NAME".
type DiffFile struct {
	Path   string        `json:"path"`
	Kind   model.Kind    `json:"kind"`
	Size   int64         `json:"size"`
	Digest digest.Digest `json:"digest"`
}

// DiffChange is a path present on both sides with different content.
type DiffChange struct {
	Path string   `json:"path"`
	From DiffFile `json:"from"`
	To   DiffFile `json:"to"`
}

// Empty reports whether the two models hold the same files.
func (d *Difference) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

// Diff compares the files of the models two repositories' references name:
// files only in to are added, files only in from are removed, files at
// the same path with another digest are changed. Only the two manifests
// are fetched, each checked against its digest; the lists are sorted by
// path. Errors are as for Inspect.
func Diff(ctx context.Context, from, to *Repository) (*Difference, error) {
	fs, a, err := modelFiles(ctx, from)
	if err != nil {
		return nil, err
	}
	ts, b, err := modelFiles(ctx, to)
	if err != nil {
		return nil, err
	}
	res := &Difference{From: fs, To: ts, Added: []DiffFile{}, Removed: []DiffFile{}, Changed: []DiffChange{}}
	for p, fa := range a {
		fb, ok := b[p]
		switch {
		case !ok:
			res.Removed = append(res.Removed, fa)
		case fa.Digest != fb.Digest:
			res.Changed = append(res.Changed, DiffChange{Path: p, From: fa, To: fb})
		default:
			res.Unchanged++
		}
	}
	for p, fb := range b {
		if _, ok := a[p]; !ok {
			res.Added = append(res.Added, fb)
		}
	}
	byPath := func(x, y DiffFile) int { return strings.Compare(x.Path, y.Path) }
	slices.SortFunc(res.Added, byPath)
	slices.SortFunc(res.Removed, byPath)
	slices.SortFunc(res.Changed, func(x, y DiffChange) int { return strings.Compare(x.Path, y.Path) })
	return res, nil
}

// modelFiles resolves a repository's reference and returns its digest and
// files by label.
func modelFiles(ctx context.Context, r *Repository) (DiffSide, map[string]DiffFile, error) {
	ref := r.Repo.Reference.String()
	if r.Repo.Reference.Reference == "" {
		return DiffSide{}, nil, fmt.Errorf("%s: name a tag or digest", ref)
	}
	desc, manifest, err := r.FetchManifest(ctx)
	if err != nil {
		return DiffSide{}, nil, err
	}
	_, files, err := model.Files(manifest)
	if err != nil {
		return DiffSide{}, nil, &ModelError{Ref: ref, Err: err}
	}
	byPath := make(map[string]DiffFile, len(files))
	for _, f := range files {
		p := fileInfo(f).Label()
		if _, dup := byPath[p]; dup {
			// Two archive layers of the same name: tell them apart by digest.
			p += " " + string(f.Desc.Digest)
		}
		byPath[p] = DiffFile{Path: p, Kind: f.Kind, Size: f.Desc.Size, Digest: f.Desc.Digest}
	}
	return DiffSide{Reference: ref, Digest: desc.Digest}, byPath, nil
}
