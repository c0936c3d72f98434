package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in       string
		patterns bool
		want     string // formatted; "" means an error
	}{
		{"repository:team-a/m:pull", false, "repository:team-a/m:pull"},
		{"repository:team-a/m:push,pull", false, "repository:team-a/m:pull,push"},
		{"repository:team-a/m:pull,pull,push", false, "repository:team-a/m:pull,push"},
		{"repository:team-a/m:*", false, "repository:team-a/m:delete,pull,push"},
		{"repository:team-a/m:delete", false, "repository:team-a/m:delete"},
		{"repository(plugin):team-a/m:pull", false, "repository:team-a/m:pull"},
		{"registry:catalog:*", false, "registry:catalog:*"},
		{"registry:admin:*", false, "registry:admin:*"},
		{"registry:tokens:*", false, "registry:tokens:*"},
		{"repository:team-a/*:pull", true, "repository:team-a/*:pull"},
		{"repository:**:pull", true, "repository:**:pull"},
		{"repository:team-a/*:pull", false, ""}, // patterns only for API tokens
		{"repository:Team/m:pull", false, ""},
		{"repository:team-a/m:", false, ""},
		{"repository:team-a/m:write", false, ""},
		{"repository::pull", false, ""},
		{"repository:team-a/m", false, ""},
		{"repository", false, ""},
		{"", false, ""},
		{"registry:catalog:pull", false, ""},
		{"registry:other:*", false, ""},
		{"user:alice:pull", false, ""},
		{"repository:a:b:pull", false, ""},
		{"repository:" + strings.Repeat("a", 600) + ":pull", false, ""},
	} {
		got, err := ParseScope(tc.in, tc.patterns)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseScope(%q) = %v, want an error", tc.in, got)
		case tc.want == "" && !errors.Is(err, ErrScopeInvalid):
			t.Errorf("ParseScope(%q): %v, want ErrScopeInvalid", tc.in, err)
		case tc.want != "" && err != nil:
			t.Errorf("ParseScope(%q): %v", tc.in, err)
		case tc.want != "" && got.String() != tc.want:
			t.Errorf("ParseScope(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"repository:a:pull repository:b:push", "repository:a:push", " registry:catalog:* "}, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := scopeString(got); s != "repository:a:pull,push repository:b:push registry:catalog:*" {
		t.Errorf("ParseScopes = %s", s)
	}
	many := slices.Repeat([]string{"repository:a:pull"}, MaxScopes+1)
	if _, err := ParseScopes(many, false); !errors.Is(err, ErrScopeInvalid) {
		t.Errorf("%d scopes: %v, want ErrScopeInvalid", len(many), err)
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a", true},
		{"**", "a/b/c", true},
		{"team-a/*", "team-a/m", true},
		{"team-a/*", "team-a", false},
		{"team-a/*", "team-a/m/n", false},
		{"team-a/*", "team-ab/m", false},
		{"team-a/**", "team-a", true},
		{"team-a/**", "team-a/m", true},
		{"team-a/**", "team-a/m/n", true},
		{"team-a/**", "team-ab/m", false},
		{"**/weights", "a/b/weights", true},
		{"**/weights", "weights", true},
		{"**/weights", "a/weights2", false},
		{"a/**/z", "a/z", true},
		{"a/**/z", "a/b/c/z", true},
		{"a/**/z", "a/b/c/y", false},
		{"models/llama-*", "models/llama-8b", true},
		{"models/llama-*", "models/llama-", true},
		{"models/llama-*", "models/mistral", false},
		{"models/*-8b", "models/llama-8b", true},
		{"*", "a", true},
		{"*", "a/b", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"exact/name", "exact/name", true},
		{"exact/name", "exact/name2", false},
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestValidPattern(t *testing.T) {
	for _, p := range []string{"**", "a", "team-a/*", "a/**/b", "*-8b", "a.b_c-d/*"} {
		if !ValidPattern(p) {
			t.Errorf("ValidPattern(%q) = false", p)
		}
	}
	for _, p := range []string{"", "/", "a/", "/a", "a//b", "***", "a**", "A", "a b", "a:b", "a\x00", strings.Repeat("a", 256)} {
		if ValidPattern(p) {
			t.Errorf("ValidPattern(%q) = true", p)
		}
	}
}

func TestGrantSet(t *testing.T) {
	gs := grantSet{
		{Pattern: "team-a/*", Role: "read"},
		{Pattern: "team-a/special", Role: "admin"},
		{Pattern: "**", Role: "bogus"},
	}
	for _, tc := range []struct {
		repo string
		want int
	}{{"team-a/m", 1}, {"team-a/special", 3}, {"team-b/m", 0}} {
		if got := gs.rank(tc.repo); got != tc.want {
			t.Errorf("rank(%s) = %d, want %d", tc.repo, got, tc.want)
		}
	}
	if gs.admin() {
		t.Error("admin() without admin on **")
	}
	if !append(gs, grantSet{{Pattern: "**", Role: "admin"}}...).admin() {
		t.Error("admin() with admin on **")
	}
}

func TestAPIToken(t *testing.T) {
	tok, id, hash := newAPIToken()
	got, ok := parseAPIToken(tok)
	if !ok || got != id || len(hash) != 32 || !validTokenID(id) {
		t.Fatalf("parseAPIToken(%q) = %q, %v (id %q)", tok, got, ok, id)
	}
	for _, bad := range []string{"", "cairn_", tok[:len(tok)-1], tok + "x", "cairn_XXXXXXXXXXXXXXXX" + tok[22:], strings.Replace(tok, "_", "-", 2), "password123"} {
		if _, ok := parseAPIToken(bad); ok {
			t.Errorf("parseAPIToken(%q) accepted", bad)
		}
	}
}

func TestValidUserName(t *testing.T) {
	for _, n := range []string{"admin", "alice", "a.b-c_d", "ci@example.com", "A1"} {
		if !ValidUserName(n) {
			t.Errorf("ValidUserName(%q) = false", n)
		}
	}
	for _, n := range []string{"", "anonymous", "token:abc", "a b", "a:b", "-a", ".a", "a/b", strings.Repeat("a", 65), "é"} {
		if ValidUserName(n) {
			t.Errorf("ValidUserName(%q) = true", n)
		}
	}
}
