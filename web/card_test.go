package web

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestRenderCard_Sanitised(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
		not       []string
	}{
		{"table and link", "| a | b |\n|---|---|\n| 1 | 2 |\n\n[x](https://example.org/p)\n",
			[]string{"<table>", "<td>1</td>", `<a href="https://example.org/p" rel="nofollow noopener">x</a>`}, nil},
		{"script", "<script>alert(1)</script>\n\ntext", []string{"text"}, []string{"<script", "alert(1)"}},
		{"raw html", `<div onclick="alert(1)">x</div><img src=x onerror=alert(2)><iframe src="https://evil.example"></iframe>`,
			nil, []string{"<div", "onclick", "<img", "onerror", "<iframe"}},
		{"javascript link", "[x](javascript:alert(1))", nil, []string{"javascript:"}},
		{"data link", "[x](data:text/html,<script>alert(1)</script>)", nil, []string{"data:", "<script"}},
		{"autolink", "<https://example.org>", []string{`rel="nofollow noopener"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := RenderCard([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(string(got), n) {
					t.Errorf("contains %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestRenderCard_FrontMatter(t *testing.T) {
	body, meta, err := RenderCard([]byte("---\nlicense: mit\ntags: [a, b]\nmodel-index:\n  - name: x\n---\n# Title\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range meta {
		got[kv.Key] = kv.Value
	}
	if got["license"] != "mit" || got["tags"] != "a, b" || !strings.Contains(got["model-index"], "name: x") {
		t.Errorf("front matter %v", got)
	}
	if !strings.Contains(string(body), "<h1") || strings.Contains(string(body), "license") {
		t.Errorf("body %s", body)
	}
	// Not YAML: left in the text.
	body, meta, _ = RenderCard([]byte("---\n: : :\n---\ntext\n"))
	if meta != nil || !strings.Contains(string(body), "text") {
		t.Errorf("bad front matter: meta %v body %s", meta, body)
	}
}

func TestRenderCard_TooLarge(t *testing.T) {
	if _, _, err := RenderCard(make([]byte, MaxCardSize+1)); !errors.Is(err, ErrCardTooLarge) {
		t.Errorf("err %v, want ErrCardTooLarge", err)
	}
}

func tarOf(t testing.TB, names ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(n)), Typeflag: tar.TypeReg})
		tw.Write([]byte(n))
	}
	tw.Close()
	return buf.Bytes()
}

func TestReadMembers_TarAndGzip(t *testing.T) {
	plain := tarOf(t, "a/one.txt", "../escape.txt", "b/two.txt")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	for name, b := range map[string][]byte{"tar": plain, "tar+gzip": gz.Bytes()} {
		var got []string
		if err := readMembers(bytes.NewReader(b), func(m member) { got = append(got, m.Name) }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.Join(got, " ") != "a/one.txt escape.txt b/two.txt" {
			t.Errorf("%s: members %v", name, got)
		}
		r, n, done, err := openMember(bytes.NewReader(b), "b/two.txt")
		if err != nil || n != int64(len("b/two.txt")) {
			t.Fatalf("%s: open member: %v", name, err)
		}
		var out bytes.Buffer
		out.ReadFrom(r)
		done()
		if out.String() != "b/two.txt" {
			t.Errorf("%s: member bytes %q", name, out.String())
		}
	}
}

func FuzzRenderCard(f *testing.F) {
	f.Add([]byte(card0))
	f.Add([]byte("---\na: [1, {b: c}]\n---\n<script>x</script>[l](javascript:x)"))
	f.Fuzz(func(t *testing.T, src []byte) {
		out, _, err := RenderCard(src)
		if err != nil {
			return
		}
		z := html.NewTokenizer(strings.NewReader(string(out)))
		for {
			tt := z.Next()
			if tt == html.ErrorToken {
				return
			}
			if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
				continue
			}
			tok := z.Token()
			switch tok.Data {
			case "script", "style", "iframe", "object", "embed", "form", "input", "svg", "math", "base", "meta", "link":
				t.Fatalf("rendered card has a %s element: %s", tok.Data, out)
			}
			for _, a := range tok.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") || a.Key == "style" || a.Key == "srcdoc" ||
					(a.Key == "href" || a.Key == "src") && (strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:")) {
					t.Fatalf("rendered card has %s=%q on %s: %s", a.Key, a.Val, tok.Data, out)
				}
			}
		}
	})
}

const card0 = "# t\n\n| a |\n|---|\n| <b onclick=x>1</b> |\n\n<img src=x onerror=y>"

func FuzzReadMembers(f *testing.F) {
	f.Add(tarOf(f, "a", "b/c"))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		readMembers(bytes.NewReader(b), func(m member) {
			n++
			if strings.HasPrefix(m.Name, "/") || strings.HasPrefix(m.Name, "../") {
				t.Fatalf("member name %q escapes", m.Name)
			}
		})
	})
}
