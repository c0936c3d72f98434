package web_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core release the accessibility test runs.
const axeVersion = "4.10.3"

// axeSource returns axe.min.js: from $CAIRN_AXE (a file), else from the
// user's cache, else fetched once with `npm pack axe-core@axeVersion` into
// that cache. Without npm or the registry the test is skipped, saying so.
func axeSource(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAIRN_AXE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("CAIRN_AXE: %v", err)
		}
		return string(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "cairn-test", "axe-core-"+axeVersion)
	file := filepath.Join(dir, "axe.min.js")
	if b, err := os.ReadFile(file); err == nil {
		return string(b)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("accessibility check skipped: npm is not installed to fetch axe-core (or set CAIRN_AXE to axe.min.js)")
	}
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "pack", "axe-core@"+axeVersion, "--silent", "--pack-destination", tmp)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("accessibility check skipped: npm pack axe-core@%s failed (no registry?): %v\n%s", axeVersion, err, out)
	}
	b, err := extractFromTgz(filepath.Join(tmp, "axe-core-"+axeVersion+".tgz"), "package/axe.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		os.WriteFile(file, b, 0o644)
	}
	return string(b)
}

// extractFromTgz reads one file of a gzipped tar.
func extractFromTgz(path, name string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s in %s: %w", name, path, err)
		}
		if h.Name == name {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}

// violation is one axe-core finding.
type violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeRun runs axe-core on the loaded page (WCAG 2.0-2.2 A and AA rules and
// best practices) and returns the serious and critical violations.
func axeRun(t *testing.T, ctx context.Context, src string) []violation {
	t.Helper()
	if ok, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)); !ok {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[any](src+";0")); err != nil {
			t.Fatalf("load axe-core: %v", err)
		}
	}
	js := `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}, resultTypes: ["violations"]})
	.then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " " + (n.failureSummary || "").replace(/\s+/g, " "))}))))`
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	var vs []violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestBrowser_Accessibility runs axe-core on every kind of page of the
// populated registry, at 1,280 and 390 px wide, in the light and the dark
// theme: no serious or critical violation (contrast of text and controls,
// names of controls and links, landmarks, ...). No page may scroll
// sideways, at either width.
func TestBrowser_Accessibility(t *testing.T) {
	src := axeSource(t)
	ctx := browserWithin(t, 5*time.Minute)
	e := newEnv(t, envOptions{})
	p := populate(t, e)
	newest := string(p.big[len(p.big)-1].Digest)
	pages := []string{
		"/",
		"/?q=mistral",
		"/r/team-a",
		"/r/models/big",
		"/r/models/big?moves=all",
		"/r/models/big@" + newest,
		"/r/models/big@" + newest + "/compare",
		"/r/models/big@" + string(p.big[0].Digest) + "/compare",
		"/r/datasets/chat@" + string(p.data.Digest),
		"/access",
		"/access?challenges=show&action=pull",
		"/access?before=abc",
		"/r/no/such",
	}
	for _, width := range []int64{1280, 390} {
		for _, theme := range []string{"light", "dark"} {
			height := int64(900)
			var opts []chromedp.EmulateViewportOption
			if width < 600 {
				height, opts = 844, []chromedp.EmulateViewportOption{chromedp.EmulateMobile}
			}
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: theme}}}); err != nil {
				t.Fatal(err)
			}
			for _, pg := range pages {
				if err := chromedp.Do(ctx, chromedp.Navigate(e.URL+pg), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
					t.Fatalf("load %s: %v", pg, err)
				}
				where := fmt.Sprintf("%s at %d px, %s", pg, width, theme)
				for _, v := range axeRun(t, ctx, src) {
					t.Errorf("%s: %s %s (%s): %s", where, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "; "))
				}
				{ // no page scrolls sideways, at 1,280 px (the access log) nor at 390 px
					wide, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
					if err != nil {
						t.Fatal(err)
					}
					if wide > 0 {
						culprits, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1).slice(0, 5).map(e => e.tagName + "." + e.className).join(", ")`))
						t.Errorf("%s: the page scrolls sideways by %d px (%s)", where, wide, culprits)
					}
				}
			}
		}
	}
}
