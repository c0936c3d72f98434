package oms_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// fuzzSeeds returns statements and bundles to start from: a statement
// and key-signed bundle made here, and the reference's vectors when the
// corpus is present.
func fuzzSeeds(f *testing.F, kp sign.Keypair) (statements, bundles [][]byte) {
	d := sha256.Sum256([]byte("w"))
	m := &oms.Manifest{Name: "m", Serialization: oms.Serialization{Method: oms.MethodShards, ShardSize: 8, IgnorePaths: []string{".git"}},
		Resources: []oms.Resource{{Name: "w:0:8", Algorithm: "sha256-sharded-8", Digest: d[:]}, {Name: "w:8:9", Algorithm: "sha256-sharded-8", Digest: d[:]}}}
	st, err := m.Statement()
	if err != nil {
		f.Fatal(err)
	}
	statements = append(statements, st, []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://model_signing/Digests/v0.1","subject":[{"name":"a","digest":{"sha256":"`+string(bytes.Repeat([]byte("0"), 64))+`"}}]}`))
	b, err := sign.Bundle(&sign.DSSEData{Data: st, PayloadType: oms.PayloadType}, kp, sign.BundleOptions{})
	if err != nil {
		f.Fatal(err)
	}
	j, err := protojson.Marshal(b)
	if err != nil {
		f.Fatal(err)
	}
	bundles = append(bundles, j)
	if dir, err := os.Getwd(); err == nil {
		vectors, _ := filepath.Glob(filepath.Join(dir, "..", "..", "..", "shared", "corpus", "oms", "scripts", "tests", "v*", oms.SignatureFile))
		for _, v := range vectors {
			if data, err := os.ReadFile(v); err == nil {
				bundles = append(bundles, data)
				if pb, err := oms.ParseBundle(data); err == nil {
					statements = append(statements, pb.GetDsseEnvelope().Payload)
				}
			}
		}
	}
	return statements, bundles
}

// FuzzParseBundle feeds model.sig bytes to ParseBundle and
// VerifySignature: never a panic, and every failure a refusal.
func FuzzParseBundle(f *testing.F) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		f.Fatal(err)
	}
	_, bundles := fuzzSeeds(f, kp)
	for _, b := range bundles {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"publicKey":{"rawBytes":"","keyDetails":1}},"dsseEnvelope":{}}`))
	ca, _ := newCA(f, "fuzz-ca")
	trust := oms.Trust{Trust: verify.Trust{Keys: []verify.Key{{Name: "k", Public: kp.GetPublicKey()}}}, CAs: []oms.CA{{Name: "ca", Cert: ca}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := oms.ParseBundle(data)
		if err != nil {
			if !errors.Is(err, oms.ErrMalformed) {
				t.Fatalf("ParseBundle error not ErrMalformed: %v", err)
			}
			return
		}
		if b.GetDsseEnvelope() == nil {
			t.Fatal("parsed bundle without an envelope")
		}
		s, err := oms.VerifySignature(data, trust)
		if err != nil {
			if !errors.Is(err, verify.ErrVerification) {
				t.Fatalf("VerifySignature error not a refusal: %v", err)
			}
			return
		}
		if s.Manifest == nil || s.Signer == "" {
			t.Fatalf("verified without a manifest or signer: %+v", s)
		}
	})
}

// FuzzParseStatement feeds statements to ParseStatement: never a panic,
// failures wrap ErrMalformed, and what parses writes back (Statement) to
// a statement that parses to the same resources and digest.
func FuzzParseStatement(f *testing.F) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		f.Fatal(err)
	}
	statements, _ := fuzzSeeds(f, kp)
	for _, s := range statements {
		f.Add(s)
		f.Add(s[:len(s)*2/3])
	}
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://model_signing/signature/v1.0","subject":[{"digest":{"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}],"predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false},"resources":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := oms.ParseStatement(data)
		if err != nil {
			if !errors.Is(err, oms.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		if len(m.Resources) > oms.MaxResources {
			t.Fatalf("%d resources parsed", len(m.Resources))
		}
		if m.Legacy() {
			return
		}
		again, err := m.Statement()
		if err != nil {
			t.Fatalf("Statement of a parsed manifest: %v", err)
		}
		back, err := oms.ParseStatement(again)
		if err != nil {
			t.Fatalf("written statement does not parse: %v\n%s", err, again)
		}
		if err := oms.Compare(m, back); err != nil || !bytes.Equal(m.Digest(), back.Digest()) {
			t.Fatalf("round trip changed the manifest: %v", err)
		}
		var v map[string]any
		if err := json.Unmarshal(again, &v); err != nil {
			t.Fatal(err)
		}
	})
}
