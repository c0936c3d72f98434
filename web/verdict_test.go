package web_test

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/verifytest"
	"cairn.dev/cairn/web"
)

// verdictPolicy demands a signature by release.pub everywhere, and SLSA
// provenance from the release builder under models/built/.
const verdictPolicy = `version: 1
rules:
  - match: "%[1]s/models/built/*"
    signers:
      - key: release.pub
    attestations:
      - type: https://slsa.dev/provenance/v1
        builderId: https://ci.example/release
  - match: "%[1]s/**"
    signers:
      - key: release.pub
`

// badgeRe reads the verdict badge of a page: its state and its text.
var badgeRe = regexp.MustCompile(`<span class="badge verdict ([a-z]+)" data-verdict="[a-z]+">([^<]*)</span>`)

// badge returns the state and text of the first verdict badge in body.
func badge(t *testing.T, body string) (state, label string) {
	t.Helper()
	m := badgeRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no verdict badge in:\n%s", body)
	}
	return m[1], m[2]
}

// newKey returns a fresh signing key and its key id.
func newKey(t *testing.T) (*attest.Keypair, string) {
	t.Helper()
	k, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(k)
	if err != nil {
		t.Fatal(err)
	}
	return kp, verify.KeyID(k.Public())
}

// TestPages_PolicyVerdicts: with a policy, every version shows the gate's
// verdict: allowed naming the rule by index and match and its signer by
// key id; refused with the gate's reason and no pull command; quarantined
// with its reason and no pull command. Every bundle names its signer by
// key id, and no page shows a server file path.
func TestPages_PolicyVerdicts(t *testing.T) {
	e := newEnv(t, envOptions{Policy: verdictPolicy})
	keyID := verify.KeyID(e.Key.GetPublicKey())
	other, otherID := newKey(t)
	model := func(repo, tag, body string) ocispec.Descriptor {
		return e.pushModel(repo, tag, map[string]string{"config.json": "{}", "model.safetensors": safetensors(4), "n.txt": body}, nil)
	}
	signed := model("models/a", "signed", "1")
	e.sign("models/a", signed)
	unsigned := model("models/a", "unsigned", "2")
	byOther := model("models/a", "other", "3")
	e.signWith(other, "models/a", byOther)
	e.signWith(other, "models/a", byOther) // two reasons, joined on one line
	quarantined := model("models/a", "quarantined", "4")
	e.sign("models/a", quarantined)
	if err := e.Meta.SetQuarantine(context.Background(), storage.Quarantine{Repository: "models/a", Digest: quarantined.Digest,
		Reason: "licence withdrawn", By: "security", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	built := model("models/built/b", "v1", "5")
	e.sign("models/built/b", built)
	e.attest("models/built/b", built, "https://ci.example/release", nil)
	wrongBuilder := model("models/built/b", "v2", "6")
	e.sign("models/built/b", wrongBuilder)
	e.attest("models/built/b", wrongBuilder, "https://ci.example/laptop", nil)

	c := client(t)
	for _, tc := range []struct {
		name, repo string
		desc       ocispec.Descriptor
		state      string
		want       []string
	}{
		{"signed", "models/a", signed, "allowed", []string{"Allowed by the registry's policy", `rules[1] &#34;` + e.Host + `/**&#34;`, "key " + keyID}},
		{"unsigned", "models/a", unsigned, "refused", []string{"Refused by the registry's policy", "no signature"}},
		{"other key", "models/a", byOther, "refused", []string{"no signature verifies", "key " + otherID, "not verified"}},
		{"quarantined", "models/a", quarantined, "quarantined", []string{"Quarantined:", "licence withdrawn"}},
		{"built", "models/built/b", built, "allowed", []string{`rules[0] &#34;` + e.Host + `/models/built/*&#34;`, "https://ci.example/release"}},
		{"wrong builder", "models/built/b", wrongBuilder, "refused", []string{"https://ci.example/release", "https://ci.example/laptop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := get(t, c, e.URL+"/r/"+tc.repo+"@"+string(tc.desc.Digest))
			if code != http.StatusOK {
				t.Fatalf("%d\n%s", code, body)
			}
			if state, _ := badge(t, body); state != tc.state {
				t.Errorf("badge %q, want %q", state, tc.state)
			}
			if n := len(badgeRe.FindAllString(body, -1)); n != 1 {
				t.Errorf("%d verdict badges, want exactly one", n)
			}
			mustContain(t, tc.name, body, tc.want...)
			pull := strings.Contains(body, "cairn pull ")
			if want := tc.state == "allowed"; pull != want {
				t.Errorf("pull command shown: %t, want %t", pull, want)
			}
			if strings.Contains(body, `\u000a`) {
				t.Error("a reason shows an escaped newline: joined errors are not separated")
			}
			for _, p := range []string{e.Dir, e.PolicyFile, "release.pub", "policy.yaml"} {
				if strings.Contains(body, p) {
					t.Errorf("the page shows the server path %q", p)
				}
			}
		})
	}

	// The repository page and the index show the same states.
	_, _, body := get(t, c, e.URL+"/r/models/a")
	for _, want := range []string{"allowed", "refused", "quarantined"} {
		if !strings.Contains(body, `data-verdict="`+want+`"`) {
			t.Errorf("repository page lacks a %s badge", want)
		}
	}
	if n := len(badgeRe.FindAllString(body, -1)); n != 4 {
		t.Errorf("repository page: %d verdict badges for 4 versions", n)
	}
	// After a refused pull, no list page or the access log shows a server
	// path either.
	if _, _, err := e.repo("models/a").FetchReference(context.Background(), string(unsigned.Digest)); err == nil {
		t.Fatal("the gate allowed the unsigned version's manifest")
	}
	for _, p := range []string{"/", "/r/models/a", "/r/models/built/b", "/access"} {
		_, _, body := get(t, c, e.URL+p)
		if strings.Contains(body, e.Dir) {
			t.Errorf("%s shows the server path %q", p, e.Dir)
		}
	}
}

// TestPages_NoPolicyVerdicts: without a policy, a version says what is
// attached and that nothing was checked, naming the signer by the key id
// its bundle claims or its certificate identity.
func TestPages_NoPolicyVerdicts(t *testing.T) {
	e := newEnv(t, envOptions{})
	keyID := verify.KeyID(e.Key.GetPublicKey())
	model := func(tag string) ocispec.Descriptor {
		return e.pushModel("models/n", tag, map[string]string{"config.json": "{}", "n.txt": tag}, nil)
	}
	signed, attested, unsigned, keyless := model("signed"), model("attested"), model("unsigned"), model("keyless")
	e.sign("models/n", signed)
	e.attest("models/n", attested, "https://ci.example/train", nil)
	vs := verifytest.New(t)
	st, err := attest.Statement(keyless, e.Host+"/models/n", attest.PredicateCosignSign, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Attach(t.Context(), e.repo("models/n"), keyless, attest.PredicateCosignSign,
		vs.SignStatement(t, "trainer@example.com", "https://accounts.example.com", st)); err != nil {
		t.Fatal(err)
	}
	c := client(t)
	for _, tc := range []struct {
		name       string
		desc       ocispec.Descriptor
		state      string
		label      string
		want       []string
		pull       bool
		bundleKeys int
	}{
		{"signed", signed, "signed", "signed by key " + keyID[:16] + "…, not checked", []string{"key " + keyID, "not checked"}, true, 1},
		{"attested", attested, "attested", "attested, not checked", []string{"key " + keyID, "https://ci.example/train"}, true, 1},
		{"unsigned", unsigned, "unsigned", "unsigned", []string{"no signature or attestation"}, true, 0},
		{"keyless", keyless, "signed", "signed by trainer@example.com (https://accounts.example.com), not checked", []string{"trainer@example.com"}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, body := get(t, c, e.URL+"/r/models/n@"+string(tc.desc.Digest))
			state, label := badge(t, body)
			if state != tc.state || label != tc.label {
				t.Errorf("badge %q %q, want %q %q", state, label, tc.state, tc.label)
			}
			mustContain(t, tc.name, body, tc.want...)
			if got := strings.Contains(body, "cairn pull "); got != tc.pull {
				t.Errorf("pull command %t, want %t", got, tc.pull)
			}
			if n := strings.Count(body, `<code class="keyid">`+keyID+`</code>`); n != tc.bundleKeys {
				t.Errorf("%d bundles show key id %s, want %d", n, keyID, tc.bundleKeys)
			}
			if strings.Contains(body, ">verified<") {
				t.Errorf("a bundle reads verified without a policy")
			}
		})
	}
}

// failingGate is a pull gate that cannot check anything, as when its
// store fails.
type failingGate struct{}

func (failingGate) Verdict(context.Context, string, *storage.Manifest) (*verify.Rule, error) {
	return nil, errors.New("read signatures: the store is down")
}

// TestPages_GateCannotCheck: a version the gate could not check is shown
// refused, with why, and without a pull command: unknown is never safe.
func TestPages_GateCannotCheck(t *testing.T) {
	e := newEnv(t, envOptions{Config: func(c *web.Config) {
		c.Gate, c.Policy = failingGate{}, &verify.Policy{Name: "policy.yaml"}
	}})
	d := e.pushModel("models/x", "v1", map[string]string{"config.json": "{}"}, nil)
	_, _, body := get(t, client(t), e.URL+"/r/models/x@"+string(d.Digest))
	if state, _ := badge(t, body); state != "refused" {
		t.Errorf("badge %q, want refused", state)
	}
	mustContain(t, "version page", body, "the policy could not be checked", "the store is down")
	if strings.Contains(body, "cairn pull ") {
		t.Error("a version that could not be checked shows a pull command")
	}
}

// TestNew_GateAndPolicy: a gate comes with its policy, and a policy with
// its gate; the UI never judges with a policy alone.
func TestNew_GateAndPolicy(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, cfg := range []web.Config{
		{Meta: e.Meta, Blobs: e.Blobs, Policy: &verify.Policy{}},
		{Meta: e.Meta, Blobs: e.Blobs, Gate: failingGate{}},
	} {
		if _, err := web.New(cfg); err == nil {
			t.Errorf("web.New accepted gate %v with policy %v", cfg.Gate, cfg.Policy)
		}
	}
}
