package web

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/model"
)

// searchWait is how long a search waits for the search index when it is
// first built; past it, names alone are searched and the page says so.
const searchWait = 5_000_000_000 // 5s

// minDigestPrefix is the shortest hex prefix a search matches digests by.
const minDigestPrefix = 4

// configSummary is what the UI shows and searches of a ModelPack config.
type configSummary struct {
	Version, Architecture, Format string
}

// searchEntry is what a search matches of one repository, beside its
// name: the tags, version digests and config fields.
type searchEntry struct {
	Tags    []string
	Digests []string // hex, without the algorithm
	Fields  []string // config architecture and format values
}

// searchIndex maps repositories to their search entries.
type searchIndex map[string]*searchEntry

// buildSearchIndex reads every manifest that is a version (not a
// referrer), its tags, and its config's architecture and format.
func (u *UI) buildSearchIndex(ctx context.Context) (searchIndex, error) {
	ix := searchIndex{}
	err := u.cfg.Meta.Manifests(ctx, func(m *storage.Manifest) error {
		if m.Subject != "" {
			return nil
		}
		e := ix[m.Repository]
		if e == nil {
			e = &searchEntry{}
			ix[m.Repository] = e
		}
		_, hex, _ := strings.Cut(string(m.Digest), ":")
		e.Digests = append(e.Digests, hex)
		if cs := u.configSummaryOf(ctx, m); cs != nil {
			for _, f := range []string{cs.Architecture, cs.Format} {
				if f != "" {
					e.Fields = append(e.Fields, strings.ToLower(f))
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for repo, e := range ix {
		tags, err := u.cfg.Meta.TagsByDigest(ctx, repo)
		if err != nil {
			continue // deleted meanwhile
		}
		for _, ts := range tags {
			for _, t := range ts {
				e.Tags = append(e.Tags, strings.ToLower(t))
			}
		}
	}
	return ix, nil
}

// match says why repo matches needle (lower case): "" when it does not.
func (ix searchIndex) match(repo, needle string) string {
	if strings.Contains(repo, needle) {
		return "name"
	}
	e := ix[repo]
	if e == nil {
		return ""
	}
	for _, t := range e.Tags {
		if strings.Contains(t, needle) {
			return "tag " + t
		}
	}
	if hex := strings.TrimPrefix(needle, "sha256:"); len(hex) >= minDigestPrefix && isHex(hex) {
		for _, d := range e.Digests {
			if strings.HasPrefix(d, hex) {
				return "digest sha256:" + d[:12]
			}
		}
	}
	for _, f := range e.Fields {
		if strings.Contains(f, needle) {
			return "config " + f
		}
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// configSummaryOf reads a version's ModelPack config (descriptor.version,
// config.architecture, config.format), cached by the config's digest;
// nil when there is none.
func (u *UI) configSummaryOf(ctx context.Context, m *storage.Manifest) *configSummary {
	cd := configOf(m)
	if cd.Digest == "" || (cd.MediaType != model.MediaTypeConfig && cd.MediaType != model.LegacyMediaTypeConfig) || cd.Size > maxConfigSize {
		return nil
	}
	if v, ok := u.configs.get(string(cd.Digest)); ok {
		return v
	}
	b, err := u.readBlob(ctx, cd.Digest, maxConfigSize)
	if err != nil || b == nil {
		return nil
	}
	var cfg struct {
		Descriptor struct {
			Version string `json:"version"`
		} `json:"descriptor"`
		Config struct {
			Architecture string `json:"architecture"`
			Format       string `json:"format"`
		} `json:"config"`
	}
	json.Unmarshal(b, &cfg)
	cs := &configSummary{Version: clip(cfg.Descriptor.Version), Architecture: clip(cfg.Config.Architecture), Format: clip(cfg.Config.Format)}
	u.configs.put(string(cd.Digest), cs)
	return cs
}

// namespacePage is the data of namespace.html.
type namespacePage struct {
	Name   string
	Crumbs []crumb
	Rows   []indexRow
	Total  int
	Next   string
	// ShowPulls and Counting are as on the index.
	ShowPulls, Counting bool
}

// namespace serves /r/NAMESPACE, a name that is not a repository: the
// repositories under it the viewer may read, 100 a page (?after=NAME). A
// namespace with none answers 404, as a missing repository does.
func (u *UI) namespace(c echo.Context, ns string) error {
	ctx := c.Request().Context()
	v := viewerOf(c)
	after, err := query(c, "after")
	if err != nil {
		return err
	}
	names, err := u.cfg.Meta.Repositories(ctx, "", 0)
	if err != nil {
		return err
	}
	prefix := ns + "/"
	var shown []string
	p := namespacePage{Name: ns, Crumbs: crumbsOf(ns), ShowPulls: u.pulls != nil}
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || !v.canRead(n) {
			continue
		}
		p.Total++
		if n > after && len(shown) <= reposPerPage {
			shown = append(shown, n)
		}
	}
	if p.Total == 0 {
		return ErrNotFound
	}
	if len(shown) > reposPerPage {
		shown = shown[:reposPerPage]
		p.Next = repoURL(ns) + "?" + urlValues("after", shown[len(shown)-1])
	}
	p.Rows, p.Counting, err = u.indexRows(ctx, u.policyHost(c.Request()), shown, nil)
	if err != nil {
		return err
	}
	return u.render(c, http.StatusOK, "namespace", ns, p)
}
