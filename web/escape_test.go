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
		for _, bad := range []string{"<script", "<img src=x", "<svg onload", "<b onmouseover", `href="javascript:`} {
			if strings.Contains(body, bad) {
				t.Errorf("%s contains %q unescaped", p, bad)
			}
		}
	}
	_, _, body := get(t, c, e.URL+"/r/models/evil@"+d)
	mustContain(t, "version page", body, "x&lt;script&gt;alert(1)&lt;/", "script&gt;.txt", "&lt;script&gt;alert(&#34;annotation&#34;)&lt;/script&gt;")
}

// TestBrowser_Escape: in Chromium the hostile text is text: no script,
// image or SVG element comes of it, no script runs, and the text reads
// as pushed.
func TestBrowser_Escape(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, envOptions{})
	d := hostile(t, e)
	for _, p := range append(hostilePages, "/r/models/evil@"+d) {
		text := visit(t, ctx, e.URL+p)
		for _, sel := range []string{"script", "img[src=x]", "main svg[onload]", "b[onmouseover]", `a[href^="javascript:"]`, "i"} {
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
