package web

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"go.yaml.in/yaml/v3"

	"cairn.dev/cairn/verify/model"
)

// Limits on the model card and the archive listings.
const (
	// MaxCardSize is the largest README (model card) rendered; a larger
	// one is offered as a download only.
	MaxCardSize = 1 << 20
	// MaxFrontMatter is the largest YAML front matter read from a card.
	MaxFrontMatter = 64 << 10
	// MaxFrontMatterFields is how many front matter fields are shown.
	MaxFrontMatterFields = 100
	// MaxArchiveMembers is how many members of one archive layer are
	// listed; the rest are counted as not listed.
	MaxArchiveMembers = 1000
	// MaxArchiveRead is how many bytes of a compressed (tar+gzip) archive
	// layer are decompressed to list its members: an uncompressed tar is
	// listed by reading its headers only and seeking past the contents,
	// but a gzip stream must be read through.
	MaxArchiveRead = 64 << 20
	// maxCards bounds the cache of rendered cards, by blob digest.
	maxCards = 2_000
	// maxListings bounds the cache of archive listings, by blob digest.
	maxListings = 5_000
)

// cardNames are the files shown as the model card, in order of
// preference, compared without letter case, at the top of the model.
var cardNames = []string{"readme.md", "model_card.md", "modelcard.md", "readme.markdown", "readme"}

// card is a rendered model card.
type card struct {
	// Path is the file the card was read from.
	Path string
	// HTML is the sanitised rendering of the Markdown.
	HTML template.HTML
	// Meta is the YAML front matter, flattened to rows.
	Meta []keyValue
	// Note says why the card is not shown (too large, unreadable).
	Note string
}

// markdown renders GitHub-flavoured Markdown; raw HTML in the source is
// dropped by goldmark (html.WithUnsafe is not set), and the output is
// sanitised again by cardPolicy all the same.
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// cardPolicy is the HTML a card may contain: bluemonday's user-generated
// content policy (no script, style, iframe, form or event attribute; links
// only to http, https and mailto), every link rel="nofollow noopener",
// opened in the same tab, and no images from other sites (the page's
// Content-Security-Policy would block them anyway).
var cardPolicy = func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(false)
	p.RequireNoReferrerOnLinks(false)
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowAttrs("align").OnElements("td", "th")
	return p
}()

// RenderCard renders a Markdown model card: the YAML front matter (between
// "---" lines at the top) as rows, the rest as sanitised HTML in which
// every link carries rel="nofollow noopener". src longer than MaxCardSize
// is refused.
func RenderCard(src []byte) (body template.HTML, meta []keyValue, err error) {
	if len(src) > MaxCardSize {
		return "", nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrCardTooLarge, len(src), MaxCardSize)
	}
	if !utf8.Valid(src) {
		src = bytes.ToValidUTF8(src, []byte("\uFFFD"))
	}
	src, meta = frontMatter(src)
	var buf bytes.Buffer
	if err := markdown.Convert(src, &buf); err != nil {
		return "", nil, fmt.Errorf("render card: %w", err)
	}
	clean := cardPolicy.SanitizeBytes(buf.Bytes())
	// bluemonday writes rel="nofollow"; the card's links also get
	// noopener, whatever a later policy change does about targets.
	clean = bytes.ReplaceAll(clean, []byte(`rel="nofollow"`), []byte(`rel="nofollow noopener"`))
	return template.HTML(clean), meta, nil
}

// frontMatter splits YAML front matter off src and flattens it to rows
// (nested values as compact YAML on one line). Front matter that is not
// valid YAML is left in the text.
func frontMatter(src []byte) ([]byte, []keyValue) {
	rest, ok := bytes.CutPrefix(src, []byte("---\n"))
	if !ok {
		rest, ok = bytes.CutPrefix(src, []byte("---\r\n"))
	}
	if !ok {
		return src, nil
	}
	end := bytes.Index(rest, []byte("\n---"))
	if end < 0 || end > MaxFrontMatter {
		return src, nil
	}
	head, body := rest[:end], rest[end+len("\n---"):]
	if i := bytes.IndexByte(body, '\n'); i >= 0 && len(bytes.TrimSpace(body[:i])) == 0 {
		body = body[i+1:]
	} else if len(bytes.TrimSpace(body)) != 0 {
		return src, nil // "---" followed by more text on the line
	}
	var node yaml.Node
	if yaml.Unmarshal(head, &node) != nil || len(node.Content) != 1 || node.Content[0].Kind != yaml.MappingNode {
		return src, nil
	}
	m := node.Content[0]
	var rows []keyValue
	for i := 0; i+1 < len(m.Content) && len(rows) < MaxFrontMatterFields; i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		val := v.Value
		if v.Kind != yaml.ScalarNode {
			var x any
			if v.Decode(&x) == nil {
				if b, err := yaml.Marshal(x); err == nil {
					val = flowYAML(x, string(b))
				}
			}
		}
		rows = append(rows, keyValue{Key: k.Value, Value: clip(val)})
	}
	return body, rows
}

// flowYAML writes a list of scalars as "a, b, c", and anything else as the
// YAML given, joined on one line.
func flowYAML(x any, block string) string {
	if l, ok := x.([]any); ok {
		parts := make([]string, 0, len(l))
		for _, e := range l {
			switch e.(type) {
			case map[string]any, []any:
				return strings.Join(strings.Fields(block), " ")
			}
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ", ")
	}
	return strings.Join(strings.Fields(block), " ")
}

// cardFile picks the model card among a version's files: a top-level
// README.md (or MODEL_CARD.md, README) that is not an archive.
func cardFile(files []model.File) (model.File, bool) {
	best, rank := model.File{}, len(cardNames)
	for _, f := range files {
		if f.Archive || strings.Contains(f.Path, "/") {
			continue
		}
		if i := slices.Index(cardNames, strings.ToLower(f.Path)); i >= 0 && i < rank {
			best, rank = f, i
		}
	}
	return best, rank < len(cardNames)
}

// cardOf renders the card file f, cached by its digest.
func (u *UI) cardOf(ctx context.Context, f model.File) *card {
	if c, ok := u.cards.get(string(f.Desc.Digest)); ok {
		return c
	}
	c := &card{Path: f.Path}
	if f.Desc.Size > MaxCardSize {
		c.Note = fmt.Sprintf("%s is larger than %s and is not rendered; download it below.", f.Path, humanSize(MaxCardSize))
		return c
	}
	b, err := u.readBlob(ctx, f.Desc.Digest, MaxCardSize)
	if err != nil {
		u.log.Warn("web: read model card", "digest", f.Desc.Digest, "err", err)
		c.Note = "The model card could not be read."
		return c
	}
	if b == nil {
		c.Note = "The model card's blob is not in the store."
		return c
	}
	if c.HTML, c.Meta, err = RenderCard(b); err != nil {
		c.Note = "The model card could not be rendered."
		u.log.Warn("web: render model card", "digest", f.Desc.Digest, "err", err)
		return c
	}
	u.cards.put(string(f.Desc.Digest), c)
	return c
}

// member is one file of an archive layer.
type member struct {
	Name string
	Size int64
	// Kind is "file", "dir", "link" or "other".
	Kind string
}

// listing is the members of one archive layer.
type listing struct {
	Members []member
	// Files counts the regular files, Bytes their sizes, over every
	// member read (also those past MaxArchiveMembers).
	Files int
	Bytes int64
	// More is how many members were read but not kept.
	More int
	// Note says why the listing is incomplete.
	Note string
}

// listArchive lists the members of an archive layer, cached by digest:
// tar headers only, seeking past the contents of an uncompressed tar;
// a tar+gzip layer is decompressed up to MaxArchiveRead bytes.
func (u *UI) listArchive(ctx context.Context, f model.File) *listing {
	if l, ok := u.listings.get(string(f.Desc.Digest)); ok {
		return l
	}
	l := &listing{}
	rc, err := u.cfg.Blobs.Open(ctx, f.Desc.Digest)
	if err != nil {
		l.Note = "The archive's blob could not be read."
		return l
	}
	defer rc.Close()
	err = readMembers(rc, func(m member) {
		if m.Kind == "file" {
			l.Files++
			l.Bytes += m.Size
		}
		if len(l.Members) < MaxArchiveMembers {
			l.Members = append(l.Members, m)
		} else {
			l.More++
		}
	})
	switch {
	case errors.Is(err, errArchiveTooLarge):
		l.Note = fmt.Sprintf("Listed from the first %s of the decompressed archive; pull it for the rest.", humanSize(MaxArchiveRead))
	case err != nil:
		l.Note = "The archive could not be read past this point: " + err.Error()
	}
	u.listings.put(string(f.Desc.Digest), l)
	return l
}

var errArchiveTooLarge = errors.New("archive listing limit reached")

// readMembers calls fn for each tar header of r, a tar or tar+gzip stream.
func readMembers(r io.ReadSeeker, fn func(member)) error {
	var magic [2]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return fmt.Errorf("read archive: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var src io.Reader = r
	limited := false
	if magic == [2]byte{0x1f, 0x8b} {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		defer zr.Close()
		src, limited = &io.LimitedReader{R: zr, N: MaxArchiveRead}, true
	}
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if lr, ok := src.(*io.LimitedReader); ok && limited && lr.N <= 0 {
				return errArchiveTooLarge
			}
			return fmt.Errorf("read archive: %w", err)
		}
		m := member{Name: strings.TrimPrefix(path.Clean("/"+h.Name), "/"), Size: h.Size, Kind: "other"}
		switch h.Typeflag {
		case tar.TypeReg:
			m.Kind = "file"
		case tar.TypeDir:
			m.Kind, m.Size = "dir", 0
		case tar.TypeSymlink, tar.TypeLink:
			m.Kind, m.Size = "link", 0
		}
		fn(m)
	}
}

// openMember returns a reader over the member named name of the archive r
// (headers read as by readMembers); ErrNotFound when there is none.
func openMember(r io.ReadSeeker, name string) (io.Reader, int64, func(), error) {
	var magic [2]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, 0, nil, fmt.Errorf("read archive: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, nil, err
	}
	var src io.Reader = r
	done := func() {}
	if magic == [2]byte{0x1f, 0x8b} {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("read archive: %w", err)
		}
		src, done = &io.LimitedReader{R: zr, N: MaxArchiveRead}, func() { zr.Close() }
	}
	tr := tar.NewReader(src)
	for {
		h, err := tr.Next()
		if err != nil {
			done()
			if err == io.EOF {
				return nil, 0, nil, ErrNotFound
			}
			return nil, 0, nil, fmt.Errorf("read archive: %w", err)
		}
		if h.Typeflag == tar.TypeReg && strings.TrimPrefix(path.Clean("/"+h.Name), "/") == name {
			return tr, h.Size, done, nil
		}
	}
}
