package auth_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cairn.dev/cairn/registry/auth"
)

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip, so that the server sees it as the client address.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", "127.0.0.1:1")
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Skipf("cannot connect from %s on this system (Linux routes all of 127.0.0.0/8 to loopback)", ip)
	}
	if c != nil {
		c.Close()
	}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// call sends a request through c with Basic credentials (none when user
// and pass are empty) or a bearer token.
func (s *server) call(t *testing.T, c *http.Client, method, path, user, pass, bearer string, form url.Values) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" || pass != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestAuth_NoLockout: an attacker at 127.0.0.2 sends 50 wrong passwords for
// alice. The attacker's address gets 429 with Retry-After, even for the
// right password; alice at 127.0.0.1 still logs in at once with every
// kind of login, and the token she held keeps working. A user attacked
// from many addresses is only delayed, never refused.
func TestAuth_NoLockout(t *testing.T) {
	// The per-user delay is shortened so that the test does not wait
	// through it thirty times; its length changes nothing else.
	s := newServer(t, auth.Config{Throttle: auth.Throttle{UserMaxDelay: 10 * time.Millisecond}})
	s.addUser(t, "alice", "alice-password", "team-a/**", "read")
	s.addUser(t, "carol", "carol-password", "team-a/**", "read")
	img := s.pushImage(t, "team-a/m", "v1", []byte("layer"), nil)
	alice := clientFrom(t, "127.0.0.1")
	attacker := clientFrom(t, "127.0.0.2")
	scope := "/token?service=" + s.Host + "&scope=repository:team-a/m:pull"
	manifest := "/v2/team-a/m/manifests/" + img.Manifest.String()
	token := func(c *http.Client, user, pass string) (int, http.Header, string) {
		t.Helper()
		code, h, b := s.call(t, c, "GET", scope, user, pass, "", nil)
		var tr struct {
			Token string `json:"token"`
		}
		json.Unmarshal(b, &tr)
		return code, h, tr.Token
	}

	code, _, held := token(alice, "alice", "alice-password")
	if code != http.StatusOK || held == "" {
		t.Fatalf("alice's first login: %d", code)
	}

	var n401, n429 int
	retry := ""
	for i := range 50 {
		code, h, _ := token(attacker, "alice", "guess-"+strconv.Itoa(i))
		switch code {
		case http.StatusUnauthorized:
			n401++
		case http.StatusTooManyRequests:
			n429++
			retry = h.Get("Retry-After")
		default:
			t.Fatalf("guess %d: %d", i, code)
		}
	}
	t.Logf("50 guesses from 127.0.0.2: %d answered 401, %d answered 429 (Retry-After %s)", n401, n429, retry)
	if n401 != auth.DefaultPairBurst || n429 != 50-auth.DefaultPairBurst {
		t.Errorf("guesses: %d 401 and %d 429, want %d and %d", n401, n429, auth.DefaultPairBurst, 50-auth.DefaultPairBurst)
	}
	if secs, err := strconv.Atoi(retry); err != nil || secs < 1 || secs > int(auth.DefaultPairEvery.Seconds()) {
		t.Errorf("Retry-After %q, want 1 to %d seconds", retry, int(auth.DefaultPairEvery.Seconds()))
	}
	// The attacker's address learns nothing more, not even from the right
	// password (which alice's login has put in the credential cache).
	if code, h, _ := token(attacker, "alice", "alice-password"); code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Errorf("right password from the attacker's address: %d (Retry-After %q), want 429", code, h.Get("Retry-After"))
	}

	// Alice, from her own address: every way in works at once.
	if code, _, tok := token(alice, "alice", "alice-password"); code != http.StatusOK || tok == "" {
		t.Errorf("alice's GET /token during the attack: %d, want 200", code)
	}
	form := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "service": {s.Host}, "scope": {"repository:team-a/m:pull"}}
	if code, _, b := s.call(t, alice, "POST", "/token", "", "", "", form); code != http.StatusOK {
		t.Errorf("alice's POST /token during the attack: %d %s", code, b)
	}
	if code, _, _ := s.call(t, alice, "GET", manifest, "alice", "alice-password", "", nil); code != http.StatusOK {
		t.Errorf("alice's Basic manifest GET during the attack: %d", code)
	}
	if code, _, _ := s.call(t, alice, "GET", manifest, "", "", held, nil); code != http.StatusOK {
		t.Errorf("the token alice held: %d, want 200", code)
	}
	// Her token works from the attacker's address too: tokens are never
	// throttled.
	if code, _, _ := s.call(t, attacker, "GET", manifest, "", "", held, nil); code != http.StatusOK {
		t.Errorf("alice's token from 127.0.0.2: %d, want 200", code)
	}

	// carol is attacked from five addresses, ten guesses each: more than
	// the per-user budget. Her first login (nothing cached) is delayed at
	// most, never refused.
	for i := 3; i <= 7; i++ {
		c := clientFrom(t, "127.0.0."+strconv.Itoa(i))
		for j := range 10 {
			token(c, "carol", "guess-"+strconv.Itoa(j))
		}
	}
	if code, _, tok := token(alice, "carol", "carol-password"); code != http.StatusOK || tok == "" {
		t.Errorf("carol from a clean address after 50 guesses from 5 others: %d, want 200", code)
	}
}
