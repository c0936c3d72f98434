package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
)

// Page sizes and bounds of the listing pages.
const (
	// reposPerPage is how many repositories the index shows at once.
	reposPerPage = 100
	// accessPerPage is how many access records /access shows at once.
	accessPerPage = 100
	// maxAccessExamined bounds the records one /access page reads while
	// filtering for what the viewer may see.
	maxAccessExamined = 200_000
	// maxQuery bounds search and filter values.
	maxQuery = 256
)

// indexRow is one repository on the index page.
type indexRow struct {
	*summary
	Pulls    int
	HasPulls bool
	// Match says what a search matched, when not the name.
	Match string
}

type indexPage struct {
	Query     string
	Rows      []indexRow
	Total     int
	Next      string
	Empty     bool
	Host      string
	ShowPulls bool
	// Counting is true while the pulls are first counted.
	Counting bool
	// NamesOnly is true when the search index was not ready: only
	// repository names were searched.
	NamesOnly bool
}

// query reads a bounded query parameter.
func query(c echo.Context, name string) (string, error) {
	s := strings.TrimSpace(c.QueryParam(name))
	if len(s) > maxQuery || !utf8.ValidString(s) {
		return "", &Error{Code: http.StatusBadRequest, Msg: fmt.Sprintf("Bad request: ?%s= must be UTF-8 text of at most %d bytes.", name, maxQuery)}
	}
	return s, nil
}

// index lists the repositories the viewer may read, 100 at a time, with
// search (?q=) and paging by name (?after=). A search matches a
// repository by its name, one of its tags (substrings, letter case
// ignored), the prefix of a version's digest (sha256:HEX or HEX, at least
// minDigestPrefix digits) or its config's architecture or format.
func (u *UI) index(c echo.Context) error {
	ctx := c.Request().Context()
	v := viewerOf(c)
	q, err := query(c, "q")
	if err != nil {
		return err
	}
	after, err := query(c, "after")
	if err != nil {
		return err
	}
	names, err := u.cfg.Meta.Repositories(ctx, "", 0)
	if err != nil {
		return err
	}
	p := indexPage{Query: q, Host: c.Request().Host, ShowPulls: u.pulls != nil}
	needle := strings.ToLower(q)
	var ix searchIndex
	if needle != "" {
		var ok bool
		ix, _, ok = u.search.get(ctx, searchWait)
		p.NamesOnly = !ok && ix == nil
	}
	var shown []string
	matches := map[string]string{}
	for _, n := range names {
		if !v.canRead(n) {
			continue
		}
		if needle != "" {
			m := ix.match(n, needle)
			if m == "" {
				continue
			}
			if m != "name" {
				matches[n] = m
			}
		}
		p.Total++
		if n > after && len(shown) <= reposPerPage {
			shown = append(shown, n)
		}
	}
	if len(shown) > reposPerPage {
		shown = shown[:reposPerPage]
		p.Next = "/?" + urlValues("q", q, "after", shown[len(shown)-1])
	}
	p.Empty = p.Total == 0 && q == ""
	if p.Rows, p.Counting, err = u.indexRows(ctx, u.policyHost(c.Request()), shown, matches); err != nil {
		return err
	}
	title := "Repositories"
	if q != "" {
		title = "Search: " + q
	}
	return u.render(c, http.StatusOK, "index", title, p)
}

// indexRows are the summaries of the repositories named, with their pull
// counts; counting is true while the pulls are first counted.
func (u *UI) indexRows(ctx context.Context, host string, names []string, matches map[string]string) (rows []indexRow, counting bool, err error) {
	var pulls map[string]int
	if u.pulls != nil {
		var ok bool
		pulls, _, ok = u.pulls.get(ctx, pullsWait)
		counting = !ok && pulls == nil
	}
	for _, n := range names {
		s, err := u.summaryOf(ctx, host, n)
		if err != nil {
			return nil, false, err
		}
		if s == nil {
			continue
		}
		rows = append(rows, indexRow{summary: s, Pulls: pulls[n], HasPulls: u.pulls != nil && !counting, Match: matches[n]})
	}
	return rows, counting, nil
}

// repository serves /r/REPO, /r/REPO@DIGEST and /r/REPO:TAG (a redirect to
// the digest the tag points at).
func (u *UI) repository(c echo.Context) error {
	rest := strings.TrimSuffix(strings.TrimPrefix(c.Request().URL.Path, "/r/"), "/")
	if name, ref, ok := strings.Cut(rest, "@"); ok {
		ref, sub, _ := strings.Cut(ref, "/")
		d, err := registry.ParseDigest(ref)
		if err != nil || !registry.ValidName(name) {
			return ErrNotFound
		}
		switch {
		case sub == "":
			return u.version(c, name, d)
		case sub == "compare":
			return u.compare(c, name, d)
		case strings.HasPrefix(sub, "raw/"):
			return u.raw(c, name, d, strings.TrimPrefix(sub, "raw/"))
		}
		return ErrNotFound
	}
	if i := strings.LastIndexByte(rest, ':'); i > 0 && !strings.Contains(rest[i:], "/") {
		name, tag := rest[:i], rest[i+1:]
		if !registry.ValidName(name) || !registry.ValidTag(tag) || !viewerOf(c).canRead(name) {
			return ErrNotFound
		}
		d, err := u.cfg.Meta.Resolve(c.Request().Context(), name, tag)
		if errors.Is(err, storage.ErrTagUnknown) || errors.Is(err, storage.ErrNameUnknown) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, versionURL(name, d))
	}
	if !registry.ValidName(rest) {
		return ErrNotFound
	}
	return u.repoPage(c, rest)
}

// fileRow is one file of a version, with its scan.
type fileRow struct {
	model.File
	Dir, Base string
	Name      string // an archive layer's name
	Scan      *scanResult
	ScanNote  string
	// Href downloads the file (the layer's blob), when pulls are allowed.
	Href string
	// Listing is an archive layer's members.
	Listing *listing
	// MemberHref is the download URL of an archive's members, without the
	// member's path.
	MemberHref string
}

// Verdict is the scan's one-word state.
func (f fileRow) Verdict() string {
	switch {
	case f.Scan == nil || f.Scan.Report.Verdict == scan.VerdictNotScanned:
		return "not scanned"
	case !f.Scan.Report.Safe():
		return "unsafe"
	}
	for _, x := range f.Scan.Report.Findings {
		if x.Severity == scan.Warning {
			return "warning"
		}
	}
	return "safe"
}

// Findings are the scan's findings that matter: warnings and unsafe ones
// (notes, such as "not a weight format", are left out).
func (f fileRow) Findings() []scan.Finding {
	if f.Scan == nil {
		return nil
	}
	var out []scan.Finding
	for _, x := range f.Scan.Report.Findings {
		if x.Severity != scan.Info {
			out = append(out, x)
		}
	}
	return out
}

type versionPage struct {
	Repo         string
	Digest       digest.Digest
	M            *storage.Manifest
	Kind         string
	Size         int64
	Tags         []string
	Annotations  []keyValue
	Config       []keyValue
	ConfigNote   string
	ConfigDigest digest.Digest
	Files        []fileRow
	FilesError   string
	Unsafe       int
	Verdict      *verdict
	Others       []ocispec.Descriptor
	Quarantine   *storage.Quarantine
	Pull         string
	Graph        graph
	HasLineage   bool
	LineageStale bool
	SubjectURL   string
	Children     []ocispec.Descriptor
	// Card is the rendered model card (README.md), when there is one.
	Card *card
	// Version is the config's descriptor.version.
	Version string
	// Previous is the version pushed before this one, for the compare link.
	Previous digest.Digest
}

func (u *UI) version(c echo.Context, repo string, d digest.Digest) error {
	ctx := c.Request().Context()
	v := viewerOf(c)
	if !v.canRead(repo) {
		return ErrNotFound
	}
	m, err := u.cfg.Meta.Manifest(ctx, repo, d)
	if errors.Is(err, storage.ErrManifestUnknown) || errors.Is(err, storage.ErrNameUnknown) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	host := u.policyHost(c.Request())
	p := versionPage{Repo: repo, Digest: d, M: m, Kind: kindOf(m), Size: m.Size + registry.ContentSize(m.Content),
		Pull: "cairn pull " + c.Request().Host + "/" + repo + "@" + string(d) + " ./" + lastElement(repo)}
	if m.Subject != "" {
		p.SubjectURL = versionURL(repo, m.Subject)
	}
	tags, err := u.cfg.Meta.TagsByDigest(ctx, repo)
	if err != nil {
		return err
	}
	p.Tags = tags[d]
	slices.Sort(p.Tags)
	for k, val := range m.Annotations {
		p.Annotations = append(p.Annotations, keyValue{Key: k, Value: clip(val)})
	}
	slices.SortFunc(p.Annotations, func(a, b keyValue) int { return strings.Compare(a.Key, b.Key) })

	// Referrers: Sigstore bundles are verified; the rest are listed.
	var refs []*storage.Manifest
	p.Verdict, refs, p.Quarantine, err = u.verdictFor(ctx, host, repo, m)
	if err != nil {
		return err
	}
	for _, rm := range refs {
		if rm.ArtifactType != attest.MediaTypeBundle {
			p.Others = append(p.Others, ocispec.Descriptor{MediaType: rm.MediaType, Digest: rm.Digest, Size: rm.Size, ArtifactType: rm.ArtifactType})
		}
	}
	p.Verdict = redact(v, p.Verdict)

	if m.MediaType == ocispec.MediaTypeImageIndex {
		var idx ocispec.Index
		if json.Unmarshal(m.Content, &idx) == nil {
			p.Children = idx.Manifests
		}
	} else {
		var man ocispec.Manifest
		if json.Unmarshal(m.Content, &man) == nil {
			p.ConfigDigest = man.Config.Digest
			if p.Config, p.ConfigNote, err = u.modelConfig(ctx, man.Config); err != nil {
				return err
			}
		}
		_, files, err := model.Files(m.Content)
		if err != nil {
			p.FilesError = err.Error()
		}
		budget := maxScansPerPage
		for _, f := range files {
			row := fileRow{File: f}
			if f.Archive {
				row.Name = archiveName(f)
			} else if i := strings.LastIndexByte(f.Path, '/'); i >= 0 {
				row.Dir, row.Base = f.Path[:i+1], f.Path[i+1:]
			} else {
				row.Base = f.Path
			}
			if p.Verdict.Pullable() {
				if f.Archive {
					row.MemberHref = rawURL(repo, d, f.Desc.Digest, "") + "/"
				} else {
					row.Href = rawURL(repo, d, f.Desc.Digest, "")
				}
			}
			if f.Archive {
				row.Listing = u.listArchive(ctx, f)
			}
			row.Scan, row.ScanNote = u.scanBlob(ctx, f, &budget)
			if row.Scan != nil && !row.Scan.Report.Safe() {
				p.Unsafe++
			}
			p.Files = append(p.Files, row)
		}
		slices.SortStableFunc(p.Files, func(a, b fileRow) int { return strings.Compare(a.Path, b.Path) })
		if cf, ok := cardFile(files); ok {
			p.Card = u.cardOf(ctx, cf)
		}
		for _, kv := range p.Config {
			if kv.Key == "descriptor.version" {
				p.Version = kv.Value
			}
		}
		if p.Previous, err = u.previousVersion(ctx, repo, m); err != nil {
			return err
		}
	}

	ix, _, ok := u.lineage.get(ctx, lineageWait)
	if ix == nil {
		return &Error{Code: http.StatusServiceUnavailable, Msg: "The lineage index is still being built; reload the page in a moment.",
			Err: errors.New("lineage index not ready")}
	}
	p.LineageStale = !ok
	l := ix.Lineage(repo, d)
	var from, into []lineageNode
	seen := map[string]bool{}
	for _, e := range l.BuiltFrom {
		if k := "f " + e.Repository + "@" + string(e.Digest); !seen[k] {
			seen[k] = true
			from = append(from, u.dependencyNode(c, v, e))
		}
	}
	for _, e := range l.BuiltInto {
		if k := "i " + e.Repository + "@" + string(e.Digest); !seen[k] {
			seen[k] = true
			into = append(into, localNode(v, e.Repository, e.Digest, e.Role))
		}
	}
	p.HasLineage = len(from)+len(into) > 0
	p.Graph = layoutLineage(lineageNode{Label: repo, Digest: d, Class: "this"}, from, into)
	return u.render(c, http.StatusOK, "version", repo+"@"+shortDigest(d), p)
}

// dependencyNode is a built-from edge's artifact: named HOST/REPO by the
// provenance. It links to this registry's copy when this registry holds
// REPO@DIGEST, and is hidden when the viewer may not read a repository of
// that name here.
func (u *UI) dependencyNode(c echo.Context, v *viewer, e registry.LineageEdge) lineageNode {
	for _, local := range localNames(e.Repository) {
		if _, err := u.cfg.Meta.Manifest(c.Request().Context(), local, e.Digest); err == nil {
			return localNode(v, local, e.Digest, e.Role)
		}
	}
	if !nameVisible(v, e.Repository) {
		return lineageNode{Label: "not visible", Class: "hidden"}
	}
	return lineageNode{Label: e.Repository, Digest: e.Digest, Role: e.Role, Class: "external"}
}

// localNames are the repositories of this registry an artifact named
// [HOST/]REPO may be: REPO without the host, and the whole name when it is
// a valid repository name.
func localNames(name string) []string {
	var out []string
	if i := strings.IndexByte(name, '/'); i > 0 {
		if h := name[:i]; strings.ContainsAny(h, ".:") || h == "localhost" {
			if local := name[i+1:]; registry.ValidName(local) {
				out = append(out, local)
			}
		}
	}
	if registry.ValidName(name) {
		out = append(out, name)
	}
	return out
}

// nameVisible reports whether the viewer may see an artifact name written
// in a provenance: not when it may name a repository of this registry
// that the viewer may not read.
func nameVisible(v *viewer, name string) bool {
	for _, local := range localNames(name) {
		if !v.canRead(local) {
			return false
		}
	}
	return true
}

// redact returns vd with the provenance dependencies the viewer may not
// see marked hidden; vd itself, shared through the cache, is not changed.
func redact(v *viewer, vd *verdict) *verdict {
	if !v.AuthOn {
		return vd
	}
	out := *vd
	out.Bundles = slices.Clone(vd.Bundles)
	for i := range out.Bundles {
		b := &out.Bundles[i]
		b.Deps = slices.Clone(b.Deps)
		for j := range b.Deps {
			name, _, _ := strings.Cut(strings.TrimPrefix(b.Deps[j].URI, "oci://"), "@")
			if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
				name = name[:i] // a tag
			}
			b.Deps[j].Hidden = !nameVisible(v, name)
		}
	}
	return &out
}

// localNode is an artifact of this registry, hidden when the viewer may
// not read its repository.
func localNode(v *viewer, repo string, d digest.Digest, role string) lineageNode {
	if !v.canRead(repo) {
		return lineageNode{Label: "not visible", Class: "hidden"}
	}
	return lineageNode{Label: repo, Digest: d, Role: role, Href: versionURL(repo, d), Class: "local"}
}

// lastElement is the last path element of a repository name.
func lastElement(repo string) string {
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		return repo[i+1:]
	}
	return repo
}

// archiveName names an archive layer by its path annotation or title.
func archiveName(f model.File) string {
	for _, k := range []string{model.AnnotationFilepath, model.LegacyAnnotationFilepath, ocispec.AnnotationTitle} {
		if v := f.Desc.Annotations[k]; v != "" {
			return v
		}
	}
	return ""
}

// urlValues encodes name, value pairs, leaving out empty values.
func urlValues(kv ...string) string {
	s := accessURL(kv...)
	_, q, _ := strings.Cut(s, "?")
	return q
}
