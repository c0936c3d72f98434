package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// omsCorpus returns a folder of the OMS interop vectors, under
// ../shared/corpus from the repository root, or skips.
func omsCorpus(t *testing.T, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "..", "shared", "corpus"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("OMS corpus not found at %s (../shared/corpus from the repository root): %v", p, err)
	}
	return p
}

// copyVector copies a vector folder to a writable temporary one.
func copyVector(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	writeTree(t, dst, files)
	return dst
}

func TestCLI_OMSVerifyCorpus(t *testing.T) {
	base := omsCorpus(t, "oms", "scripts", "tests")
	keys := filepath.Join(base, "keys", "certificate")
	publicGood := omsCorpus(t, "sigstore", "public-good.json")
	other := writePair(t, t.TempDir(), "other")
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	ca, _ := testCA(t, "root-ca", nil, nil)
	writePEM(t, otherCA, ca.Raw)

	trust := map[string][]string{
		"elliptic-key": {"--key", filepath.Join(keys, "signing-key-pub.pem")},
		"certificate":  {"--certificate-chain", filepath.Join(keys, "ca-cert.pem")},
		"sigstore":     {"--trusted-root", publicGood, "--certificate-identity", "stefanb@us.ibm.com", "--certificate-oidc-issuer", "https://sigstore.verify.ibm.com/oauth2"},
	}
	wrong := map[string][]string{
		"elliptic-key": {"--key", other + ".pub"},
		"certificate":  {"--certificate-chain", otherCA},
		"sigstore":     {"--trusted-root", publicGood, "--certificate-identity", "someone@example.com", "--certificate-oidc-issuer", "https://sigstore.verify.ibm.com/oauth2"},
	}
	for _, v := range []string{
		"v0.2.0-certificate",
		"v0.3.1-elliptic-key", "v0.3.1-certificate", "v0.3.1-sigstore",
		"v1.0.0-elliptic-key", "v1.0.0-certificate", "v1.0.0-sigstore",
		"v1.0.1-elliptic-key", "v1.0.1-certificate", "v1.0.1-sigstore",
		"v1.1.0-elliptic-key", "v1.1.0-certificate", "v1.1.0-sigstore",
	} {
		t.Run(v, func(t *testing.T) {
			kind := v[strings.Index(v, "-")+1:]
			dir := filepath.Join(base, v)
			model := dir
			if v == "v0.3.1-elliptic-key" || v == "v1.0.0-elliptic-key" {
				model = filepath.Join(dir, "signme-1")
			}
			// As the reference's scripts run: --signature and --ignore-paths
			// as paths from the working directory.
			args := append([]string{"verify", model, "--signature", filepath.Join(dir, "model.sig"), "--ignore-paths", filepath.Join(dir, "ignore-me")}, trust[kind]...)
			out := mustRun(t, args...)
			if !strings.HasPrefix(out, "verified: ") || (kind == "sigstore" && !strings.Contains(out, "stefanb@us.ibm.com")) {
				t.Errorf("output %q", out)
			}

			// The default signature (in the directory, or beside the file)
			// and an ignore path relative to the model.
			mustRun(t, append([]string{"verify", model, "--ignore-paths", "ignore-me"}, trust[kind]...)...)

			code, out := runCLI(t, append([]string{"verify", model, "--ignore-paths", "ignore-me"}, wrong[kind]...)...)
			if code != exitRefused || !strings.Contains(out, "signature does not verify") {
				t.Errorf("other trust anchor: exit %d: %s", code, out)
			}

			tmp := copyVector(t, dir)
			if err := os.WriteFile(filepath.Join(tmp, "signme-1"), []byte("changed\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tmpModel := tmp
			if model != dir {
				tmpModel = filepath.Join(tmp, "signme-1")
			}
			code, out = runCLI(t, append([]string{"verify", tmpModel, "--ignore-paths", "ignore-me"}, trust[kind]...)...)
			if code != exitRefused || !strings.Contains(out, "changed: signed sha256:") || !strings.Contains(out, "on disk sha256:") {
				t.Errorf("changed file: exit %d: %s", code, out)
			}
		})
	}

	t.Run("regexp identity", func(t *testing.T) {
		mustRun(t, "verify", filepath.Join(base, "v1.1.0-sigstore"), "--trusted-root", publicGood,
			"--certificate-identity-regexp", `^stefanb@us\.ibm\.com$`, "--certificate-oidc-issuer-regexp", `^https://sigstore\.verify\.ibm\.com/`)
		code, out := runCLI(t, "verify", filepath.Join(base, "v1.1.0-sigstore"), "--trusted-root", publicGood,
			"--certificate-identity-regexp", `@example\.com$`, "--certificate-oidc-issuer-regexp", `.*`)
		if code != exitRefused {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

// testCA makes a CA certificate, self-signed when parent is nil.
func testCA(t *testing.T, cn string, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func writePEM(t *testing.T, path string, ders ...[]byte) {
	t.Helper()
	var b []byte
	for _, d := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCertChain makes a root and intermediate CA and a code-signing leaf
// for the public key in prefix.pub, and writes root.pem, int.pem and
// leaf.pem to dir.
func writeCertChain(t *testing.T, dir, prefix string) {
	t.Helper()
	pemBytes, err := os.ReadFile(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.LoadPublicKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	root, rootKey := testCA(t, "test root", nil, nil)
	intermediate, intKey := testCA(t, "test intermediate", root, rootKey)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "model signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	leaf, err := x509.CreateCertificate(rand.Reader, tmpl, intermediate, pub, intKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, "root.pem"), root.Raw)
	writePEM(t, filepath.Join(dir, "int.pem"), intermediate.Raw)
	writePEM(t, filepath.Join(dir, "leaf.pem"), leaf)
}

// signedPayload returns the statement in a model.sig.
func signedPayload(t *testing.T, sigPath string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	var bundle struct{ DsseEnvelope struct{ Payload string } }
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatal(err)
	}
	p, err := base64.StdEncoding.DecodeString(bundle.DsseEnvelope.Payload)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCLI_OMSSignVerifyLocal(t *testing.T) {
	keys := t.TempDir()
	pair := writePair(t, keys, "signer")
	wrong := writePair(t, keys, "wrong")
	writeCertChain(t, keys, pair)
	otherRoot, _ := testCA(t, "test root", nil, nil)
	writePEM(t, filepath.Join(keys, "other-root.pem"), otherRoot.Raw)

	modes := []struct {
		name        string
		sign, trust []string
		untrusted   []string
	}{
		{"key", []string{"--key", pair + ".key"}, []string{"--key", pair + ".pub"}, []string{"--key", wrong + ".pub"}},
		{"certificate", []string{"--key", pair + ".key", "--certificate", filepath.Join(keys, "leaf.pem"), "--certificate-chain", filepath.Join(keys, "int.pem")},
			[]string{"--certificate-chain", filepath.Join(keys, "root.pem")}, []string{"--certificate-chain", filepath.Join(keys, "other-root.pem")}},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "tiny-llm")
			writeTree(t, dir, map[string][]byte{
				"config.json":                 []byte(`{"model_type":"llama"}`),
				"weights/model.safetensors":   random(300 << 10),
				"weights/extra/adapter.bin":   random(1 << 10),
				"notes/draft.md":              []byte("not part of the model"),
				".git/HEAD":                   []byte("ref: refs/heads/main\n"),
				"tokenizer/tokenizer.json":    []byte(`{}`),
				"tokenizer/special tokens.md": []byte("sp"),
			})
			verifyArgs := func(extra ...string) []string {
				return append(append([]string{"verify", dir, "--ignore-paths", "notes"}, mode.trust...), extra...)
			}

			out := mustRun(t, append([]string{"sign", dir, "--ignore-paths", filepath.Join(dir, "notes")}, mode.sign...)...)
			sigPath := filepath.Join(dir, "model.sig")
			if !strings.Contains(out, sigPath) {
				t.Fatalf("sign output %q, want %s", out, sigPath)
			}
			st := signedPayload(t, sigPath)
			pred := st["predicate"].(map[string]any)
			var names []string
			for _, r := range pred["resources"].([]any) {
				names = append(names, r.(map[string]any)["name"].(string))
			}
			want := []string{"config.json", "tokenizer/special tokens.md", "tokenizer/tokenizer.json", "weights/extra/adapter.bin", "weights/model.safetensors"}
			if strings.Join(names, ",") != strings.Join(want, ",") {
				t.Errorf("signed %q, want %q", names, want)
			}
			if ign := pred["serialization"].(map[string]any)["ignore_paths"]; len(ign.([]any)) != 6 {
				t.Errorf("ignore_paths %v", ign)
			}
			if st["subject"].([]any)[0].(map[string]any)["name"] != "tiny-llm" {
				t.Errorf("subject %v", st["subject"])
			}

			out = mustRun(t, verifyArgs()...)
			if !strings.Contains(out, "verified: "+dir+" (5 files, sha256:") {
				t.Errorf("verify output %q", out)
			}
			// Ignored files may change.
			writeTree(t, dir, map[string][]byte{"notes/draft.md": []byte("edited"), ".git/HEAD": []byte("x")})
			mustRun(t, verifyArgs()...)

			code, out := runCLI(t, append([]string{"verify", dir, "--ignore-paths", "notes"}, mode.untrusted...)...)
			if code != exitRefused || !strings.Contains(out, "signature does not verify") {
				t.Errorf("untrusted: exit %d: %s", code, out)
			}

			for _, tc := range []struct {
				name   string
				change func()
				undo   func()
				want   string
			}{
				{"changed", func() { writeTree(t, dir, map[string][]byte{"weights/extra/adapter.bin": []byte("evil")}) }, nil, "weights/extra/adapter.bin changed: signed sha256:"},
				{"added", func() { writeTree(t, dir, map[string][]byte{"weights/lora.bin": []byte("new")}) }, func() { os.Remove(filepath.Join(dir, "weights/lora.bin")) }, "weights/lora.bin is not covered"},
				{"removed", func() { os.Remove(filepath.Join(dir, "config.json")) }, nil, "config.json is signed but missing"},
				{"symlink", func() { os.Symlink("config.json", filepath.Join(dir, "link.json")) }, func() { os.Remove(filepath.Join(dir, "link.json")) }, "link.json: unsupported file type"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tc.change()
					code, out := runCLI(t, verifyArgs()...)
					if code != exitRefused || !strings.Contains(out, tc.want) {
						t.Errorf("exit %d, want 1 with %q: %s", code, tc.want, out)
					}
					if tc.undo != nil {
						tc.undo()
					}
				})
			}
		})
	}

	t.Run("single file and --signature elsewhere", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "model.gguf")
		writeTree(t, dir, map[string][]byte{"model.gguf": random(10 << 10), "other.txt": []byte("x")})
		out := mustRun(t, "sign", file, "--key", pair+".key")
		if sig := filepath.Join(dir, "model.sig"); !strings.Contains(out, sig) {
			t.Fatalf("sign output %q, want %s", out, sig)
		}
		mustRun(t, "verify", file, "--key", pair+".pub")
		code, out := runCLI(t, "verify", dir, "--key", pair+".pub")
		if code != exitRefused || !strings.Contains(out, "single file") {
			t.Errorf("directory against a file's signature: exit %d: %s", code, out)
		}
		elsewhere := filepath.Join(t.TempDir(), "sigs", "m.sig")
		os.MkdirAll(filepath.Dir(elsewhere), 0o755)
		mustRun(t, "sign", dir, "--key", pair+".key", "--signature", elsewhere)
		mustRun(t, "verify", dir, "--key", pair+".pub", "--signature", elsewhere)
		code, out = runCLI(t, "verify", file, "--key", pair+".pub", "--signature", elsewhere)
		if code != exitRefused || !strings.Contains(out, "directory") {
			t.Errorf("file against a directory's signature: exit %d: %s", code, out)
		}
	})
}

func TestCLI_OMSErrors(t *testing.T) {
	keys := t.TempDir()
	pair := writePair(t, keys, "signer")
	dir := filepath.Join(t.TempDir(), "m")
	writeTree(t, dir, map[string][]byte{"w.bin": []byte("weights")})
	mustRun(t, "sign", dir, "--key", pair+".key")
	sig := filepath.Join(dir, "model.sig")

	huge := filepath.Join(t.TempDir(), "huge.sig")
	if err := os.WriteFile(huge, make([]byte, verify.MaxBundleSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.sig")
	if err := os.WriteFile(garbage, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"`), 0o644); err != nil {
		t.Fatal(err)
	}
	unsigned := t.TempDir()
	writeTree(t, unsigned, map[string][]byte{"w.bin": []byte("weights")})

	// A signature whose files were hashed with BLAKE3: cairn cannot check it.
	key, err := attest.LoadPrivateKey(mustRead(t, pair+".key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := attest.NewOMSKeypair(key)
	b3, err := attest.SignOMS(t.Context(), kp, &oms.Manifest{Name: "m", Serialization: oms.Serialization{HashType: "blake3"},
		Resources: []oms.Resource{{Name: "w.bin", Algorithm: "blake3", Digest: make([]byte, 32)}}}, nil, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blake3 := filepath.Join(t.TempDir(), "blake3.sig")
	if err := os.WriteFile(blake3, b3, 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no trust", []string{"verify", dir}, exitError, "nothing to verify against"},
		{"identity without root", []string{"verify", dir, "--certificate-identity", "a@b", "--certificate-oidc-issuer", "https://i"}, exitError, "--trusted-root"},
		{"unreadable signature", []string{"verify", dir, "--key", pair + ".pub", "--signature", filepath.Join(dir, "nope.sig")}, exitError, "no such file"},
		{"unreadable CA", []string{"verify", dir, "--certificate-chain", filepath.Join(keys, "nope.pem")}, exitError, "no such file"},
		{"not a CA file", []string{"verify", dir, "--certificate-chain", pair + ".pub"}, exitError, "no PEM certificate"},
		{"policy", []string{"verify", dir, "--key", pair + ".pub", "--policy", "p.yaml"}, exitError, "--policy"},
		{"huge signature", []string{"verify", dir, "--key", pair + ".pub", "--signature", huge}, exitRefused, "limit"},
		{"truncated signature", []string{"verify", dir, "--key", pair + ".pub", "--signature", garbage}, exitRefused, "malformed model signature"},
		{"blake3", []string{"verify", dir, "--key", pair + ".pub", "--signature", blake3}, exitError, "blake3"},
		{"ignore path outside", []string{"verify", dir, "--key", pair + ".pub", "--ignore-paths", "../elsewhere"}, exitError, "not inside the model"},
		{"no model.sig: a pulled directory", []string{"verify", unsigned, "--key", pair + ".pub"}, exitError, ".cairn"},
		{"chain without certificate", []string{"sign", dir, "--key", pair + ".key", "--certificate-chain", sig}, exitError, "--certificate"},
		{"missing model", []string{"sign", filepath.Join(dir, "nope"), "--key", pair + ".key"}, exitError, "no such file"},
		{"certificate for another key", []string{"sign", dir, "--key", pair + ".key", "--certificate", writeOtherCert(t)}, exitError, "not for the signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q: %s", code, tc.code, tc.want, out)
			}
		})
	}
	// The signature is still good after all that.
	mustRun(t, "verify", dir, "--key", pair+".pub", "--signature", sig)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeOtherCert(t *testing.T) string {
	t.Helper()
	c, _ := testCA(t, "someone else", nil, nil)
	p := filepath.Join(t.TempDir(), "other.pem")
	writePEM(t, p, c.Raw)
	return p
}
