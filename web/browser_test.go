package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

// chromiumPaths are where Debian's chromium and other builds live.
var chromiumPaths = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell",
	"/usr/lib/chromium/chromium", "/usr/bin/chromium"}

// findChromium returns a Chromium binary, or "".
func findChromium() string {
	if p := os.Getenv("CAIRN_CHROMIUM"); p != "" {
		return p
	}
	// Debian's /usr/bin/chromium is a wrapper script; the binary behind it
	// starts faster and ignores the wrapper's environment checks.
	if _, err := os.Stat("/usr/lib/chromium/chromium"); err == nil {
		return "/usr/lib/chromium/chromium"
	}
	for _, p := range chromiumPaths {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

// browser starts a headless Chromium for the test, or skips it when there
// is none. CI installs Debian's chromium (scripts/test), so there it runs.
func browser(t *testing.T) context.Context {
	t.Helper()
	return browserWithin(t, 60*time.Second)
}

// browserWithin is browser with the time the whole test may take.
func browserWithin(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	path := findChromium()
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("no chromium binary found, and CI must run the browser tests: scripts/test installs Debian's chromium")
		}
		t.Skip("no chromium binary found: install Debian's chromium (apt-get install chromium) or set CAIRN_CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, limit)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	// Any JavaScript dialog means a script ran: fail, and dismiss it.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			t.Errorf("a script opened a dialog: %q", ev.Message)
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return ctx
}

// screenshot saves a full-page PNG under $CAIRN_SCREENSHOTS when it is
// set (relative to the repository root); a name ending in -top saves the
// first screen only, under the name without it.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CAIRN_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	shot := chromedp.FullScreenshot(100)
	if strings.HasSuffix(name, "-top") {
		// Long pages (a full access log, 25 versions as cards): the first
		// screen shows the design; the whole would weigh megabytes.
		name, shot = strings.TrimSuffix(name, "-top"), chromedp.CaptureScreenshot()
	}
	buf, err := chromedp.Run(ctx, shot)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// visit loads a page and returns the visible text of its main element.
func visit(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("%s: read main: %v", url, err)
	}
	return text
}

// count returns how many elements of the page match a CSS selector.
func count(t *testing.T, ctx context.Context, selector string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+quoteJS(selector)+`).length`))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func quoteJS(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestBrowser_Pages pushes a dataset and a model built from it, moves the
// model's tag, signs and attests it, pulls it, and reads every page in
// Chromium.
func TestBrowser_Pages(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, envOptions{Policy: testPolicy})
	s := setup(t, e)

	text := visit(t, ctx, e.URL+"/")
	mustContain(t, "index", text, "models/llama", "datasets/chat", "allowed by policy", "refused by policy", "v1")
	if n := count(t, ctx, `a[href="/r/models/llama"]`); n != 1 {
		t.Errorf("index: %d links to the repository", n)
	}
	screenshot(t, ctx, "index")

	text = visit(t, ctx, e.URL+"/r/models/llama")
	mustContain(t, "repository", text, "Versions", "Tag timeline", s.v1[:19], s.v2[:19], "created")
	for _, d := range []string{s.v1, s.v2} {
		if n := count(t, ctx, `a[href="/r/models/llama@`+d+`"]`); n < 2 {
			t.Errorf("repository page: %d links to %s, want the version and its tag move", n, d)
		}
	}
	screenshot(t, ctx, "repository")

	text = visit(t, ctx, e.URL+"/r/models/llama@"+s.v2)
	mustContain(t, "version", text, "weights/shard/model-00001-of-00002.safetensors", "README.md", "config.json",
		"Signature", "verified", "key "+verify.KeyID(e.Key.GetPublicKey()), "Attestation", "https://ci.example/train", "epochs",
		"cairn pull "+e.Host+"/models/llama@"+s.v2, "datasets/chat", "safetensors")
	if n := count(t, ctx, `svg a[href="/r/datasets/chat@`+s.data+`"]`); n != 1 {
		t.Errorf("version page: lineage graph has %d links to the dataset", n)
	}
	if n := count(t, ctx, `svg a[href="/r/models/llama-chat@`+s.tuned+`"]`); n != 1 {
		t.Errorf("version page: lineage graph has %d links to the fine-tune", n)
	}
	screenshot(t, ctx, "version")

	// The dataset's page links to the model built from it.
	visit(t, ctx, e.URL+"/r/datasets/chat@"+s.data)
	if n := count(t, ctx, `svg a[href="/r/models/llama@`+s.v2+`"]`); n != 1 {
		t.Errorf("dataset page: lineage graph has %d links to the model", n)
	}

	text = visit(t, ctx, e.URL+"/access")
	mustContain(t, "access log", text, "Hash chain intact", "pull", "models/llama", "v1")
	if n := count(t, ctx, `a[href="/r/models/llama@`+s.v2+`"]`); n < 1 {
		t.Errorf("access log: the pull does not link to the version")
	}
	screenshot(t, ctx, "access")

	// The same version page on a phone's width.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile)); err != nil {
		t.Fatal(err)
	}
	visit(t, ctx, e.URL+"/r/models/llama@"+s.v2)
	screenshot(t, ctx, "version-phone")
}

// textOf returns the text of the first element matching selector, or "".
func textOf(t *testing.T, ctx context.Context, selector string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+quoteJS(selector)+`) || {textContent: ""}).textContent`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBrowser_Verdicts: under a policy, Chromium shows one verdict badge
// per version (allowed, refused, quarantined), the signers' key ids, the
// gate's reason and no pull command for a refused or quarantined version;
// without a policy, "signed by KEY…, not checked"; and a bidi file name
// escaped.
func TestBrowser_Verdicts(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, envOptions{Policy: verdictPolicy})
	keyID := verify.KeyID(e.Key.GetPublicKey())
	other, otherID := newKey(t)
	descs := map[string]ocispec.Descriptor{}
	model := func(tag, body string) string {
		d := e.pushModel("models/a", tag, map[string]string{"config.json": "{}", "model.safetensors": safetensors(4), "n.txt": body}, nil)
		descs[string(d.Digest)] = d
		return string(d.Digest)
	}
	signed, unsigned, byOther, quarantined := model("signed", "1"), model("unsigned", "2"), model("other", "3"), model("quarantined", "4")
	e.sign("models/a", descs[signed])
	e.signWith(other, "models/a", descs[byOther])
	e.sign("models/a", descs[quarantined])
	if err := e.Meta.SetQuarantine(context.Background(), storage.Quarantine{Repository: "models/a", Digest: digest.Digest(quarantined),
		Reason: "licence withdrawn", By: "security", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	bidi := pushBidi(t, e)

	for _, tc := range []struct {
		name, digest, state, label string
		want                       []string
		pull                       bool
		shot                       string
	}{
		{"allowed", signed, "allowed", "allowed by policy", []string{"Allowed by the registry's policy", `rules[1] "` + e.Host + `/**"`, "key " + keyID}, true, "version-allowed"},
		{"refused, unsigned", unsigned, "refused", "refused by policy", []string{"Refused by the registry's policy", "no signature", "No pull command"}, false, "version-refused"},
		{"refused, another key", byOther, "refused", "refused by policy", []string{"no signature verifies", "key " + otherID, "not verified"}, false, ""},
		{"quarantined", quarantined, "quarantined", "quarantined", []string{"Quarantined: licence withdrawn", "No pull command"}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := visit(t, ctx, e.URL+"/r/models/a@"+tc.digest)
			if n := count(t, ctx, ".badge.verdict"); n != 1 {
				t.Errorf("%d verdict badges", n)
			}
			if got := textOf(t, ctx, ".badge.verdict."+tc.state); got != tc.label {
				t.Errorf("badge %q, want %q", got, tc.label)
			}
			mustContain(t, tc.name, text, tc.want...)
			if got := count(t, ctx, "#pull") == 1 && strings.Contains(text, "cairn pull "); got != tc.pull {
				t.Errorf("pull command shown %t, want %t", got, tc.pull)
			}
			if strings.Contains(text, e.Dir) {
				t.Errorf("the page shows the server path %s", e.Dir)
			}
			if tc.shot != "" {
				screenshot(t, ctx, tc.shot)
			}
		})
	}
	// The signers' key ids, in the bundles of the refused version: the
	// trusted key in the reason, the other in the bundle.
	visit(t, ctx, e.URL+"/r/models/a@"+byOther)
	if got := textOf(t, ctx, "code.keyid"); got != otherID {
		t.Errorf("bundle key id %q, want %q", got, otherID)
	}

	text := visit(t, ctx, e.URL+"/r/models/a")
	for _, s := range []string{"allowed", "refused", "quarantined"} {
		if count(t, ctx, ".badge.verdict."+s) < 1 {
			t.Errorf("repository page: no %s badge", s)
		}
	}
	mustContain(t, "repository page", text, `rules[1] "`+e.Host+`/**"`)
	screenshot(t, ctx, "repository-verdicts")

	// The bidi file name reads escaped, never reversed.
	text = visit(t, ctx, e.URL+"/r/models/bidi@"+bidi)
	mustContain(t, "bidi version", text, `report\u202efdp.exe`, `safe\u200b\u202ehctap`)
	if strings.ContainsAny(text, "\u202e\u2066\u200b") {
		t.Errorf("the page shows a bidi or invisible character as itself")
	}
	screenshot(t, ctx, "version-bidi")

	// Without a policy: signed by a key id, not checked.
	np := newEnv(t, envOptions{})
	d := np.pushModel("models/n", "v1", map[string]string{"config.json": "{}", "model.safetensors": safetensors(4)}, nil)
	np.sign("models/n", d)
	npKey := verify.KeyID(np.Key.GetPublicKey())
	text = visit(t, ctx, np.URL+"/r/models/n@"+string(d.Digest))
	if got, want := textOf(t, ctx, ".badge.verdict.signed"), "signed by key "+npKey[:16]+"…, not checked"; got != want {
		t.Errorf("badge %q, want %q", got, want)
	}
	mustContain(t, "unchecked version", text, "no verification policy", "not checked", npKey)
	if count(t, ctx, "#pull") != 1 {
		t.Errorf("no pull command without a policy")
	}
	screenshot(t, ctx, "version-unchecked")
}
