package client_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
)

// pushJunkReferrer attaches a sigstore-typed referrer holding junk to
// subject, created at created, with the given annotations.
func pushJunkReferrer(t *testing.T, dst oras.Target, subject ocispec.Descriptor, created time.Time, ann map[string]string) {
	t.Helper()
	junk := []byte(`{"junk":true}`)
	layer := content.NewDescriptorFromBytes(attest.MediaTypeBundle, junk)
	if err := dst.Push(t.Context(), layer, bytes.NewReader(junk)); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	a := map[string]string{ocispec.AnnotationCreated: created.UTC().Format(time.RFC3339)}
	for k, v := range ann {
		a[k] = v
	}
	if _, err := oras.PackManifest(t.Context(), dst, oras.PackManifestVersion1_1, attest.MediaTypeBundle, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, Subject: &subject, ManifestAnnotations: a,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCollect_Selection: a signature among more junk referrers than are
// read is read first when its signer hint names a trusted key, whatever
// the junk claims; without a selection the newest are read, and the
// counts say what was left unread.
func TestCollect_Selection(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	repo := srv.Repository(t, "models/m")
	ctx := t.Context()
	subject, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.example.model", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	other, err := attest.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := attest.NewKeypair(trusted)
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.Sign(ctx, kp, subject, srv.Host+"/models/m", sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := attest.Attach(ctx, repo, subject, attest.PredicateCosignSign, b)
	if err != nil {
		t.Fatal(err)
	}
	// Attach names the signer's key as a hint.
	var listed ocispec.Descriptor
	repo.Referrers(ctx, subject, attest.MediaTypeBundle, func(page []ocispec.Descriptor) error {
		for _, d := range page {
			if d.Digest == sig.Digest {
				listed = d
			}
		}
		return nil
	})
	if got, want := listed.Annotations[attest.AnnotationKeyID], verify.KeyID(trusted.Public()); got != want {
		t.Fatalf("signature's %s = %q, want the key id %q", attest.AnnotationKeyID, got, want)
	}

	const junk = 150
	start := time.Now().Add(time.Hour)
	for i := range junk {
		ann := map[string]string{"n": fmt.Sprint(i)}
		if i%2 == 0 {
			ann[attest.AnnotationKeyID] = verify.KeyID(other.Public())
		}
		pushJunkReferrer(t, repo, subject, start.Add(time.Duration(i)*time.Second), ann)
	}

	trust := verify.Trust{Keys: []verify.Key{{Name: "trusted.pub", Public: trusted.Public()}}}
	for _, tc := range []struct {
		name    string
		sel     attest.Selection
		wantSig bool
	}{
		{"trusted key first", attest.SelectionFor(trust), true},
		{"newest first", attest.Selection{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col, err := attest.Collect(ctx, repo, subject, tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if col.Candidates != junk+1 || col.Read != verify.MaxBundles || col.NotRead != junk+1-verify.MaxBundles {
				t.Errorf("candidates %d, read %d, not read %d; want %d, %d, %d", col.Candidates, col.Read, col.NotRead, junk+1, verify.MaxBundles, junk+1-verify.MaxBundles)
			}
			_, err = verify.Signature(subject, attest.BundleData(col.Bundles), trust)
			if tc.wantSig {
				if err != nil || col.Bundles[0].Referrer.Digest != sig.Digest {
					t.Errorf("the signature was not read first: %v", err)
				}
				return
			}
			if !errors.Is(err, verify.ErrUntrustedSignature) {
				t.Fatalf("got %v, want ErrUntrustedSignature", err)
			}
			err = col.Explain(err, trust)
			want := fmt.Sprintf("%d signature candidates, none verified with key trusted.pub (%d read, %d not read: limit %d)", junk+1, verify.MaxBundles, junk+1-verify.MaxBundles, verify.MaxBundles)
			if !strings.Contains(err.Error(), want) || !errors.Is(err, verify.ErrUntrustedSignature) || !strings.Contains(err.Error(), "and 90 more reasons") {
				t.Errorf("Explain: %v\nwant %q, ErrUntrustedSignature and the reasons cut at 10", err, want)
			}
		})
	}
}
