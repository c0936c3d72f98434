package attest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
)

var subject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("model"), Size: 5}

func TestSign_KeyTypes(t *testing.T) {
	ec := func(c elliptic.Curve) crypto.Signer {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		signer crypto.Signer
	}{
		{"ECDSA P-256", ec(elliptic.P256())},
		{"ECDSA P-384", ec(elliptic.P384())},
		{"ECDSA P-521", ec(elliptic.P521())},
		{"Ed25519", ed},
		{"RSA 2048", rsaKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := attest.NewKeypair(tc.signer)
			if err != nil {
				t.Fatal(err)
			}
			b, err := attest.Sign(t.Context(), kp, subject, "reg.example/m", sign.BundleOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify.Signature(subject, [][]byte{b}, verify.Trust{Keys: []verify.Key{{Name: "k", Public: tc.signer.Public()}}}); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func TestSign_BundleShape(t *testing.T) {
	key, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.Sign(t.Context(), kp, subject, "reg.example/m", sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MediaType            string
		VerificationMaterial struct {
			PublicKey   struct{ Hint string }
			TlogEntries []any
			Certificate any
		}
		DsseEnvelope struct {
			Payload     []byte
			PayloadType string
			Signatures  []struct{ Sig []byte }
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	vm := got.VerificationMaterial
	if got.MediaType != attest.MediaTypeBundle || vm.PublicKey.Hint != string(kp.GetHint()) || vm.PublicKey.Hint == "" ||
		vm.TlogEntries != nil || vm.Certificate != nil ||
		got.DsseEnvelope.PayloadType != attest.PayloadTypeInToto || len(got.DsseEnvelope.Signatures) != 1 {
		t.Errorf("bundle: %s", b)
	}
	want := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"reg.example/m","digest":{"sha256":"` + subject.Digest.Encoded() + `"}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{}}`
	if !jsonEqual(t, got.DsseEnvelope.Payload, []byte(want)) {
		t.Errorf("statement %s, want %s", got.DsseEnvelope.Payload, want)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

func TestAttach(t *testing.T) {
	ctx := t.Context()
	store := memory.New()
	bundle := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	desc, err := attest.Attach(ctx, store, subject, attest.PredicateCosignSign, bundle)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := store.Fetch(ctx, desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	mb, err := content.ReadAll(rc, desc)
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != attest.MediaTypeBundle ||
		m.Config.MediaType != ocispec.MediaTypeEmptyJSON || m.Config.Digest != ocispec.DescriptorEmptyJSON.Digest ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != attest.MediaTypeBundle || m.Layers[0].Digest != digest.FromBytes(bundle) ||
		m.Subject == nil || m.Subject.Digest != subject.Digest || m.Subject.Size != subject.Size ||
		m.Annotations[attest.AnnotationPredicateType] != attest.PredicateCosignSign ||
		m.Annotations[attest.AnnotationBundleContent] != "dsse-envelope" || m.Annotations[ocispec.AnnotationCreated] == "" {
		t.Errorf("referrer manifest: %s", mb)
	}
	lr, err := store.Fetch(ctx, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	if got, _ := io.ReadAll(lr); string(got) != string(bundle) {
		t.Errorf("layer %q", got)
	}
}

func ExampleStatement() {
	d := digest.FromString("model")
	st, err := attest.Statement(ocispec.Descriptor{Digest: d}, "reg.example/models/m", attest.PredicateCosignSign, nil)
	if err != nil {
		panic(err)
	}
	var v struct {
		Type          string `json:"_type"`
		PredicateType string
		Subject       []struct {
			Name   string
			Digest map[string]string
		}
	}
	json.Unmarshal(st, &v)
	fmt.Println(v.Type)
	fmt.Println(v.PredicateType)
	fmt.Println(v.Subject[0].Name, v.Subject[0].Digest["sha256"] == d.Encoded())
	// Output:
	// https://in-toto.io/Statement/v1
	// https://sigstore.dev/cosign/sign/v1
	// reg.example/models/m true
}
