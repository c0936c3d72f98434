package auth

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB) *signer {
	s, err := newSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSigner(t *testing.T) {
	s := testSigner(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := claims{Access: []Access{{Type: TypeRepository, Name: "a/b", Actions: []string{ActionPull}}}, Use: useAccess}
	c.Subject = "alice"
	tok, err := s.issue(c, now, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.verify(tok, now.Add(time.Minute), useAccess)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "alice" || len(got.Access) != 1 || got.Access[0].String() != "repository:a/b:pull" {
		t.Errorf("claims read back: %+v", got)
	}
	refuse := func(what, tok string, at time.Time, use string) {
		t.Helper()
		if _, err := s.verify(tok, at, use); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrTokenInvalid", what, err)
		}
	}
	refuse("expired", tok, now.Add(5*time.Minute+time.Second), useAccess)
	refuse("not yet valid", tok, now.Add(-time.Minute), useAccess)
	refuse("used as a refresh token", tok, now, useRefresh)
	other, _ := newSigner([]byte("another key, also 32 bytes long!"))
	if _, err := other.verify(tok, now, useAccess); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("verified under another key: %v", err)
	}
	parts := strings.Split(tok, ".")
	// Tampered claims: more access, same signature.
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.Replace(string(payload), `"pull"`, `"push"`, 1)
	refuse("tampered claims", parts[0]+"."+base64.RawURLEncoding.EncodeToString([]byte(forged))+"."+parts[2], now, useAccess)
	// alg none and other algorithms.
	for _, hdr := range []string{`{"alg":"none","typ":"JWT"}`, `{"alg":"HS512","typ":"JWT"}`, `{"alg":"RS256","typ":"JWT"}`} {
		h := base64.RawURLEncoding.EncodeToString([]byte(hdr))
		refuse("header "+hdr, h+"."+parts[1]+".", now, useAccess)
		refuse("header "+hdr+" with the signature", h+"."+parts[1]+"."+parts[2], now, useAccess)
	}
	refuse("empty", "", now, useAccess)
	refuse("garbage", "a.b.c", now, useAccess)
	refuse("too long", strings.Repeat("a", maxBearerLength+1), now, useAccess)
	// A token without a subject is not accepted.
	c.Subject = ""
	anon, _ := s.issue(c, now, time.Minute)
	refuse("no subject", anon, now, useAccess)
}

func TestParseChallenge(t *testing.T) {
	scheme, p, err := ParseChallenge(`Bearer realm="https://h:5000/token",service="h:5000",scope="repository:a/b:pull,push repository:c:pull",error="insufficient_scope"`)
	if err != nil {
		t.Fatal(err)
	}
	if scheme != "bearer" || p["realm"] != "https://h:5000/token" || p["service"] != "h:5000" ||
		p["scope"] != "repository:a/b:pull,push repository:c:pull" || p["error"] != "insufficient_scope" {
		t.Errorf("ParseChallenge: %s %v", scheme, p)
	}
	_, p, err = ParseChallenge(`Basic realm="a \"quoted\" \\ realm", charset=UTF-8`)
	if err != nil || p["realm"] != `a "quoted" \ realm` || p["charset"] != "UTF-8" {
		t.Errorf("ParseChallenge with escapes: %v %v", p, err)
	}
	for _, bad := range []string{``, `"Bearer"`, `Bearer realm="x`, `Bearer realm=x,realm=y`, `Bearer =x`, `Bearer realm=a"b`} {
		if _, _, err := ParseChallenge(bad); err == nil {
			t.Errorf("ParseChallenge(%q) accepted", bad)
		}
	}
	if quote(`a"b\c`) != `"a\"b\\c"` {
		t.Errorf("quote: %s", quote(`a"b\c`))
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
