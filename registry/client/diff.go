package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify/model"
)

// Difference is how two models differ: their files by path, and the
// changes of their manifests' annotations and (when both configs were
// read) of their ModelPack config fields. It is the JSON of
// `cairn diff --json`.
type Difference struct {
	From      DiffSide     `json:"from"`
	To        DiffSide     `json:"to"`
	Added     []DiffFile   `json:"added"`
	Removed   []DiffFile   `json:"removed"`
	Changed   []DiffChange `json:"changed"`
	Unchanged int          `json:"unchanged"`
	// Annotations are the manifest annotations added, removed or changed.
	Annotations []DiffValue `json:"annotations,omitempty"`
	// Config are the config fields ("descriptor.version",
	// "config.architecture") added, removed or changed; empty when a
	// config was not compared.
	Config []DiffValue `json:"config,omitempty"`
}

// DiffValue is a named value that differs: From is empty when it was
// added, To when it was removed.
type DiffValue struct {
	Key  string `json:"key"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
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

// Empty reports whether the two models hold the same files (annotation
// and config changes aside).
func (d *Difference) Empty() bool {
	return len(d.Added) == 0 && len(d.Removed) == 0 && len(d.Changed) == 0
}

// DiffSource is one side of DiffManifests: a manifest's bytes and,
// optionally, its config's.
type DiffSource struct {
	Side     DiffSide
	Manifest []byte
	// Config is the config blob; nil leaves the config out of the
	// comparison.
	Config []byte
}

// Diff compares the files of the models two repositories' references name:
// files only in to are added, files only in from are removed, files at
// the same path with another digest are changed. Only the two manifests
// are fetched, each checked against its digest; the lists are sorted by
// path. Errors are as for Inspect.
func Diff(ctx context.Context, from, to *Repository) (*Difference, error) {
	a, err := fetchSource(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := fetchSource(ctx, to)
	if err != nil {
		return nil, err
	}
	return DiffManifests(a, b)
}

// DiffManifests compares two models given as manifests (the comparison
// Diff makes, and the web UI's compare view): files by path (an archive
// layer is one file, "[archive] NAME"), manifest annotations, and, when
// both sides carry a config, the fields of its descriptor and config
// sections. A manifest that does not list files is a *ModelError.
func DiffManifests(from, to DiffSource) (*Difference, error) {
	a, err := manifestFiles(from)
	if err != nil {
		return nil, err
	}
	b, err := manifestFiles(to)
	if err != nil {
		return nil, err
	}
	res := &Difference{From: from.Side, To: to.Side, Added: []DiffFile{}, Removed: []DiffFile{}, Changed: []DiffChange{}}
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
	res.Annotations = diffValues(manifestAnnotations(from.Manifest), manifestAnnotations(to.Manifest))
	if from.Config != nil && to.Config != nil {
		res.Config = diffValues(configFields(from.Config), configFields(to.Config))
	}
	return res, nil
}

// diffValues lists the keys whose values differ, sorted.
func diffValues(a, b map[string]string) []DiffValue {
	var out []DiffValue
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			out = append(out, DiffValue{Key: k, From: va, To: vb})
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			out = append(out, DiffValue{Key: k, To: vb})
		}
	}
	slices.SortFunc(out, func(x, y DiffValue) int { return strings.Compare(x.Key, y.Key) })
	return out
}

// manifestAnnotations are a manifest's annotations; nil when it does not
// parse (manifestFiles reports that).
func manifestAnnotations(manifest []byte) map[string]string {
	var m struct {
		Annotations map[string]string `json:"annotations"`
	}
	json.Unmarshal(manifest, &m)
	return m.Annotations
}

// configFields flattens a ModelPack config's descriptor and config
// sections to "descriptor.KEY" and "config.KEY" with JSON values (strings
// unquoted); nil when it does not parse.
func configFields(b []byte) map[string]string {
	mi, err := parseModelConfig(b)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range []struct {
		name   string
		fields map[string]any
	}{{"descriptor", mi.Descriptor}, {"config", mi.Config}} {
		for k, v := range s.fields {
			val, ok := v.(string)
			if !ok {
				j, _ := json.Marshal(v)
				val = string(j)
			}
			out[s.name+"."+k] = val
		}
	}
	return out
}

// fetchSource resolves a repository's reference and fetches its manifest.
func fetchSource(ctx context.Context, r *Repository) (DiffSource, error) {
	ref := r.Repo.Reference.String()
	if r.Repo.Reference.Reference == "" {
		return DiffSource{}, fmt.Errorf("%s: name a tag or digest", ref)
	}
	desc, manifest, err := r.FetchManifest(ctx)
	if err != nil {
		return DiffSource{}, err
	}
	return DiffSource{Side: DiffSide{Reference: ref, Digest: desc.Digest}, Manifest: manifest}, nil
}

// manifestFiles returns a manifest's files by label.
func manifestFiles(s DiffSource) (map[string]DiffFile, error) {
	_, files, err := model.Files(s.Manifest)
	if err != nil {
		return nil, &ModelError{Ref: s.Side.Reference, Err: err}
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
	return byPath, nil
}
