package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// bigVersions is how many versions the populated registry's big
// repository holds: more than two pages of 25.
const bigVersions = 62

// card is the README of the big model's newest version: front matter, a
// table, a link, a script tag and raw HTML.
const card = `---
license: apache-2.0
language: [en, fr]
base_model: models/base
---
# Big model

| metric | value |
|---|---|
| accuracy | 0.91 |

See [the paper](https://example.org/paper).

<script>alert("card")</script>

<div onclick="alert(1)">raw html</div>

<img src=x onerror=alert(2)>
`

// populated is what populate pushed.
type populated struct {
	// big are the versions of models/big, oldest first.
	big []ocispec.Descriptor
	// largest is the version of models/big with the largest files.
	largest ocispec.Descriptor
	data    ocispec.Descriptor
	teamOne ocispec.Descriptor
}

// populate fills a registry as people use one: models/big with 62
// versions (tags v1..v62, "latest" moved at every push, "stable" moved
// three times), the newest with a README model card; a dataset of many
// small files packed into tar layers; two models of another architecture
// in the namespace team-a; and some pulls, refused pulls and a
// quarantine.
func populate(t *testing.T, e *env) populated {
	t.Helper()
	ctx := t.Context()
	var p populated
	llama := `{"architectures":["LlamaForCausalLM"],"model_type":"llama"}`
	for i := 1; i <= bigVersions; i++ {
		files := map[string]string{"config.json": llama, "model.safetensors": safetensors(8 + i%5), "notes.txt": fmt.Sprintf("version %d\n", i)}
		if i == 7 {
			files["model.safetensors"] = safetensors(4096)
		}
		if i == bigVersions {
			files["README.md"] = card
		}
		d := e.pushModel("models/big", fmt.Sprintf("v%d", i), files, map[string]string{"org.opencontainers.image.revision": fmt.Sprint(i)})
		p.big = append(p.big, d)
		if i == 7 {
			p.largest = d
		}
		if err := e.repo("models/big").Tag(ctx, d, "latest"); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			if err := e.repo("models/big").Tag(ctx, d, "stable"); err != nil {
				t.Fatal(err)
			}
		}
	}
	data := map[string]string{"README.md": "# chat data\n"}
	for i := range 30 {
		data[fmt.Sprintf("train/part-%02d.jsonl", i)] = fmt.Sprintf(`{"q":"question %d","a":"answer"}`+"\n", i)
	}
	p.data = e.pushModel("datasets/chat", "v1", data, nil)
	mistral := `{"architectures":["MistralForCausalLM"],"model_type":"mistral"}`
	p.teamOne = e.pushModel("team-a/one", "v1", map[string]string{"config.json": mistral, "model.safetensors": safetensors(8)}, nil)
	e.pushModel("team-a/two", "v1", map[string]string{"config.json": mistral, "model.safetensors": safetensors(16)}, nil)
	e.pull("models/big", "latest")
	e.pull("models/big", "v61")
	e.pull("team-a/one", "v1")
	return p
}

// TestBrowser_Registry reads the populated registry in Chromium: the
// model card is rendered with its table and link, without the script or
// raw HTML, front matter as metadata; the dataset's members are listed;
// the versions are paginated and sorted; the compare view lists the file
// that changed; a namespace page lists its repositories; search finds
// repositories by tag, digest prefix and architecture.
func TestBrowser_Registry(t *testing.T) {
	ctx := browserWithin(t, 3*time.Minute)
	e := newEnv(t, envOptions{})
	p := populate(t, e)
	newest := p.big[len(p.big)-1]

	text := visit(t, ctx, e.URL+"/r/models/big@"+string(newest.Digest))
	mustContain(t, "model card", text, "Model card", "Big model", "accuracy", "0.91", "the paper", "license", "apache-2.0", "en, fr", "version v62")
	if n := count(t, ctx, `script:not([src="/static/copy.js"])`); n != 0 {
		t.Errorf("the version page has %d script elements besides ours", n)
	}
	for sel, want := range map[string]int{
		"article.card table": 1,
		`article.card a[href="https://example.org/paper"][rel="nofollow noopener"]`: 1,
		"article.card [onclick], article.card img, article.card div":                0,
		`#pull[tabindex="0"]`:           1,
		`button.copy-btn:not([hidden])`: 1, // the script ran and offered the button
		`a[href$="/compare"]`:           1,
		`td.path a[download]`:           4, // config.json, model.safetensors, notes.txt, README.md
	} {
		if n := count(t, ctx, sel); n != want {
			t.Errorf("version page: %d of %s, want %d", n, sel, want)
		}
	}
	if strings.Contains(text, `alert("card")`) || strings.Contains(text, "raw html") {
		t.Errorf("the card shows its script or raw HTML as content:\n%s", text)
	}
	screenshot(t, ctx, "version-card")

	text = visit(t, ctx, e.URL+"/r/datasets/chat@"+string(p.data.Digest))
	mustContain(t, "dataset", text, "archive", "31 files")
	if n := count(t, ctx, `details.members a[download][href*="/raw/"]`); n != 31 {
		t.Errorf("dataset page: %d member download links, want 31", n)
	}
	mustContain(t, "dataset members", textOf(t, ctx, "details.members"), "train/part-00.jsonl", "train/part-29.jsonl", "README.md")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("details.members summary"))); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "version-dataset")

	rows := func() int { return count(t, ctx, "table.versions tbody tr") }
	first := func() string { return textOf(t, ctx, "table.versions tbody tr td a.digest code") }
	visit(t, ctx, e.URL+"/r/models/big")
	if n := rows(); n != 25 {
		t.Errorf("repository page 1: %d versions, want 25", n)
	}
	if got := first(); got != string(newest.Digest)[:19] {
		t.Errorf("repository page 1 starts with %s, want the newest %s", got, newest.Digest)
	}
	if n := count(t, ctx, "table.timeline tbody tr"); n != 30 {
		t.Errorf("tag timeline: %d moves, want 30 (then a link to the rest)", n)
	}
	text = visit(t, ctx, e.URL+"/r/models/big")
	mustContain(t, "repository page", text, "62 versions", "page 1 of 3", "62 tags set once and never moved", "Show")
	screenshot(t, ctx, "repository")
	visit(t, ctx, e.URL+"/r/models/big?page=3")
	if n := rows(); n != bigVersions-50 {
		t.Errorf("repository page 3: %d versions, want %d", n, bigVersions-50)
	}
	visit(t, ctx, e.URL+"/r/models/big?sort=size")
	if got := first(); got != string(p.largest.Digest)[:19] {
		t.Errorf("sorted by size, the first version is %s, want the largest %s", got, p.largest.Digest)
	}
	visit(t, ctx, e.URL+"/r/models/big?sort=time-asc")
	if got := first(); got != string(p.big[0].Digest)[:19] {
		t.Errorf("sorted oldest first, the first version is %s, want %s", got, p.big[0].Digest)
	}

	text = visit(t, ctx, e.URL+"/r/models/big@"+string(newest.Digest)+"/compare")
	mustContain(t, "compare", text, "README.md", "notes.txt", "added", "changed", "descriptor.version", "v61", "v62",
		"org.opencontainers.image.revision")
	if n := count(t, ctx, "table.diff tr.changed"); n < 1 {
		t.Errorf("compare view: no changed file")
	}
	screenshot(t, ctx, "compare")

	text = visit(t, ctx, e.URL+"/r/team-a")
	mustContain(t, "namespace", text, "team-a/one", "team-a/two", "2 repositories")
	screenshot(t, ctx, "namespace")

	_, hex, _ := strings.Cut(string(p.teamOne.Digest), ":")
	for q, want := range map[string][]string{
		"v61":               {"models/big"},
		hex[:10]:            {"team-a/one"},
		"sha256:" + hex[:8]: {"team-a/one"},
		"mistral":           {"team-a/one", "team-a/two"},
	} {
		visit(t, ctx, e.URL+"/?q="+url.QueryEscape(q))
		if n := count(t, ctx, "table.repos tbody tr"); n != len(want) {
			t.Errorf("search %q: %d results, want %v", q, n, want)
		}
		for _, w := range want {
			if count(t, ctx, `a.repo[href="/r/`+w+`"]`) != 1 {
				t.Errorf("search %q does not find %s", q, w)
			}
		}
	}
	visit(t, ctx, e.URL+"/?q=mistral")
	screenshot(t, ctx, "search")
	visit(t, ctx, e.URL+"/")
	screenshot(t, ctx, "index")
	visit(t, ctx, e.URL+"/access")
	screenshot(t, ctx, "access-top")

	// The phone's width: cards, no sideways scrolling.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	for _, pg := range []struct{ path, shot string }{
		{"/", "index-phone"},
		{"/r/models/big", "repository-phone-top"},
		{"/r/models/big@" + string(newest.Digest), "version-phone"},
		{"/access", "access-phone-top"},
	} {
		visit(t, ctx, e.URL+pg.path)
		screenshot(t, ctx, pg.shot)
	}
}

// hrefRe finds the links and resources of a page.
var hrefRe = regexp.MustCompile(`(?:href|src)="([^"]*)"`)

// TestCrawl follows every link of every page of the populated registry,
// from the index: each answers 200 (a tag's page 303 to its version,
// which is then followed), and none points off the site but the card's
// own link. With authentication on, a user who may read team-a only
// crawls without meeting a link she cannot follow, and an anonymous
// visitor meets the login redirect.
func TestCrawl(t *testing.T) {
	e := newEnv(t, envOptions{})
	populate(t, e)
	if n := crawl(t, e, client(t)); n < 300 {
		t.Errorf("crawled %d pages; the populated registry has more", n)
	}

	a := newEnv(t, envOptions{Auth: teamAuth()})
	populate(t, a)
	anon := client(t)
	if code, h, _ := get(t, anon, a.URL+"/"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("anonymous /: %d to %q, want the login redirect", code, h.Get("Location"))
	}
	alice := client(t)
	if resp := login(t, alice, a.URL, "alice", "ecila"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	if n := crawl(t, a, alice); n < 10 {
		t.Errorf("alice crawled %d pages", n)
	}
}

// crawl follows every same-site link from / with c and returns how many
// pages and resources it fetched; every one must answer 200, a 303 to a
// version (followed) or the login redirect.
func crawl(t *testing.T, e *env, c *http.Client) int {
	t.Helper()
	seen := map[string]string{"/": "start"}
	queue := []string{"/"}
	const maxPages = 6000
	pages := 0
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		pages++
		if pages > maxPages {
			t.Fatalf("more than %d pages: the crawl does not end", maxPages)
		}
		resp, err := c.Get(e.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		var body []byte
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			body = readAll(t, resp)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		switch {
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login"):
			continue
		case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/r/"):
			if _, ok := seen[loc]; !ok {
				seen[loc] = u
				queue = append(queue, loc)
			}
			continue
		case resp.StatusCode != http.StatusOK:
			t.Errorf("%s (linked from %s): %d", u, seen[u], resp.StatusCode)
			continue
		}
		for _, m := range hrefRe.FindAllSubmatch(body, -1) {
			link := html.UnescapeString(string(m[1]))
			link, _, _ = strings.Cut(link, "#")
			if link == "" || strings.HasPrefix(link, "https://example.org/") || strings.HasPrefix(link, "http://www.w3.org/") {
				continue
			}
			if !strings.HasPrefix(link, "/") || strings.HasPrefix(link, "//") {
				t.Errorf("%s links off the site: %s", u, link)
				continue
			}
			if _, ok := seen[link]; !ok {
				seen[link] = u
				queue = append(queue, link)
			}
		}
	}
	t.Logf("crawled %d pages and resources", pages)
	return pages
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return []byte(b.String())
}
