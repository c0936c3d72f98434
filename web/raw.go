package web

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/model"
)

// rawURL is the download of one file of a version: the layer's blob, or
// with member set, one member of an archive layer.
func rawURL(repo string, d, layer digest.Digest, member string) string {
	u := versionURL(repo, d) + "/raw/" + url.PathEscape(string(layer))
	if member != "" {
		u += "/" + escapePath(member)
	}
	return u
}

// raw serves /r/REPO@DIGEST/raw/LAYER[/MEMBER]: a file of the version as
// an attachment named after its path. It answers only what a pull of the
// version would: the viewer must be able to read the repository, the layer
// must be one of the version's files, and the version must be neither
// refused by the pull gate nor quarantined (403 with the reason).
func (u *UI) raw(c echo.Context, repo string, d digest.Digest, rest string) error {
	ctx := c.Request().Context()
	if !viewerOf(c).canRead(repo) {
		return ErrNotFound
	}
	layerRef, memberPath, _ := strings.Cut(rest, "/")
	layer, err := registry.ParseDigest(layerRef)
	if err != nil {
		return ErrNotFound
	}
	m, err := u.cfg.Meta.Manifest(ctx, repo, d)
	if errors.Is(err, storage.ErrManifestUnknown) || errors.Is(err, storage.ErrNameUnknown) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	_, files, err := model.Files(m.Content)
	if err != nil {
		return ErrNotFound
	}
	var file model.File
	found := false
	for _, f := range files {
		if f.Desc.Digest == layer {
			file, found = f, true
			break
		}
	}
	if !found || (memberPath != "") != file.Archive {
		return ErrNotFound
	}
	vd, _, _, err := u.verdictFor(ctx, u.policyHost(c.Request()), repo, m)
	if err != nil {
		return err
	}
	if !vd.Pullable() {
		return publicError(http.StatusForbidden, nil, "Refused: the registry refuses pulls of this version (%s): %s", vd.Status(), vd.Reason)
	}
	rc, err := u.cfg.Blobs.Open(ctx, layer)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	h := c.Response().Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "private, no-store")
	var body io.Reader = rc
	size := file.Desc.Size
	name := path.Base(file.Path)
	if file.Archive {
		r, n, done, err := openMember(rc, memberPath)
		if errors.Is(err, ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return publicError(http.StatusUnprocessableEntity, err, "The archive layer could not be read.")
		}
		defer done()
		body, size, name = r, n, path.Base(memberPath)
	}
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	c.Response().WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil
	}
	_, err = io.CopyN(c.Response(), body, size)
	if err != nil {
		u.log.Warn("web: raw file", "repository", repo, "layer", layer, "err", err)
	}
	return nil
}

// configOf reads an image manifest's config descriptor; zero for an index
// or a manifest that does not parse.
func configOf(m *storage.Manifest) ocispec.Descriptor {
	var man ocispec.Manifest
	if m.MediaType == ocispec.MediaTypeImageIndex || json.Unmarshal(m.Content, &man) != nil {
		return ocispec.Descriptor{}
	}
	return man.Config
}
