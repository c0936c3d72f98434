package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"cairn.dev/cairn/verify/lineage"
)

// teams pushes two teams' models; team-a's model is built from team-b's
// dataset, so team-a's lineage leads to a repository team-a cannot read.
func teams(t testing.TB, e *env) (a, b string) {
	data := e.pushModel("team-b/secret-data", "v1", map[string]string{"rows.jsonl": "{}\n"}, nil)
	bm := e.pushModel("team-b/model", "v1", map[string]string{"model.safetensors": safetensors(4)}, nil)
	am := e.pushModel("team-a/model", "v1", map[string]string{"model.safetensors": safetensors(4)}, nil)
	e.attest("team-a/model", am, "https://ci.example/train", nil, lineage.Dependency{Name: e.Host + "/team-b/secret-data", Digest: data.Digest, Role: "dataset"})
	e.attest("team-b/model", bm, "https://ci.example/train", nil, lineage.Dependency{Name: e.Host + "/team-a/model", Digest: am.Digest, Role: "base-model"})
	e.pull("team-a/model", "v1")
	e.pull("team-b/model", "v1")
	return string(am.Digest), string(bm.Digest)
}

func teamAuth() *testAuth {
	return &testAuth{grants: map[string][]string{"alice": {"team-a/*"}, "root": nil}, admins: map[string]bool{"root": true}}
}

// TestAuth_Visibility: with auth on, anonymous visitors are sent to the
// login page, and a user who may read team-a/* sees team-a and nothing of
// team-b: not in the list, search, pages, lineage or the access log.
func TestAuth_Visibility(t *testing.T) {
	e := newEnv(t, envOptions{Auth: teamAuth()})
	a, b := teams(t, e)

	anon := client(t)
	for _, p := range []string{"/", "/r/team-a/model", "/r/team-a/model@" + a, "/access", "/?q=team"} {
		code, h, _ := get(t, anon, e.URL+p)
		if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") {
			t.Errorf("anonymous %s: %d %q, want a redirect to /login", p, code, h.Get("Location"))
		}
	}
	if code, _, body := get(t, anon, e.URL+"/login"); code != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Errorf("login page: %d\n%s", code, body)
	}
	if code, _, _ := get(t, anon, e.URL+"/static/style.css"); code != http.StatusOK {
		t.Errorf("the stylesheet needs no login: %d", code)
	}

	// Wrong password: refused, no session.
	bad := client(t)
	if resp := login(t, bad, e.URL, "alice", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %d", resp.StatusCode)
	}
	if code, _, _ := get(t, bad, e.URL+"/"); code != http.StatusSeeOther {
		t.Errorf("after a refused login: %d", code)
	}

	alice := client(t)
	resp := login(t, alice, e.URL, "alice", "ecila")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cairn_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", session)
	}

	notB := func(what, body string) {
		t.Helper()
		for _, s := range []string{"team-b", b, "secret-data"} {
			if strings.Contains(body, s) {
				t.Errorf("%s shows %q to alice", what, s)
			}
		}
	}
	for _, p := range []string{"/", "/?q=team", "/?q=model", "/r/team-a/model", "/r/team-a/model@" + a, "/access", "/access?action=pull"} {
		code, _, body := get(t, alice, e.URL+p)
		if code != http.StatusOK {
			t.Errorf("alice %s: %d", p, code)
			continue
		}
		notB(p, body)
		if !strings.Contains(body, "team-a/model") {
			t.Errorf("alice %s: team-a/model is missing", p)
		}
	}
	_, _, body := get(t, alice, e.URL+"/r/team-a/model@"+a)
	mustContain(t, "alice's version page", body, "not visible")
	// A search or filter naming team-b finds nothing (the page repeats only
	// what alice typed).
	for _, p := range []string{"/?q=team-b", "/?q=secret", "/access?repository=team-b/model", "/access?repository=team-b/secret-data&action=pull"} {
		_, _, body := get(t, alice, e.URL+p)
		for _, s := range []string{b, `href="/r/team-b`, "team-b/model@", `<td class="num">`} {
			if strings.Contains(body, s) {
				t.Errorf("%s shows %q to alice", p, s)
			}
		}
	}

	// team-b's pages look exactly like pages that do not exist.
	_, _, missing := get(t, alice, e.URL+"/r/team-c/none")
	for _, p := range []string{"/r/team-b/model", "/r/team-b/model@" + b, "/r/team-b/model:v1", "/r/team-b/secret-data"} {
		code, _, body := get(t, alice, e.URL+p)
		if code != http.StatusNotFound || body != missing {
			t.Errorf("alice %s: %d, want the 404 of a missing page", p, code)
		}
		notB(p, body)
	}

	// An admin sees everything, the whole access log included.
	root := client(t)
	login(t, root, e.URL, "root", "toor")
	_, _, body = get(t, root, e.URL+"/")
	mustContain(t, "root's index", body, "team-a/model", "team-b/model", "team-b/secret-data")
	_, _, body = get(t, root, e.URL+"/access")
	mustContain(t, "root's access log", body, "team-a/model", "team-b/model")

	// Logout needs the form's CSRF token and ends the session.
	if resp, err := alice.PostForm(e.URL+"/logout", url.Values{}); err != nil || resp.StatusCode == http.StatusSeeOther {
		t.Errorf("logout without a CSRF token: %v %v", err, resp.StatusCode)
	}
	_, _, page := get(t, alice, e.URL+"/")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no logout form:\n%s", page)
	}
	if resp, err := alice.PostForm(e.URL+"/logout", url.Values{"_csrf": {m[1]}}); err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %v %v", err, resp.StatusCode)
	}
	if code, _, _ := get(t, alice, e.URL+"/"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want a redirect to /login", code)
	}
	// The old cookie itself no longer works either.
	stale := client(t)
	u, _ := url.Parse(e.URL)
	stale.Jar.SetCookies(u, []*http.Cookie{session})
	if code, _, _ := get(t, stale, e.URL+"/"); code != http.StatusSeeOther {
		t.Errorf("a logged-out session cookie still works: %d", code)
	}
}

// TestAuth_CSRF: a login form posted without the token, with a wrong one,
// or from another site is refused; a login only redirects within the site.
func TestAuth_CSRF(t *testing.T) {
	e := newEnv(t, envOptions{Auth: teamAuth()})
	c := client(t)
	_, _, body := get(t, c, e.URL+"/login")
	tok := csrfRe.FindStringSubmatch(body)[1]
	form := func(csrf, next string) url.Values {
		return url.Values{"_csrf": {csrf}, "user": {"alice"}, "password": {"ecila"}, "next": {next}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		header map[string]string
		want   int
	}{
		{"no token", form("", "/"), nil, http.StatusForbidden},
		{"wrong token", form("x"+tok, "/"), nil, http.StatusForbidden},
		{"cross-site", form(tok, "/"), map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site", form(tok, "/"), map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/login", strings.NewReader(tc.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		resp, err := c.PostForm(e.URL+"/login", form(tok, next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Errorf("next %q: %d %q, want a redirect to /", next, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestBrowser_Login logs in through the form in Chromium: sent to the
// login page, back to where the visitor was going, team-b nowhere.
func TestBrowser_Login(t *testing.T) {
	ctx := browser(t)
	e := newEnv(t, envOptions{Auth: teamAuth()})
	a, _ := teams(t, e)

	err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/r/team-a/model@"+a),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, e.URL+"/login?next=") {
		t.Fatalf("anonymous visitor at %s, want the login page", loc)
	}
	screenshot(t, ctx, "login")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name="user"]`), "alice"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "ecila"),
		chromedp.Click(chromedp.CSS(`section.login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`form.logout`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ = chromedp.Run(ctx, chromedp.Location()); loc != e.URL+"/r/team-a/model@"+a {
		t.Errorf("after login at %s, want the page asked for", loc)
	}
	text := visit(t, ctx, e.URL+"/r/team-a/model@"+a)
	mustContain(t, "version page", text, "team-a/model", "not visible")
	if who, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".who"))); who != "alice" {
		t.Errorf("header names %q, want alice", who)
	}
	if strings.Contains(text, "team-b") {
		t.Errorf("team-a's page shows team-b:\n%s", text)
	}
	text = visit(t, ctx, e.URL+"/")
	if !strings.Contains(text, "team-a/model") || strings.Contains(text, "team-b") {
		t.Errorf("index for alice:\n%s", text)
	}
	// Log out through the header's form.
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`form.logout button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="password"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	visit(t, ctx, e.URL+"/")
	if loc, _ = chromedp.Run(ctx, chromedp.Location()); !strings.HasPrefix(loc, e.URL+"/login") {
		t.Errorf("after logout at %s, want the login page", loc)
	}
}

// TestAuth_LoginThrottled: a login the auth layer throttles is answered 429
// with Retry-After and a page that says when to try again.
func TestAuth_LoginThrottled(t *testing.T) {
	e := newEnv(t, envOptions{Auth: teamAuth()})
	c := client(t)
	_, _, body := get(t, c, e.URL+"/login")
	tok := csrfRe.FindStringSubmatch(body)[1]
	resp, err := c.PostForm(e.URL+"/login", url.Values{"_csrf": {tok}, "user": {"alice"}, "password": {"throttled"}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" || !strings.Contains(string(b), "try again in 3 seconds") {
		t.Errorf("throttled login: %d, Retry-After %q\n%s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "cairn_session" && ck.Value != "" {
			t.Error("a throttled login got a session")
		}
	}
}
