package verify_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/scan"
)

// policyExample is the commented example policy that docs/policy.md shows.
const policyExample = "../testdata/policy/example.yaml"

// policyPEM writes a PEM file of one block per type/bytes pair.
func policyPEM(t testing.TB, path string, blocks ...*pem.Block) {
	t.Helper()
	var b bytes.Buffer
	for _, bl := range blocks {
		if err := pem.Encode(&b, bl); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func policyPKIX(t testing.TB, pub any) *pem.Block {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "PUBLIC KEY", Bytes: der}
}

// policyDir returns a directory of key files and trusted roots, good and
// bad, that the policies of the tests name:
//
//	a.pub b.pub ed.pub  ECDSA P-256, ECDSA P-384 and Ed25519 public keys
//	root.json           the Sigstore public-good trusted root
//	priv.pem cert.pem p224.pub rsa1024.pub two.pub junk.pub not.pem big.pub
//	dir.pub             bad keys
//	noca.json junk.json bad trusted roots
func policyDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	policyPEM(t, filepath.Join(dir, "a.pub"), policyPKIX(t, &p256.PublicKey))
	policyPEM(t, filepath.Join(dir, "b.pub"), policyPKIX(t, &p384.PublicKey))
	policyPEM(t, filepath.Join(dir, "ed.pub"), policyPKIX(t, edPub))
	policyPEM(t, filepath.Join(dir, "p224.pub"), policyPKIX(t, &p224.PublicKey))
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	policyPEM(t, filepath.Join(dir, "rsa1024.pub"), policyPKIX(t, &rsa1024.PublicKey))
	policyPEM(t, filepath.Join(dir, "two.pub"), policyPKIX(t, &p256.PublicKey), policyPKIX(t, &p384.PublicKey))
	der, err := x509.MarshalPKCS8PrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	policyPEM(t, filepath.Join(dir, "priv.pem"), &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p256.PublicKey, p256)
	if err != nil {
		t.Fatal(err)
	}
	policyPEM(t, filepath.Join(dir, "cert.pem"), &pem.Block{Type: "CERTIFICATE", Bytes: cert})
	policyPEM(t, filepath.Join(dir, "junk.pub"), &pem.Block{Type: "PUBLIC KEY", Bytes: []byte("junk")})
	files := map[string]string{
		"not.pem":   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
		"big.pub":   strings.Repeat("#", verify.MaxPolicyKeySize+1),
		"noca.json": `{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`,
		"junk.json": `{"tlogs": 5}`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	rootJSON, err := os.ReadFile("../testdata/policy/trusted_root.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "root.json"), rootJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// policyErrors returns the PolicyErrors in err, one or joined.
func policyErrors(t testing.TB, err error) []*verify.PolicyError {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []*verify.PolicyError
	for _, e := range errs {
		pe, ok := e.(*verify.PolicyError)
		if !ok {
			t.Fatalf("error %v (%T) is not a *verify.PolicyError", e, e)
		}
		out = append(out, pe)
	}
	return out
}

// TestParsePolicy_Errors asserts every mistake's message, line and column,
// and that it is the only one reported (no cascade).
func TestParsePolicy_Errors(t *testing.T) {
	dir := policyDir(t)
	// ok is a rule that parses, for cases about the rules after it.
	const ok = "  - match: ok/*\n    signers: [key: a.pub]\n"
	keyless := func(id string) string {
		return "version: 1\nrules:\n  - match: x/*\n    trustedRoot: root.json\n    signers:\n      - keyless:\n" + id
	}
	tests := []struct {
		name, yaml string
		line, col  int    // 0: the whole file
		want       string // the whole message after "policy.yaml:LINE:COL: "
	}{
		// The file.
		{"empty", "", 0, 0, "empty policy: want version: 1 and rules"},
		{"only comments", "# nothing\n", 0, 0, "empty policy: want version: 1 and rules"},
		{"null document", "---\n", 0, 0, "empty policy: want version: 1 and rules"},
		{"syntax", "version: 1\nrules: [\n", 2, 0, "invalid YAML: did not find expected node content"},
		{"tab indent", "version: 1\nrules:\n\t- match: x\n", 3, 0, "invalid YAML: found character that cannot start any token"},
		{"unknown anchor", "version: 1\nrules: *r\n", 0, 0, "invalid YAML: unknown anchor 'r' referenced"},
		{"two documents", "version: 1\nrules:\n  - {match: x, reject: no}\n---\nversion: 1\n", 4, 1, "a second YAML document: a policy is one document"},
		{"list", "- version: 1\n", 1, 1, "want a mapping, got a list"},
		{"scalar", "hello\n", 1, 1, `want a mapping, got the string "hello"`},
		{"missing version", "rules:\n  - {match: x, reject: no}\n", 1, 1, "missing version (version: 1)"},
		{"version 2", "version: 2\nrules:\n  - {match: x, reject: no}\n", 1, 10, "version: version 2 is not supported (want 1)"},
		{"version string", "version: \"1\"\nrules:\n  - {match: x, reject: no}\n", 1, 10, `version: want an integer, got the string "1"`},
		{"version float", "version: 1.0\nrules:\n  - {match: x, reject: no}\n", 1, 10, "version: want an integer, got the number 1.0"},
		{"unknown field", "version: 1\nrulez: []\n", 2, 1, `unknown field "rulez" (did you mean "rules"?)`},
		{"unknown field far", "version: 1\nrules:\n  - {match: x, reject: no}\ncolour: red\n", 4, 1, `unknown field "colour"`},
		{"duplicate field", "version: 1\nversion: 1\nrules:\n  - {match: x, reject: no}\n", 2, 1, `duplicate field "version" (first at line 1)`},
		{"missing rules", "version: 1\n", 1, 1, `missing rules: a policy without rules refuses everything; say so with a rule that rejects "**"`},
		{"rules empty", "version: 1\nrules: []\n", 2, 8, "rules: empty list; leave the field out instead"},
		{"rules null", "version: 1\nrules:\n", 2, 7, "rules: no value, want a list"},
		{"rules mapping", "version: 1\nrules: {match: x}\n", 2, 8, "rules: want a list, got a mapping"},
		{"rule scalar", "version: 1\nrules:\n  - x/*\n", 3, 5, `rules[0]: want a mapping, got the string "x/*"`},
		{"alias", "version: 1\nrules:\n  - &r {match: x, reject: no}\n  - *r\n", 4, 5, "rules[1]: aliases (*r) are not supported; write the value out"},
		{"merge key", "version: 1\nrules:\n  - &r {match: x, reject: no}\n  - <<: *r\n    match: y\n", 4, 5, "rules[1]: merge keys (<<) are not supported; write the fields out"},
		{"integer key", "version: 1\n7: x\nrules:\n  - {match: x, reject: no}\n", 2, 1, "a field name is a string, not the integer 7"},
		{"custom tag", "version: 1\nrules:\n  - match: !glob x/*\n    reject: no\n", 3, 12, "rules[0].match: want a string, got a value tagged !glob"},

		// Match and reject.
		{"missing match", "version: 1\nrules:\n  - reject: no\n", 3, 5, `rules[0]: missing match (the repositories the rule applies to, as "registry.example.com/team/*")`},
		{"match empty", "version: 1\nrules:\n  - {match: \"\", reject: no}\n", 3, 13, "rules[0].match: empty value, want a string"},
		{"match integer", "version: 1\nrules:\n  - {match: 5, reject: no}\n", 3, 13, "rules[0].match: want a string, got the integer 5"},
		{"match upper case", "version: 1\nrules:\n  - {match: Reg.example/x, reject: no}\n", 3, 13, `rules[0].match: pattern "Reg.example/x" has upper case, which never matches: hosts are compared in lower case and repository names are lower case`},
		{"match empty segment", "version: 1\nrules:\n  - {match: reg//x, reject: no}\n", 3, 13, `rules[0].match: pattern "reg//x" has an empty path segment`},
		{"match trailing slash", "version: 1\nrules:\n  - {match: reg/, reject: no}\n", 3, 13, `rules[0].match: pattern "reg/" has an empty path segment`},
		{"match three stars", "version: 1\nrules:\n  - {match: reg/***, reject: no}\n", 3, 13, `rules[0].match: pattern "reg/***": ***: use * within a segment or ** across segments`},
		{"match space", "version: 1\nrules:\n  - {match: reg/a b, reject: no}\n", 3, 13, `rules[0].match: pattern "reg/a b": character ' ' is not allowed (patterns use a-z 0-9 . _ - : / and the wildcards * ** ?)`},
		{"match class", "version: 1\nrules:\n  - {match: \"reg/[ab]\", reject: no}\n", 3, 13, `rules[0].match: pattern "reg/[ab]": character '[' is not allowed (patterns use a-z 0-9 . _ - : / and the wildcards * ** ?)`},
		{"reject empty", "version: 1\nrules:\n  - {match: x, reject: \"\"}\n", 3, 24, "rules[0].reject: empty value, want a string"},
		{"reject and signers", "version: 1\nrules:\n  - match: x\n    reject: no\n    signers: [key: a.pub]\n", 5, 5, "rules[0]: signers in a rule that rejects: a rule either rejects (match and reject only) or says what to accept"},
		{"reject and pinDigest", "version: 1\nrules:\n  - match: x\n    pinDigest: true\n    reject: no\n", 4, 5, "rules[0]: pinDigest in a rule that rejects: a rule either rejects (match and reject only) or says what to accept"},
		{"after catch-all", "version: 1\nrules:\n  - {match: \"**\", reject: no}\n  - {match: x, reject: no}\n", 4, 0, `rules[1]: this rule never applies: rules[0] (line 3) matches every repository before it`},
		{"same match", "version: 1\nrules:\n" + ok + "  - {match: ok/*, reject: no}\n", 5, 0, `rules[1]: this rule never applies: rules[0] (line 3) has the same match "ok/*"`},

		// Signers.
		{"missing signers", "version: 1\nrules:\n  - match: x\n", 3, 5, `rules[0]: missing signers: a rule that accepts names who must have signed (or give reject: "reason" to refuse)`},
		{"signers empty", "version: 1\nrules:\n  - {match: x, signers: []}\n", 3, 25, "rules[0].signers: empty list; leave the field out instead"},
		{"signer string", "version: 1\nrules:\n  - match: x\n    signers: [a.pub]\n", 4, 15, `rules[0].signers[0]: want a mapping, got the string "a.pub"`},
		{"signer empty", "version: 1\nrules:\n  - match: x\n    signers: [{}]\n", 4, 15, "rules[0].signers[0]: a signer needs key (a public key file) or keyless (issuer and subject)"},
		{"signer typo", "version: 1\nrules:\n  - match: x\n    signers:\n      - kee: a.pub\n", 5, 9, `rules[0].signers[0]: unknown field "kee" (did you mean "key"?)`},
		{"signer case", "version: 1\nrules:\n  - match: x\n    signers:\n      - Key: a.pub\n", 5, 9, `rules[0].signers[0]: unknown field "Key" (did you mean "key"?)`},
		{"signer both", "version: 1\nrules:\n  - match: x\n    trustedRoot: root.json\n    signers:\n      - key: a.pub\n        keyless: {issuer: i, subject: s}\n", 7, 9, "rules[0].signers[0]: key and keyless in one signer; give each its own list item"},
		{"key null", "version: 1\nrules:\n  - match: x\n    signers:\n      - key:\n", 5, 13, "rules[0].signers[0].key: no value, want a string"},
		{"key missing", "version: 1\nrules:\n  - match: x\n    signers: [key: nope.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "nope.pub") + ": no such file or directory"},
		{"key directory", "version: 1\nrules:\n  - match: x\n    signers: [key: dir.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "dir.pub") + ": not a regular file"},
		{"key too big", "version: 1\nrules:\n  - match: x\n    signers: [key: big.pub]\n", 4, 20, fmt.Sprintf("rules[0].signers[0].key: %s: %d bytes exceed the %d-byte limit", filepath.Join(dir, "big.pub"), verify.MaxPolicyKeySize+1, verify.MaxPolicyKeySize)},
		{"key not PEM", "version: 1\nrules:\n  - match: x\n    signers: [key: not.pem]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "not.pem") + ": no PEM block: not a public key file"},
		{"key private", "version: 1\nrules:\n  - match: x\n    signers: [key: priv.pem]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "priv.pem") + ": holds a private key (PRIVATE KEY); give its public key"},
		{"key certificate", "version: 1\nrules:\n  - match: x\n    signers: [key: cert.pem]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "cert.pem") + ": holds a certificate, not a public key (keyless signers are given by issuer and subject)"},
		{"key two blocks", "version: 1\nrules:\n  - match: x\n    signers: [key: two.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "two.pub") + ": holds more than one PEM block; give one key per file"},
		{"key P-224", "version: 1\nrules:\n  - match: x\n    signers: [key: p224.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "p224.pub") + ": ECDSA curve P-224 is not supported (want P-256, P-384 or P-521)"},
		{"key RSA 1024", "version: 1\nrules:\n  - match: x\n    signers: [key: rsa1024.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "rsa1024.pub") + ": RSA key of 1024 bits, want at least 2048"},
		{"key junk DER", "version: 1\nrules:\n  - match: x\n    signers: [key: junk.pub]\n", 4, 20, "rules[0].signers[0].key: " + filepath.Join(dir, "junk.pub") + ": not a public key: its PUBLIC KEY block does not parse"},
		{"key twice", "version: 1\nrules:\n  - match: x\n    signers:\n      - key: a.pub\n      - key: ./a.pub\n", 6, 14, "rules[0].signers[1].key: the same key as signers[0]"},
		{"too many signers", "version: 1\nrules:\n  - match: x\n    signers: [" + strings.Repeat("{key: a.pub},", verify.MaxRuleSigners+1) + "]\n", 4, 14, fmt.Sprintf("rules[0].signers: %d items exceed the limit of %d", verify.MaxRuleSigners+1, verify.MaxRuleSigners)},

		// Keyless signers and the trusted root.
		{"keyless missing subject", keyless("          issuer: https://issuer.example\n"), 7, 11, "rules[0].signers[0].keyless: missing subject or subjectRegexp (the OIDC issuer, as https://token.actions.githubusercontent.com, and the certificate's identity: an e-mail address or a workflow URI)"},
		{"keyless missing issuer", keyless("          subject: me@example.com\n"), 7, 11, "rules[0].signers[0].keyless: missing issuer or issuerRegexp (the OIDC issuer, as https://token.actions.githubusercontent.com, and the certificate's identity: an e-mail address or a workflow URI)"},
		{"keyless empty", "version: 1\nrules:\n  - match: x/*\n    trustedRoot: root.json\n    signers:\n      - keyless: {}\n", 6, 18, "rules[0].signers[0].keyless: missing issuer or issuerRegexp, and subject or subjectRegexp (the OIDC issuer, as https://token.actions.githubusercontent.com, and the certificate's identity: an e-mail address or a workflow URI)"},
		{"keyless both issuers", keyless("          issuer: https://issuer.example\n          issuerRegexp: ^https://issuer\\.example$\n          subject: me@example.com\n"), 8, 11, "rules[0].signers[0].keyless: issuer and issuerRegexp: give one"},
		{"keyless typo", keyless("          issuer: https://issuer.example\n          subject_regexp: ^me@example\\.com$\n"), 8, 11, `rules[0].signers[0].keyless: unknown field "subject_regexp" (did you mean "subjectRegexp"?)`},
		{"keyless bad regexp", keyless("          issuer: https://issuer.example\n          subjectRegexp: ^(me$\n"), 8, 26, "rules[0].signers[0].keyless.subjectRegexp: invalid regular expression: error parsing regexp: missing closing ): `^(me$`"},
		{"keyless unanchored", keyless("          issuer: https://issuer.example\n          subjectRegexp: https://github\\.com/acme/.*\n"), 8, 26, "rules[0].signers[0].keyless.subjectRegexp: regular expression \"https://github\\\\.com/acme/.*\" is not anchored: it would match anywhere in the value; write ^(...)$"},
		{"keyless half anchored", keyless("          issuerRegexp: ^a|b$\n          subject: me@example.com\n"), 7, 25, "rules[0].signers[0].keyless.issuerRegexp: regular expression \"^a|b$\" is not anchored: it would match anywhere in the value; write ^(...)$"},
		{"keyless long regexp", keyless("          issuer: https://issuer.example\n          subjectRegexp: ^" + strings.Repeat("a", verify.MaxPolicyRegexpSize) + "$\n"), 8, 26, fmt.Sprintf("rules[0].signers[0].keyless.subjectRegexp: regular expression of %d bytes exceeds the %d-byte limit", verify.MaxPolicyRegexpSize+2, verify.MaxPolicyRegexpSize)},
		{"keyless twice", "version: 1\nrules:\n  - match: x/*\n    trustedRoot: root.json\n    signers:\n      - keyless: {issuer: i, subject: s}\n      - keyless: {issuer: i, subject: s}\n", 7, 18, "rules[0].signers[1].keyless: the same identity as signers[0]"},
		{"keyless without root", "version: 1\nrules:\n  - match: x/*\n    signers:\n      - keyless: {issuer: i, subject: s}\n", 4, 5, "rules[0]: keyless signers need trustedRoot (a Sigstore trusted_root.json)"},
		{"root without keyless", "version: 1\nrules:\n  - match: x/*\n    signers: [key: a.pub]\n    trustedRoot: root.json\n", 5, 5, "rules[0]: trustedRoot without a keyless signer: it is only used to verify keyless signatures"},
		{"root missing", "version: 1\nrules:\n  - match: x/*\n    signers: [keyless: {issuer: i, subject: s}]\n    trustedRoot: nope.json\n", 5, 18, "rules[0].trustedRoot: " + filepath.Join(dir, "nope.json") + ": no such file or directory"},
		{"root not JSON", "version: 1\nrules:\n  - match: x/*\n    signers: [keyless: {issuer: i, subject: s}]\n    trustedRoot: a.pub\n", 5, 18, "rules[0].trustedRoot: " + filepath.Join(dir, "a.pub") + ": not a Sigstore trusted root: "},
		{"root junk", "version: 1\nrules:\n  - match: x/*\n    signers: [keyless: {issuer: i, subject: s}]\n    trustedRoot: junk.json\n", 5, 18, "rules[0].trustedRoot: " + filepath.Join(dir, "junk.json") + ": not a Sigstore trusted root: "},
		{"root without CA", "version: 1\nrules:\n  - match: x/*\n    signers: [keyless: {issuer: i, subject: s}]\n    trustedRoot: noca.json\n", 5, 18, "rules[0].trustedRoot: " + filepath.Join(dir, "noca.json") + ": the trusted root lists no certificate authority (Fulcio), so no keyless signature could verify"},

		// Attestations.
		{"attestation without type", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    attestations:\n      - builderId: b\n", 6, 9, "rules[0].attestations[0]: missing type (the predicate type, as https://slsa.dev/provenance/v1)"},
		{"attestation typo", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    attestations:\n      - type: https://slsa.dev/provenance/v1\n        builderID: b\n", 7, 9, `rules[0].attestations[0]: unknown field "builderID" (did you mean "builderId"?)`},
		{"attestation builder of other type", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    attestations:\n      - type: https://spdx.dev/Document\n        builderId: b\n", 7, 9, "rules[0].attestations[0]: builderId is only checked in https://slsa.dev/provenance/v1 statements, not https://spdx.dev/Document"},
		{"attestation twice", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    attestations:\n      - type: https://spdx.dev/Document\n      - type: https://spdx.dev/Document\n", 7, 15, "rules[0].attestations[1].type: the same type as attestations[0]"},
		{"attestations mapping", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    attestations: {type: t}\n", 5, 19, "rules[0].attestations: want a list, got a mapping"},

		// Digests, formats and age.
		{"pinDigest string", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    pinDigest: \"true\"\n", 5, 16, `rules[0].pinDigest: want true or false, got the string "true"`},
		{"pinDigest yes", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    pinDigest: yes\n", 5, 16, `rules[0].pinDigest: want true or false, got the string "yes"`},
		{"pinDigest null", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    pinDigest:\n", 5, 15, "rules[0].pinDigest: no value, want true or false"},
		// Transparency.
		{"transparency yes", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: yes\n", 5, 19, `rules[0].transparency: want "required", got "yes"`},
		{"transparency optional", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: optional\n", 5, 19, `rules[0].transparency: want "required", got "optional"`},
		{"logKey bad", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    logKey: nope\n", 6, 13, "rules[0].logKey: not a note verifier key"},
		{"logKey alone", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    logKey: PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n", 5, 5, "rules[0]: logKey without transparency: required"},
		{"witness threshold 0", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    witnesses: {threshold: 0, keys: [witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN]}\n", 6, 28, "rules[0].witnesses.threshold: 0: want 1 to the number of keys (1)"},
		{"witness threshold above", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    witnesses: {threshold: 2, keys: [witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN]}\n", 6, 28, "rules[0].witnesses.threshold: 2: want 1 to the number of keys (1)"},
		{"witness twice", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    witnesses: {threshold: 1, keys: [witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN, witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN]}\n", 6, 106, "rules[0].witnesses.keys[1]: the same witness as keys[0]"},
		{"witness key bad", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    witnesses: {threshold: 1, keys: [nope]}\n", 6, 38, "rules[0].witnesses.keys[0]: not a witness verifier key"},
		{"witness no threshold", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    witnesses: {keys: [witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN]}\n", 6, 16, "rules[0].witnesses: missing threshold"},
		{"digest short", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    digests: [sha256:abc]\n", 5, 15, `rules[0].digests[0]: invalid digest "sha256:abc": invalid checksum digest length (want sha256: and 64 lower-case hex digits)`},
		{"digest upper", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    digests:\n      - sha256:FB1ECDCAB82E740DD920149CB182ADD9B67B3F1C11E030054DC78130A8ECE436\n", 6, 9, `rules[0].digests[0]: invalid digest "sha256:FB1ECDCAB82E740DD920149CB182ADD9B67B3F1C11E030054DC78130A8ECE436": invalid checksum digest format (want sha256: and 64 lower-case hex digits)`},
		{"digest algorithm", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    digests: [md5:d41d8cd98f00b204e9800998ecf8427e]\n", 5, 15, `rules[0].digests[0]: invalid digest "md5:d41d8cd98f00b204e9800998ecf8427e": unsupported digest algorithm (want sha256: and 64 lower-case hex digits)`},
		{"digest twice", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    digests:\n      - sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436\n      - sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436\n", 7, 9, "rules[0].digests[1]: duplicate digest sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436 (first at line 6)"},
		{"digests scalar", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    digests: sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436\n", 5, 14, `rules[0].digests: want a list, got the string "sha256:fb1ecdcab82e740dd920149cb182add9b..."`},
		{"format unknown", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    formats: [safetensor]\n", 5, 15, `rules[0].formats[0]: unknown format "safetensor" (did you mean "safetensors"?) (formats are safetensors, gguf, onnx, pickle, pytorch, joblib, numpy, keras, tensorflow, archive, unknown)`},
		{"format case", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    formats: [GGUF]\n", 5, 15, `rules[0].formats[0]: unknown format "GGUF" (did you mean "gguf"?) (formats are safetensors, gguf, onnx, pickle, pytorch, joblib, numpy, keras, tensorflow, archive, unknown)`},
		{"format twice", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    formats: [gguf, gguf]\n", 5, 21, `rules[0].formats[1]: duplicate format "gguf" (first at line 5)`},
		{"formats empty", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    formats: []\n", 5, 14, "rules[0].formats: empty list; leave the field out instead"},
		{"allowUnsafe outside formats", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    formats: [safetensors]\n    allowUnsafe: [pickle]\n", 6, 19, `rules[0].allowUnsafe[0]: "pickle" is not in the rule's formats, so it is refused before its scan matters; add it to formats or drop it here`},
		{"allowUnsafe unknown", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    allowUnsafe: [pickles]\n", 5, 19, `rules[0].allowUnsafe[0]: unknown format "pickles" (did you mean "pickle"?) (formats are safetensors, gguf, onnx, pickle, pytorch, joblib, numpy, keras, tensorflow, archive, unknown)`},
		{"maxAge no unit", keyless("          {issuer: i, subject: s}\n    maxAge: \"90\"\n"), 8, 13, `rules[0].maxAge: invalid duration "90": want a Go duration such as 2160h, or days such as 90d`},
		{"maxAge integer", keyless("          {issuer: i, subject: s}\n    maxAge: 90\n"), 8, 13, "rules[0].maxAge: want a string, got the integer 90"},
		{"maxAge weeks", keyless("          {issuer: i, subject: s}\n    maxAge: 2w\n"), 8, 13, `rules[0].maxAge: invalid duration "2w": want a Go duration such as 2160h, or days such as 90d`},
		{"maxAge negative", keyless("          {issuer: i, subject: s}\n    maxAge: -1h\n"), 8, 13, "rules[0].maxAge: maxAge must be positive (leave it out for no limit)"},
		{"maxAge zero days", keyless("          {issuer: i, subject: s}\n    maxAge: 0d\n"), 8, 13, "rules[0].maxAge: maxAge must be positive (leave it out for no limit)"},
		{"maxAge days then sign", keyless("          {issuer: i, subject: s}\n    maxAge: 1d-1h\n"), 8, 13, `rules[0].maxAge: invalid duration "1d-1h": want a Go duration such as 2160h, or days such as 90d`},
		{"maxAge too long", keyless("          {issuer: i, subject: s}\n    maxAge: 999999999d\n"), 8, 13, `rules[0].maxAge: duration "999999999d" is too long`},
		{"maxAge overflow", keyless("          {issuer: i, subject: s}\n    maxAge: 99999999999h\n"), 8, 13, `rules[0].maxAge: duration "99999999999h" is too long`},
		{"maxAge with key signers", "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    maxAge: 90d\n", 5, 5, "rules[0]: maxAge with only key signers: key-signed bundles carry no verified time, so every model would be refused; add a keyless signer or drop maxAge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := verify.ParsePolicy([]byte(tc.yaml), "policy.yaml", dir)
			if err == nil {
				t.Fatalf("parsed: %+v", pol)
			}
			errs := policyErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("%d errors, want 1:\n%v", len(errs), err)
			}
			e := errs[0]
			if e.File != "policy.yaml" || e.Line != tc.line || e.Column != tc.col {
				t.Errorf("at %s:%d:%d, want policy.yaml:%d:%d (%v)", e.File, e.Line, e.Column, tc.line, tc.col, err)
			}
			prefix := "policy.yaml: "
			if tc.line > 0 && tc.col > 0 {
				prefix = fmt.Sprintf("policy.yaml:%d:%d: ", tc.line, tc.col)
			} else if tc.line > 0 {
				prefix = fmt.Sprintf("policy.yaml:%d: ", tc.line)
			}
			if got := err.Error(); !strings.HasPrefix(got, prefix+tc.want) {
				t.Errorf("error\n  %s\nwant\n  %s", got, prefix+tc.want)
			}
		})
	}
}

func TestParsePolicy_FileErrors(t *testing.T) {
	dir := policyDir(t)
	t.Run("key not found is fs.ErrNotExist", func(t *testing.T) {
		_, err := verify.ParsePolicy([]byte("version: 1\nrules:\n  - {match: x, signers: [key: nope.pub]}\n"), "p.yaml", dir)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error %v is not fs.ErrNotExist", err)
		}
		if errors.Is(err, verify.ErrVerification) {
			t.Errorf("a broken policy is not a verification failure: %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		data := append([]byte("version: 1\n#"), bytes.Repeat([]byte("x"), verify.MaxPolicySize)...)
		_, err := verify.ParsePolicy(data, "p.yaml", dir)
		want := fmt.Sprintf("p.yaml: %d bytes exceed the %d-byte limit of a policy", len(data), verify.MaxPolicySize)
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
	t.Run("load missing", func(t *testing.T) {
		path := filepath.Join(dir, "missing.yaml")
		_, err := verify.LoadPolicy(path)
		var pe *verify.PolicyError
		if !errors.As(err, &pe) || !errors.Is(err, fs.ErrNotExist) || pe.File != path || pe.Line != 0 || err.Error() != path+": no such file or directory" {
			t.Errorf("error %v, want a PolicyError wrapping fs.ErrNotExist", err)
		}
	})
	t.Run("load too large", func(t *testing.T) {
		path := filepath.Join(dir, "big.yaml")
		if err := os.WriteFile(path, make([]byte, verify.MaxPolicySize+1), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := verify.LoadPolicy(path)
		want := fmt.Sprintf("%s: %d bytes exceed the %d-byte limit", path, verify.MaxPolicySize+1, verify.MaxPolicySize)
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
	t.Run("load directory", func(t *testing.T) {
		_, err := verify.LoadPolicy(dir)
		if err == nil || err.Error() != dir+": not a regular file" {
			t.Errorf("error %v, want not a regular file", err)
		}
	})
	t.Run("keys relative to the policy", func(t *testing.T) {
		sub := filepath.Join(dir, "etc")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, "policy.yaml")
		if err := os.WriteFile(path, []byte("version: 1\nrules:\n  - {match: x, signers: [key: ../a.pub]}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		pol, err := verify.LoadPolicy(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := pol.Rules[0].Keys[0].Name; got != filepath.Join(dir, "a.pub") {
			t.Errorf("key name %s, want %s", got, filepath.Join(dir, "a.pub"))
		}
	})
}

// TestParsePolicy_ManyErrors checks that mistakes are all reported, in
// file order, up to MaxPolicyErrors.
func TestParsePolicy_ManyErrors(t *testing.T) {
	dir := policyDir(t)
	t.Run("several", func(t *testing.T) {
		src := "version: 1\nrules:\n  - match: x\n    signers: [kee: a.pub]\n  - match: Y\n    reject: no\n    pinDigest: yes\n"
		_, err := verify.ParsePolicy([]byte(src), "p.yaml", dir)
		errs := policyErrors(t, err)
		var got []string
		for _, e := range errs {
			got = append(got, fmt.Sprintf("%d:%d %s", e.Line, e.Column, e.Field))
		}
		want := []string{"4:15 rules[0].signers[0]", "5:12 rules[1].match", "7:5 rules[1]"}
		if !slices.Equal(got, want) {
			t.Errorf("errors at %q, want %q:\n%v", got, want, err)
		}
	})
	t.Run("capped", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("version: 1\nrules:\n  - {match: x, reject: no}\n")
		for i := range verify.MaxPolicyErrors + 5 {
			fmt.Fprintf(&b, "bad%d: x\n", i)
		}
		_, err := verify.ParsePolicy([]byte(b.String()), "p.yaml", dir)
		errs := policyErrors(t, err)
		if len(errs) != verify.MaxPolicyErrors+1 {
			t.Fatalf("%d errors, want %d", len(errs), verify.MaxPolicyErrors+1)
		}
		if last := errs[len(errs)-1].Error(); last != fmt.Sprintf("p.yaml: more than %d mistakes; stopped", verify.MaxPolicyErrors) {
			t.Errorf("last error %q", last)
		}
	})
	t.Run("too many rules", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("version: 1\nrules:\n")
		for i := range verify.MaxPolicyRules + 1 {
			fmt.Fprintf(&b, "  - {match: r/m%d, reject: no}\n", i)
		}
		_, err := verify.ParsePolicy([]byte(b.String()), "p.yaml", dir)
		want := fmt.Sprintf("p.yaml:3:3: rules: %d items exceed the limit of %d", verify.MaxPolicyRules+1, verify.MaxPolicyRules)
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
}

func TestParsePolicy_Fields(t *testing.T) {
	dir := policyDir(t)
	src := `version: 1
rules:
  - match: "reg.example:5000/team/*"
    signers:
      - key: a.pub
      - key: ` + filepath.Join(dir, "ed.pub") + `
      - keyless:
          issuer: https://issuer.example
          subjectRegexp: ^https://github\.com/acme/.*$
      - keyless: {issuerRegexp: "^https://(a|b)\\.example$", subject: me@example.com}
    trustedRoot: root.json
    attestations:
      - type: https://slsa.dev/provenance/v1
        builderId: https://builder.example@v1
      - type: https://spdx.dev/Document
    pinDigest: true
    digests: [sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436]
    formats: [safetensors, pickle]
    allowUnsafe: [pickle]
    maxAge: 1d12h
  - match: "**"
    reject: go away
`
	pol, err := verify.ParsePolicy([]byte(src), "p.yaml", dir)
	if err != nil {
		t.Fatal(err)
	}
	if pol.Name != "p.yaml" || len(pol.Rules) != 2 {
		t.Fatalf("policy %+v", pol)
	}
	r := pol.Rules[0]
	if r.Match != "reg.example:5000/team/*" || r.Line != 3 || r.Index != 0 || r.Reject != "" {
		t.Errorf("rule %q at line %d index %d reject %q", r.Match, r.Line, r.Index, r.Reject)
	}
	if len(r.Keys) != 2 || r.Keys[0].Name != filepath.Join(dir, "a.pub") || r.Keys[1].Name != filepath.Join(dir, "ed.pub") {
		t.Errorf("keys %+v", r.Keys)
	}
	if _, ok := r.Keys[0].Public.(*ecdsa.PublicKey); !ok {
		t.Errorf("key 0 is %T", r.Keys[0].Public)
	}
	if _, ok := r.Keys[1].Public.(ed25519.PublicKey); !ok {
		t.Errorf("key 1 is %T", r.Keys[1].Public)
	}
	wantIDs := []verify.Identity{
		{Issuer: "https://issuer.example", SubjectRegexp: `^https://github\.com/acme/.*$`},
		{IssuerRegexp: `^https://(a|b)\.example$`, Subject: "me@example.com"},
	}
	if !slices.Equal(r.Keyless, wantIDs) {
		t.Errorf("keyless %+v, want %+v", r.Keyless, wantIDs)
	}
	if r.TrustedRoot != filepath.Join(dir, "root.json") || r.TrustedMaterial == nil || len(r.TrustedMaterial.FulcioCertificateAuthorities()) == 0 {
		t.Errorf("trusted root %q %v", r.TrustedRoot, r.TrustedMaterial)
	}
	wantAtt := []verify.RequiredAttestation{
		{Type: verify.PredicateSLSAProvenance, BuilderID: "https://builder.example@v1"},
		{Type: "https://spdx.dev/Document"},
	}
	if !slices.Equal(r.Attestations, wantAtt) {
		t.Errorf("attestations %+v", r.Attestations)
	}
	if !r.PinDigest || len(r.Digests) != 1 || r.Digests[0] != "sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436" {
		t.Errorf("pin %v digests %v", r.PinDigest, r.Digests)
	}
	if !slices.Equal(r.Formats, []string{"safetensors", "pickle"}) || !slices.Equal(r.AllowUnsafe, []string{"pickle"}) {
		t.Errorf("formats %v allowUnsafe %v", r.Formats, r.AllowUnsafe)
	}
	if r.MaxAge != 36*time.Hour {
		t.Errorf("maxAge %v", r.MaxAge)
	}
	trust := r.Trust()
	if len(trust.Keys) != 2 || len(trust.Identities) != 2 || trust.Root == nil {
		t.Errorf("trust %+v", trust)
	}
	if r := pol.Rules[1]; r.Reject != "go away" || r.Line != 21 || r.Index != 1 {
		t.Errorf("reject rule %+v", r)
	}
}

func TestParsePolicy_MaxAge(t *testing.T) {
	dir := policyDir(t)
	for in, want := range map[string]time.Duration{
		"2160h":   2160 * time.Hour,
		"90d":     90 * 24 * time.Hour,
		"1d":      24 * time.Hour,
		"1d12h":   36 * time.Hour,
		"1d30m":   24*time.Hour + 30*time.Minute,
		"36h30m":  36*time.Hour + 30*time.Minute,
		"90m":     90 * time.Minute,
		"1.5h":    90 * time.Minute,
		"100000d": 100000 * 24 * time.Hour,
	} {
		src := "version: 1\nrules:\n  - match: x\n    trustedRoot: root.json\n    signers: [keyless: {issuer: i, subject: s}]\n    maxAge: " + in + "\n"
		pol, err := verify.ParsePolicy([]byte(src), "p.yaml", dir)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := pol.Rules[0].MaxAge; got != want {
			t.Errorf("%s: %v, want %v", in, got, want)
		}
	}
}

// TestLoadPolicy_Example loads the commented example of docs/policy.md.
func TestLoadPolicy_Example(t *testing.T) {
	pol, err := verify.LoadPolicy(policyExample)
	if err != nil {
		t.Fatal(err)
	}
	if len(pol.Rules) != 4 {
		t.Fatalf("%d rules", len(pol.Rules))
	}
	team, research, frozen, rest := pol.Rules[0], pol.Rules[1], pol.Rules[2], pol.Rules[3]
	if len(team.Keys) != 1 || len(team.Keyless) != 1 || team.TrustedMaterial == nil || len(team.Attestations) != 1 ||
		!team.PinDigest || !slices.Equal(team.Formats, []string{"safetensors", "gguf", "onnx"}) {
		t.Errorf("team-a rule %+v", team)
	}
	if len(research.Keyless) != 1 || research.Keyless[0].SubjectRegexp == "" || research.MaxAge != 90*24*time.Hour ||
		!slices.Equal(research.AllowUnsafe, []string{"pickle"}) {
		t.Errorf("research rule %+v", research)
	}
	if len(frozen.Keys) != 2 || len(frozen.Digests) != 1 {
		t.Errorf("frozen rule %+v", frozen)
	}
	if rest.Match != "**" || rest.Reject == "" {
		t.Errorf("last rule %+v", rest)
	}
	// The same key file read once serves both rules.
	if team.Keys[0].Name != frozen.Keys[0].Name || !team.Keys[0].Public.(*ecdsa.PublicKey).Equal(frozen.Keys[0].Public) {
		t.Errorf("release key differs between rules")
	}
}

// TestPolicyDocs keeps docs/policy.md in step with the code: it shows
// testdata/policy/example.yaml verbatim and lists every format name.
func TestPolicyDocs(t *testing.T) {
	doc, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(policyExample)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, append(append([]byte("```yaml\n"), example...), "```\n"...)) {
		t.Error("docs/policy.md does not show testdata/policy/example.yaml verbatim in a ```yaml block")
	}
	for _, f := range verify.PolicyFormats() {
		if !bytes.Contains(doc, []byte("`"+f+"`")) {
			t.Errorf("docs/policy.md does not list format `%s`", f)
		}
	}
	for _, c := range []string{"MaxPolicySize", "MaxPolicyRules", "MaxRuleSigners", "MaxRuleAttestations", "MaxRuleDigests", "MaxPolicyRegexpSize", "MaxPolicyKeySize", "MaxTrustedRootSize", "MaxPolicyErrors"} {
		if !bytes.Contains(doc, []byte(c)) {
			t.Errorf("docs/policy.md does not name the limit %s", c)
		}
	}
}

func TestPolicy_Rule(t *testing.T) {
	src := `version: 1
rules:
  - {match: "registry.example.com/team-a/*", signers: [key: a.pub]}
  - {match: "registry.example.com/team-a/**", signers: [key: b.pub]}
  - {match: "localhost:5000/models/?", signers: [key: a.pub]}
  - {match: "*.example.com/shared/**", signers: [key: a.pub]}
  - {match: "registry.example.com:5000/**", signers: [key: a.pub]}
  - {match: "registry.example.com/blocked/**", reject: "blocked by security"}
  - {match: "[::1]*/**", reject: "no"}
  - {match: "**", reject: "not an approved repository"}
`
	tests := []struct {
		repo   string
		index  int    // the rule, or -1 for a denial
		reason string // in the denial
	}{
		{"registry.example.com/team-a/llama", 0, ""},
		{"REGISTRY.Example.COM/team-a/llama", 0, ""}, // hosts are compared in lower case
		{"registry.example.com/team-a/llama/v2", 1, ""},
		{"registry.example.com/team-a/", 0, ""}, // * matches the empty string
		{"registry.example.com/team-b/llama", -1, "registry.example.com/team-b/llama is rejected: not an approved repository"},
		{"registry.example.com:5000/team-a/llama", 4, ""}, // the port is part of the host
		{"registry.example.com:5000", -1, "not an approved repository"},
		{"localhost:5000/models/a", 2, ""},
		{"localhost:5000/models/ab", -1, "not an approved repository"},
		{"localhost:5000/models/a/b", -1, "not an approved repository"},
		{"eu.example.com/shared/x/y", 3, ""},
		{"a.b.example.com/shared/x", 3, ""}, // * crosses dots, not slashes
		{"example.com/shared/x", -1, "not an approved repository"},
		{"evil.com/x.example.com/shared/x", -1, "not an approved repository"},
		{"registry.example.com/blocked/x/y", -1, "registry.example.com/blocked/x/y is rejected: blocked by security"},
		{"registry.example.com/team-a/blocked/x", 1, ""}, // the first match wins
		{"other.example/m", -1, "not an approved repository"},
	}
	pol, err := verify.ParsePolicy([]byte(src), "p.yaml", policyDir(t))
	if err == nil {
		t.Fatal("parsed a policy with a bracketed pattern")
	}
	src = strings.Replace(src, `  - {match: "[::1]*/**", reject: "no"}`+"\n", "", 1)
	pol, err = verify.ParsePolicy([]byte(src), "p.yaml", policyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.repo, func(t *testing.T) {
			r, err := pol.Rule(tc.repo)
			if tc.index >= 0 {
				if err != nil {
					t.Fatal(err)
				}
				if r.Index != tc.index {
					t.Errorf("rule %d (%s), want %d", r.Index, r, tc.index)
				}
				return
			}
			if r != nil || !errors.Is(err, verify.ErrPolicyDenied) || !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("rule %v, error %v: want a denial", r, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q, want %q in it", err, tc.reason)
			}
		})
	}
}

func TestPolicy_RuleDenied(t *testing.T) {
	pol, err := verify.ParsePolicy([]byte("version: 1\nrules:\n  - {match: a.example/m, signers: [key: a.pub]}\n  - {match: b.example/*, reject: \"use a.example\"}\n"), "p.yaml", policyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]string{
		"c.example/m":  `verification failed: policy denied: p.yaml: no rule matches c.example/m, and what no rule matches is refused`,
		"a.example/m2": `verification failed: policy denied: p.yaml: no rule matches a.example/m2, and what no rule matches is refused`,
		"b.example/m":  `verification failed: policy denied: p.yaml:4 (rules[1], match "b.example/*"): b.example/m is rejected: use a.example`,
	} {
		if _, err := pol.Rule(repo); err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", repo, err, want)
		}
	}
	// Not repositories: errors, not denials.
	for _, repo := range []string{"", "a.example/m:v1", "a.example/M", "a.example/m@sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436", "a.example/m n"} {
		if _, err := pol.Rule(repo); err == nil || errors.Is(err, verify.ErrVerification) {
			t.Errorf("%q: error %v, want one that is not a denial", repo, err)
		}
	}
	// A policy built by hand matches too.
	hand := &verify.Policy{Name: "hand", Rules: []verify.Rule{{Match: "x/**"}}}
	if r, err := hand.Rule("x/y/z"); err != nil || r != &hand.Rules[0] {
		t.Errorf("hand-built policy: %v, %v", r, err)
	}
}

func TestRule_CheckDigest(t *testing.T) {
	const (
		d1 = digest.Digest("sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436")
		d2 = digest.Digest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	)
	tests := []struct {
		name     string
		rule     verify.Rule
		d        digest.Digest
		byDigest bool
		want     string // "" for accepted, else in the denial
	}{
		{"no demand, by tag", verify.Rule{}, d1, false, ""},
		{"no demand, no digest", verify.Rule{}, "", false, ""},
		{"pinned, by digest", verify.Rule{PinDigest: true}, d1, true, ""},
		{"pinned, by tag", verify.Rule{PinDigest: true}, d1, false, "referred to by tag; the rule demands a reference by digest (pinDigest), as repository@" + string(d1)},
		{"listed", verify.Rule{Digests: []digest.Digest{d2, d1}}, d1, false, ""},
		{"not listed", verify.Rule{Digests: []digest.Digest{d2}}, d1, true, "manifest digest " + string(d1) + " is not one of the 1 digests the rule allows"},
		{"invalid", verify.Rule{Digests: []digest.Digest{d2}}, "sha256:nope", true, `manifest digest "sha256:nope": invalid checksum digest length`},
		{"empty", verify.Rule{Digests: []digest.Digest{d2}}, "", true, `manifest digest "": invalid checksum digest format`},
		{"pinned and listed, by tag", verify.Rule{PinDigest: true, Digests: []digest.Digest{d1}}, d1, false, "pinDigest"},
		{"reject rule", verify.Rule{Reject: "no"}, d1, true, "rejected: no"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policyCheck(t, tc.rule.CheckDigest(tc.d, tc.byDigest), tc.want)
		})
	}
}

// TestRule_CheckFile: the one per-file decision, over the three verdicts.
func TestRule_CheckFile(t *testing.T) {
	safe := func(format string) scan.Report { return scan.Report{Format: format} }
	unsafe := func(format string) scan.Report {
		return scan.Report{Format: format, Findings: []scan.Finding{{Severity: scan.Unsafe, Rule: "pickle.global", Message: "imports os.system", Offset: 3}}}
	}
	unscanned := func(variant string) scan.Report {
		return scan.Report{Format: scan.FormatUnknown, Variant: variant, Findings: []scan.Finding{{Severity: scan.Info, Rule: "format.unknown", Offset: -1}}}
	}
	tests := []struct {
		name   string
		rule   verify.Rule
		weight bool
		rep    scan.Report
		want   string
	}{
		{"any safe", verify.Rule{}, true, safe("safetensors"), ""},
		{"any safe pickle", verify.Rule{}, true, safe("pickle"), ""},
		{"any unsafe", verify.Rule{}, true, unsafe("pickle"), `weight format "pickle": the scanner found it unsafe (unsafe pickle.global: imports os.system (at offset 3)), and the rule's allowUnsafe does not list "pickle"`},
		{"unsafe, not a weight", verify.Rule{}, false, unsafe("pickle"), `the scanner found it unsafe`},
		{"allowed", verify.Rule{Formats: []string{"gguf", "safetensors"}}, true, safe("safetensors"), ""},
		{"not allowed", verify.Rule{Formats: []string{"gguf", "safetensors"}}, true, safe("onnx"), `weight format "onnx" is not allowed; the rule allows gguf, safetensors`},
		{"not allowed, not a weight by name", verify.Rule{Formats: []string{"safetensors"}}, false, safe("joblib"), `weight format "joblib" is not allowed; the rule allows safetensors`},
		{"not allowed though unsafe accepted", verify.Rule{Formats: []string{"gguf"}, AllowUnsafe: []string{"pickle"}}, true, unsafe("pickle"), `weight format "pickle" is not allowed; the rule allows gguf`},
		{"allowed unsafe", verify.Rule{AllowUnsafe: []string{"pickle"}}, true, unsafe("pickle"), ""},
		{"allowed unsafe of another format", verify.Rule{AllowUnsafe: []string{"pickle"}}, true, unsafe("keras"), `weight format "keras": the scanner found it unsafe`},
		{"listed but unsafe", verify.Rule{Formats: []string{"pytorch"}}, true, unsafe("pytorch"), `weight format "pytorch": the scanner found it unsafe`},
		{"plain data under a formats list", verify.Rule{Formats: []string{"safetensors"}}, false, safe(scan.FormatJSON), ""},
		{"text named like a weight", verify.Rule{Formats: []string{"safetensors"}}, true, safe(scan.FormatText), ""},
		{"not scanned weight", verify.Rule{}, true, unscanned(""), `not scanned: content the scanner does not recognise, so not proved safe; the rule would have to say allowUnscanned: true`},
		{"not scanned weight, allowed", verify.Rule{AllowUnscanned: true}, true, unscanned(""), ""},
		{"not scanned doc", verify.Rule{}, false, unscanned(""), ""},
		{"not scanned hdf5 doc", verify.Rule{}, false, unscanned("hdf5"), `not scanned: hdf5 content, which the scanner recognises but cannot read`},
		{"not scanned under a formats list", verify.Rule{Formats: []string{"safetensors"}, AllowUnscanned: true}, true, unscanned(""), `content not proved to be of an allowed format: "unknown" is not allowed; the rule allows safetensors`},
		{"not scanned, unknown listed", verify.Rule{Formats: []string{"safetensors", "unknown"}, AllowUnscanned: true}, true, unscanned(""), ""},
		{"not scanned, unknown listed but not allowUnscanned", verify.Rule{Formats: []string{"safetensors", "unknown"}}, true, unscanned(""), `allowUnscanned`},
		{"reject rule", verify.Rule{Reject: "no"}, true, safe("gguf"), "rejected: no"},
		{"safetensors inside a zip", verify.Rule{Formats: []string{"safetensors"}}, true, scan.Report{Format: "safetensors", Wrappers: []string{"zip"}}, `safetensors inside zip: an archive, and the rule's formats do not list archive`},
		{"safetensors inside a zip, archive listed", verify.Rule{Formats: []string{"safetensors", "archive"}}, true, scan.Report{Format: "safetensors", Wrappers: []string{"zip"}}, ""},
		{"gzip-compressed joblib", verify.Rule{Formats: []string{"joblib"}}, true, scan.Report{Format: "joblib", Wrappers: []string{"zlib"}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policyCheck(t, tc.rule.CheckFile(tc.weight, tc.rep), tc.want)
		})
	}
}

func TestRule_CheckAge(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name   string
		rule   verify.Rule
		signed time.Time
		want   string
	}{
		{"no limit", verify.Rule{}, now.Add(-1000 * day), ""},
		{"no limit, no time", verify.Rule{}, time.Time{}, ""},
		{"young", verify.Rule{MaxAge: 90 * day}, now.Add(-89 * day), ""},
		{"exactly the limit", verify.Rule{MaxAge: 90 * day}, now.Add(-90 * day), ""},
		{"in the future", verify.Rule{MaxAge: 90 * day}, now.Add(time.Hour), ""},
		{"old", verify.Rule{MaxAge: 90 * day}, now.Add(-91 * day), "newest signature is from 2026-03-02T12:00:00Z, 91d old; the rule allows at most 90d (maxAge)"},
		{"old by a second", verify.Rule{MaxAge: 36 * time.Hour}, now.Add(-36*time.Hour - time.Second), "newest signature is from 2026-05-30T23:59:59Z, 36h0m1s old; the rule allows at most 36h0m0s (maxAge)"},
		{"no time", verify.Rule{MaxAge: 90 * day}, time.Time{}, "no signature has a verified time, and the rule allows signatures at most 90d old (maxAge)"},
		{"reject rule", verify.Rule{Reject: "no"}, now, "rejected: no"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			policyCheck(t, tc.rule.CheckAge(tc.signed, now), tc.want)
		})
	}
}

// policyCheck asserts a check's result: nil for want "", else a denial
// naming the rule with want in its message.
func policyCheck(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("denied: %v", err)
		}
		return
	}
	if !errors.Is(err, verify.ErrPolicyDenied) || !errors.Is(err, verify.ErrVerification) {
		t.Fatalf("error %v, want a denial", err)
	}
	if !strings.HasPrefix(err.Error(), "verification failed: policy denied: policy:0 (rules[0], match \"\"): ") || !strings.Contains(err.Error(), want) {
		t.Errorf("error\n  %v\nwant it to name the rule and say\n  %s", err, want)
	}
}

// TestRule_CheckMessages checks what a parsed rule's denials look like.
func TestRule_CheckMessages(t *testing.T) {
	pol, err := verify.LoadPolicy(policyExample)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pol.Rule("registry.example.com/team-a/llama")
	if err != nil {
		t.Fatal(err)
	}
	err = r.CheckDigest("sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436", false)
	want := `verification failed: policy denied: ../testdata/policy/example.yaml:12 (rules[0], match "registry.example.com/team-a/*"): referred to by tag; the rule demands a reference by digest (pinDigest), as repository@sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436`
	if err == nil || err.Error() != want {
		t.Errorf("error\n  %v\nwant\n  %s", err, want)
	}
	if err := r.CheckFile(true, scan.Report{Format: "pickle"}); err == nil || !regexp.MustCompile(`example\.yaml:12 .*"pickle" is not allowed; the rule allows safetensors, gguf, onnx$`).MatchString(err.Error()) {
		t.Errorf("error %v", err)
	}
}

// FuzzParsePolicy parses arbitrary policies against the example's key
// directory: no panics, every error a PolicyError in file order, and a
// policy that parses answers Rule for any repository.
func FuzzParsePolicy(f *testing.F) {
	example, err := os.ReadFile(policyExample)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example, "registry.example.com/team-a/m")
	f.Add([]byte("version: 1\nrules:\n  - {match: \"**\", reject: no}\n"), "a/b")
	f.Add([]byte("version: 1\nrules:\n  - match: x/*\n    signers: [key: keys/ci.pub]\n    formats: [gguf]\n    digests: [sha256:fb1ecdcab82e740dd920149cb182add9b67b3f1c11e030054dc78130a8ece436]\n"), "x/y")
	f.Add([]byte("version: 1\nrules:\n  - match: x/*\n    trustedRoot: trusted_root.json\n    signers:\n      - keyless: {issuerRegexp: ^a$, subject: s}\n    maxAge: 1d12h\n"), "x/y")
	f.Add([]byte("version: 1\nrules:\n  - &r {match: x, reject: no}\n  - *r\n  - <<: *r\n"), "x")
	f.Add([]byte("version: 1\nrules: [\n"), "x")
	f.Add([]byte("---\n---\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, repo string) {
		pol, err := verify.ParsePolicy(data, "fuzz.yaml", "../testdata/policy")
		if err != nil {
			if pol != nil {
				t.Fatal("a policy and an error")
			}
			errs := policyErrors(t, err)
			if len(errs) > verify.MaxPolicyErrors+1 {
				t.Fatalf("%d errors", len(errs))
			}
			for i, e := range errs {
				if e.File != "fuzz.yaml" {
					t.Fatalf("error %v names file %q", e, e.File)
				}
				if i > 0 && e.Line != 0 && errs[i-1].Line > e.Line {
					t.Fatalf("errors out of order: %v", err)
				}
			}
			return
		}
		if len(pol.Rules) == 0 {
			t.Fatal("a policy without rules")
		}
		for _, r := range pol.Rules {
			if r.Match == "" || r.Line == 0 || (r.Reject == "") == (len(r.Keys)+len(r.Keyless) == 0) {
				t.Fatalf("rule %+v", r)
			}
			if (len(r.Keyless) > 0) != (r.TrustedMaterial != nil) {
				t.Fatalf("rule %+v: keyless without trusted root or the other way", r)
			}
		}
		r, err := pol.Rule(repo)
		if err == nil && (r == nil || r.Reject != "") {
			t.Fatalf("Rule(%q) = %+v", repo, r)
		}
	})
}

func ExamplePolicy_Rule() {
	pol, err := verify.LoadPolicy("../testdata/policy/example.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, repo := range []string{
		"registry.example.com/team-a/llama",
		"registry.example.com/research/vision/vit",
		"localhost:5000/models/frozen",
		"registry.example.com/team-a/llama/v2",
	} {
		r, err := pol.Rule(repo)
		if err != nil {
			fmt.Println(repo, "->", err)
			continue
		}
		fmt.Printf("%s -> line %d: %d key(s), %d keyless, pinDigest %v, maxAge %v\n",
			repo, r.Line, len(r.Keys), len(r.Keyless), r.PinDigest, r.MaxAge)
	}
	// Output:
	// registry.example.com/team-a/llama -> line 12: 1 key(s), 1 keyless, pinDigest true, maxAge 0s
	// registry.example.com/research/vision/vit -> line 28: 0 key(s), 1 keyless, pinDigest false, maxAge 2160h0m0s
	// localhost:5000/models/frozen -> line 38: 2 key(s), 0 keyless, pinDigest false, maxAge 0s
	// registry.example.com/team-a/llama/v2 -> verification failed: policy denied: ../testdata/policy/example.yaml:46 (rules[3], match "**"): registry.example.com/team-a/llama/v2 is rejected: not an approved repository; ask #ml-platform
}

// TestParsePublicKey_OneRule: --key and a policy's key: load keys by the
// same rule, so a key one accepts the other accepts too.
func TestParsePublicKey_OneRule(t *testing.T) {
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := func(k crypto.PublicKey) []byte {
		b, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b})
	}
	good := der(p256.Public())
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"P-256", good, ""},
		{"P-224", der(p224.Public()), "curve P-224 is not supported"},
		{"two blocks", append(append([]byte{}, good...), good...), "more than one PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.pub")
			os.WriteFile(path, tc.data, 0o644)
			_, errParse := verify.ParsePublicKey(tc.data)
			_, errLoad := verify.LoadPublicKey(path)
			_, errPolicy := verify.ParsePolicy([]byte("version: 1\nrules:\n  - match: x\n    signers:\n      - key: k.pub\n"), "p.yaml", filepath.Dir(path))
			for _, err := range []error{errParse, errLoad, errPolicy} {
				if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %v, want %q", err, tc.want)
				}
			}
		})
	}
}

func TestParsePolicy_Transparency(t *testing.T) {
	const wk = "witness.test+6e1d6b2a+BHR2ZT3wy+3sL5VZmCDe/PBq3MPsDSImQZ7Y4y5gLqEN"
	const lk = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	src := "version: 1\nrules:\n  - match: x\n    signers: [key: a.pub]\n    transparency: required\n    logKey: " + lk +
		"\n    witnesses:\n      threshold: 1\n      keys: [" + wk + "]\n  - match: y\n    signers: [key: a.pub]\n"
	pol, err := verify.ParsePolicy([]byte(src), "p.yaml", policyDir(t))
	if err != nil {
		t.Fatal(err)
	}
	r := pol.Rules[0]
	if !r.Transparency || r.LogKey != lk || len(r.Witnesses) != 1 || r.Witnesses[0] != wk || r.WitnessThreshold != 1 {
		t.Fatalf("rule 0: %+v", r)
	}
	if r := pol.Rules[1]; r.Transparency || r.LogKey != "" || r.Witnesses != nil || r.WitnessThreshold != 0 {
		t.Fatalf("rule 1 (no transparency): %+v", r)
	}
}

func TestMatchPattern_Rules(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"reg.example/team-a/**", "reg.example/team-a/llama", true},
		{"reg.example/team-a/**", "reg.example/team-a/deep/llama", true},
		{"reg.example/team-a/**", "reg.example/team-ab/llama", false},
		{"reg.example/team-a/*", "reg.example/team-a/deep/llama", false},
		{"reg.example/team-a/*", "reg.example/team-a/llama", true},
		{"reg.example/team-a/*", "REG.example/team-a/llama", true},
		{"reg.example/team-a/*", "reg.example/team-a/Llama", false},
		{"reg.example/team-a/llama", "reg.example/team-a/llama:v1", false},
		{"reg.example/team-?/x", "reg.example/team-b/x", true},
	} {
		match, err := verify.MatchPattern(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := match(tc.repo); got != tc.want {
			t.Errorf("%s matches %s: %v, want %v", tc.pattern, tc.repo, got, tc.want)
		}
	}
	for _, bad := range []string{"", "reg.example/***", "reg.example/Team", "reg.example//x"} {
		if _, err := verify.MatchPattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}
