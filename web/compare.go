package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/storage"
)

// comparePage is the data of compare.html.
type comparePage struct {
	Repo     string
	From, To *storage.Manifest
	// FromTags and ToTags are the tags of each side.
	FromTags, ToTags []string
	Diff             *client.Difference
	// Note says why there is nothing to compare.
	Note string
}

// previousVersion is the version of repo pushed before m (the next older
// one in the order of the repository page), or "" when m is the oldest.
func (u *UI) previousVersion(ctx context.Context, repo string, m *storage.Manifest) (digest.Digest, error) {
	if m.Subject != "" {
		return "", nil
	}
	vs, err := u.repoVersions(ctx, repo)
	if err != nil {
		return "", err
	}
	for i, v := range vs {
		if v.M.Digest == m.Digest && i+1 < len(vs) {
			return vs[i+1].M.Digest, nil
		}
	}
	return "", nil
}

// compare serves /r/REPO@DIGEST/compare: how the version differs from the
// one pushed before it (or from ?with=DIGEST), as `cairn diff` computes it
// (client.DiffManifests): files added, removed and changed, annotation and
// config changes.
func (u *UI) compare(c echo.Context, repo string, d digest.Digest) error {
	ctx := c.Request().Context()
	if !viewerOf(c).canRead(repo) {
		return ErrNotFound
	}
	to, err := u.cfg.Meta.Manifest(ctx, repo, d)
	if errors.Is(err, storage.ErrManifestUnknown) || errors.Is(err, storage.ErrNameUnknown) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	p := comparePage{Repo: repo, To: to}
	var fromDigest digest.Digest
	if with := c.QueryParam("with"); with != "" {
		if fromDigest, err = registry.ParseDigest(with); err != nil {
			return &Error{Code: http.StatusBadRequest, Msg: "Bad request: ?with= must be a digest (sha256:…) of a version of this repository."}
		}
	} else if fromDigest, err = u.previousVersion(ctx, repo, to); err != nil {
		return err
	}
	tags, err := u.cfg.Meta.TagsByDigest(ctx, repo)
	if err != nil {
		return err
	}
	p.ToTags = tags[d]
	if fromDigest == "" {
		p.Note = "This is the oldest version of the repository: there is nothing before it to compare with."
		return u.render(c, http.StatusOK, "compare", repo+"@"+shortDigest(d)+" compared", p)
	}
	from, err := u.cfg.Meta.Manifest(ctx, repo, fromDigest)
	if errors.Is(err, storage.ErrManifestUnknown) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	p.From, p.FromTags = from, tags[fromDigest]
	a, err := u.diffSource(ctx, repo, from)
	if err != nil {
		return err
	}
	b, err := u.diffSource(ctx, repo, to)
	if err != nil {
		return err
	}
	if p.Diff, err = client.DiffManifests(a, b); err != nil {
		p.Note = "These manifests do not list model files, so they cannot be compared: " + err.Error()
	}
	return u.render(c, http.StatusOK, "compare", repo+"@"+shortDigest(d)+" compared", p)
}

// diffSource is a version as client.DiffManifests takes it, with its
// config when it is at most maxConfigSize.
func (u *UI) diffSource(ctx context.Context, repo string, m *storage.Manifest) (client.DiffSource, error) {
	s := client.DiffSource{Side: client.DiffSide{Reference: repo + "@" + string(m.Digest), Digest: m.Digest}, Manifest: m.Content}
	if cd := configOf(m); cd.Digest != "" && cd.Size <= maxConfigSize {
		b, err := u.readBlob(ctx, cd.Digest, maxConfigSize)
		if err != nil {
			return s, err
		}
		s.Config = b
	}
	return s, nil
}
