package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
)

// writePair writes an unencrypted key pair to dir/name.key and
// dir/name.pub and returns the prefix.
func writePair(t testing.TB, dir, name string) string {
	t.Helper()
	key, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := attest.MarshalPrivateKey(key, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := attest.MarshalPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	prefix := filepath.Join(dir, name)
	if err := os.WriteFile(prefix+".key", priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefix+".pub", pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return prefix
}

// tinySafetensors returns a valid safetensors file of one U8 tensor of n
// random bytes.
func tinySafetensors(t *testing.T, n int) []byte {
	t.Helper()
	hdr := fmt.Sprintf(`{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, n, n)
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), random(n)...)
}

// pushModel pushes a small model to ref and returns its manifest digest.
func pushModel(t *testing.T, ref string) digest.Digest {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`), "model.safetensors": tinySafetensors(t, 4<<10)})
	out := strings.TrimSpace(mustRun(t, "push", dir, ref, "--cache", t.TempDir()))
	d, err := digest.Parse(out[strings.LastIndex(out, "\n")+1:])
	if err != nil {
		t.Fatalf("push output %q: %v", out, err)
	}
	return d
}

func TestCLI_SignVerify(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	right, wrong := writePair(t, keys, "right"), writePair(t, keys, "wrong")
	repoName := srv.Host + "/models/m"

	signed := pushModel(t, repoName+":signed")
	out := strings.TrimSpace(mustRun(t, "sign", repoName+":signed", "--key", right+".key"))
	sigDigest, err := digest.Parse(out[strings.LastIndex(out, "\n")+1:])
	if err != nil {
		t.Fatalf("sign output %q: %v", out, err)
	}

	// The referrer is shaped as cosign v3 shapes its own.
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	sigDesc, err := repo.Resolve(t.Context(), sigDigest.String())
	if err != nil {
		t.Fatal(err)
	}
	mb, err := (&client.Repository{Repo: repo}).FetchSmall(t.Context(), sigDesc, client.MaxManifestSize)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != attest.MediaTypeBundle || m.Config.MediaType != ocispec.MediaTypeEmptyJSON ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != attest.MediaTypeBundle ||
		m.Subject == nil || m.Subject.Digest != signed ||
		m.Annotations[attest.AnnotationPredicateType] != attest.PredicateCosignSign ||
		m.Annotations[attest.AnnotationBundleContent] != "dsse-envelope" {
		t.Errorf("signature manifest: %s", mb)
	}

	pushModel(t, repoName+":unsigned")

	// A bundle whose signature bytes are altered, attached to a model.
	pushModel(t, repoName+":tampered")
	tamperedDesc, err := repo.Resolve(t.Context(), "tampered")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := loadSigningKey(right+".key", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(signer)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := attest.Sign(t.Context(), kp, tamperedDesc, repoName, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Attach(t.Context(), repo, tamperedDesc, attest.PredicateCosignSign, alterSignature(t, bundle)); err != nil {
		t.Fatal(err)
	}

	// A valid signature of another digest, attached to a model.
	pushModel(t, repoName+":misbound")
	misboundDesc, err := repo.Resolve(t.Context(), "misbound")
	if err != nil {
		t.Fatal(err)
	}
	other, err := repo.Resolve(t.Context(), "signed")
	if err != nil {
		t.Fatal(err)
	}
	bundle, err = attest.Sign(t.Context(), kp, other, repoName, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Attach(t.Context(), repo, misboundDesc, attest.PredicateCosignSign, bundle); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"right key", []string{repoName + ":signed", "--key", right + ".pub"}, exitOK, "verified: " + repoName + "@" + signed.String() + " signed by " + right + ".pub"},
		{"right key by digest", []string{repoName + "@" + signed.String(), "--key", wrong + ".pub", "--key", right + ".pub"}, exitOK, "signed by " + right + ".pub"},
		{"wrong key", []string{repoName + ":signed", "--key", wrong + ".pub"}, exitRefused, "no signature verifies with a trusted key"},
		{"unsigned", []string{repoName + ":unsigned", "--key", right + ".pub"}, exitRefused, "no signature"},
		{"tampered signature", []string{repoName + ":tampered", "--key", right + ".pub"}, exitRefused, "no signature verifies"},
		{"signature of another digest", []string{repoName + ":misbound", "--key", right + ".pub"}, exitRefused, "no signature verifies"},
		{"missing key file", []string{repoName + ":signed", "--key", filepath.Join(keys, "absent.pub")}, exitError, "absent.pub"},
		{"private key as public", []string{repoName + ":signed", "--key", right + ".key"}, exitError, "holds a private key"},
		{"unknown tag", []string{repoName + ":nope", "--key", right + ".pub"}, exitError, `tag "nope" not found in`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, append([]string{"verify"}, tc.args...)...)
			t.Logf("%s", out)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, tc.code, out, tc.want)
			}
		})
	}
}

// alterSignature flips a bit of the DSSE signature in a bundle's JSON.
func alterSignature(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	sigs := b["dsseEnvelope"].(map[string]any)["signatures"].([]any)
	s := sigs[0].(map[string]any)
	raw, err := base64.StdEncoding.DecodeString(s["sig"].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	s["sig"] = base64.StdEncoding.EncodeToString(raw)
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCLI_SignEncryptedKeyNoTerminal(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	ref := srv.Host + "/models/m:v1"
	pushModel(t, ref)
	key, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := attest.MarshalPrivateKey(key, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "enc.key")
	if err := os.WriteFile(path, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(passwordEnv, "") // restored after the test
	os.Unsetenv(passwordEnv)
	if code, out := runCLI(t, "sign", ref, "--key", path); code != exitError || !strings.Contains(out, "no terminal") {
		t.Errorf("no password, no terminal: exit %d: %s", code, out)
	}
	t.Setenv(passwordEnv, "wrong")
	if code, out := runCLI(t, "sign", ref, "--key", path); code != exitError || !strings.Contains(out, "wrong password") {
		t.Errorf("wrong password: exit %d: %s", code, out)
	}
	t.Setenv(passwordEnv, "secret")
	mustRun(t, "sign", ref, "--key", path)
}
