package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"cairn.dev/cairn/registry/storage"
)

// hostile pushes a model whose annotations, file names and config carry
// HTML and script, and an access record with HTML in every free field.
func hostile(t testing.TB, e *env) string {
	desc := e.pushModel("models/evil", "v1", map[string]string{
		"x<script>alert(1)</script>.txt":  "a",
		"<img src=x onerror=alert(2)>.md": "b",
		"docs/\"><svg onload=alert(3)>":   "c",
	}, map[string]string{
		"org.opencontainers.image.description": `<script>alert("annotation")</script>`,
		`<b onmouseover=alert(4)>key</b>`:      `javascript:alert(5)`,
	})
	_, err := e.Meta.AppendAccess(context.Background(), storage.AccessRecord{
		Principal: `<script>alert("principal")</script>`, Address: `<i>addr</i>`, Action: storage.ActionPull,
		Repository: "models/evil", Reference: `<script>alert("ref")</script>`, Result: storage.ResultDenied,
		Detail: `<img src=x onerror=alert(6)>`,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(desc.Digest)
}

var hostilePages = []string{"/", "/r/models/evil", "/access", "/?q=" + url.QueryEscape(`<script>alert("q")</script>`),
	"/access?principal=" + url.QueryEscape(`<script>alert("principal")</script>`)}

// TestEscape_HTTP: what users push is escaped in the HTML itself.
func TestEscape_HTTP(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := hostile(t, e)
	c := client(t)
	for _, p := range append(hostilePages, "/r/models/evil@"+d) {
		_, _, body := get(t, c, e.URL+p)
		// The one script the layout loads, from /static.
		body = strings.Replace(body, ourScript, "", 1)
		for _, bad := range []string{"<script", "<img src=x", "<svg onload", "<b onmouseover", `href="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q unescaped", p, bad)
			}
		}
	}
	_, _, body := get(t, c, e.URL+"/r/models/evil@"+d)
	mustContain(t, "version page", body, "x&lt;script&gt;alert(1)&lt;/", "script&gt;.txt", "&lt;script&gt;alert(&#34;annotation&#34;)&lt;/script&gt;")
}

// ourScript is the script element of the layout: the copy buttons.
const ourScript = `<script src="/static/copy.js" defer></script>`

// TestBrowser_Escape: in Chromium the hostile text is text: no script,
// image or SVG element comes of it, no script runs, and the text reads
// as pushed.
func TestBrowser_Escape(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, envOptions{})
	d := hostile(t, e)
	for _, p := range append(hostilePages, "/r/models/evil@"+d) {
		text := visit(t, ctx, e.URL+p)
		for _, sel := range []string{`script:not([src="/static/copy.js"])`, "img[src=x]", "main svg[onload]", "b[onmouseover]", `a[href^="javascript:"]`, "i"} {
			if n := count(t, ctx, sel); n != 0 {
				t.Errorf("%s: %d %s elements", p, n, sel)
			}
		}
		if p == "/access" {
			mustContain(t, p, text, `<script>alert("principal")</script>`, `<img src=x onerror=alert(6)>`)
		}
	}
	text := visit(t, ctx, e.URL+"/r/models/evil@"+d)
	mustContain(t, "version page", text, "x<script>alert(1)</script>.txt", "<img src=x onerror=alert(2)>.md",
		`docs/"><svg onload=alert(3)>`, `<script>alert("annotation")</script>`, "javascript:alert(5)")
}

// bidiName is a file whose name reads "reportexe.pdf" where bidirectional
// controls are honoured: the override reverses what follows it.
const bidiName = "docs/report\u202efdp.exe"

// pushBidi pushes a model whose file name, annotation key and value hide
// invisible and bidirectional characters.
func pushBidi(t testing.TB, e *env) string {
	d := e.pushModel("models/bidi", "v1", map[string]string{bidiName: "MZ", "config.json": "{}"},
		map[string]string{"org.example.note\u2066": "safe\u200b\u202ehctap", "org.example.colour": "\x1b[31mred"})
	return string(d.Digest)
}

// TestEscape_Bidi: invisible and bidirectional characters in file names
// and annotations are shown escaped (\u202e), never sent as themselves.
func TestEscape_Bidi(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := pushBidi(t, e)
	_, _, body := get(t, client(t), e.URL+"/r/models/bidi@"+d)
	mustContain(t, "version page", body, `report\u202efdp.exe`, `org.example.note\u2066`, `safe\u200b\u202ehctap`, `\u001b[31mred`)
	for _, r := range []string{"\u202e", "\u2066", "\u200b", "\x1b"} {
		if strings.Contains(body, r) {
			t.Errorf("the page holds %q unescaped", r)
		}
	}
}
