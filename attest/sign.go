package attest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"

	intotov1 "github.com/in-toto/attestation/go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/bundle"
)

// Names of a cosign v3 signature, as `cosign sign` writes and
// `cosign verify` reads them.
const (
	// PredicateCosignSign is the in-toto predicate type of a plain signature
	// (the predicate is the empty object).
	PredicateCosignSign = verify.PredicateCosignSign
	// PayloadTypeInToto is the DSSE payload type of an in-toto statement.
	PayloadTypeInToto = "application/vnd.in-toto+json"
	// MediaTypeBundle is the media type of a Sigstore bundle v0.3, and the
	// artifactType and layer media type of its referrer manifest.
	MediaTypeBundle = bundle.MediaType
	// AnnotationBundleContent says what the bundle holds ("dsse-envelope").
	AnnotationBundleContent = "dev.sigstore.bundle.content"
	// AnnotationPredicateType is the predicate type of the bundle's
	// statement, so that clients can pick referrers without fetching them.
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
)

// Keypair is a sigstore-go sign.Keypair over a long-lived crypto.Signer,
// such as the key LoadPrivateKey returns. Its hint is the base64 SHA-256 of
// the public key's PKIX DER, as sigstore-go's EphemeralKeypair and cosign
// compute it.
type Keypair struct {
	signer crypto.Signer
	alg    signature.AlgorithmDetails
	hint   []byte
}

var _ sign.Keypair = (*Keypair)(nil)

// NewKeypair wraps signer, choosing the signing algorithm from its public
// key: ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512, RSA PKCS#1 v1.5
// with SHA-256 (2048, 3072 or 4096 bits), or pure Ed25519.
func NewKeypair(signer crypto.Signer) (*Keypair, error) {
	pub := signer.Public()
	var details protocommon.PublicKeyDetails
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
		case elliptic.P384():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		case elliptic.P521():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		switch k.N.BitLen() {
		case 2048:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
		case 3072:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256
		case 4096:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256
		default:
			return nil, fmt.Errorf("unsupported RSA key size %d", k.N.BitLen())
		}
	case ed25519.PublicKey:
		details = protocommon.PublicKeyDetails_PKIX_ED25519
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	alg, err := signature.GetAlgorithmDetails(details)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &Keypair{signer: signer, alg: alg, hint: []byte(base64.StdEncoding.EncodeToString(sum[:]))}, nil
}

// GetHashAlgorithm returns the hash the signature is computed over.
func (k *Keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }

// GetSigningAlgorithm returns the key's signing algorithm.
func (k *Keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}

// GetHint returns the public key's fingerprint that the bundle carries.
func (k *Keypair) GetHint() []byte { return k.hint }

// GetKeyAlgorithm returns "ECDSA", "RSA" or "ED25519".
func (k *Keypair) GetKeyAlgorithm() string {
	switch k.alg.GetKeyType() {
	case signature.ECDSA:
		return "ECDSA"
	case signature.RSA:
		return "RSA"
	case signature.ED25519:
		return "ED25519"
	}
	return ""
}

// GetPublicKey returns the public key.
func (k *Keypair) GetPublicKey() crypto.PublicKey { return k.signer.Public() }

// GetPublicKeyPem returns the public key as PKIX PEM.
func (k *Keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.signer.Public())
	return string(b), err
}

// SignData signs data and returns the signature and what was signed: the
// digest of data, except for pure Ed25519, which signs data itself (as
// sigstore-go's EphemeralKeypair does).
func (k *Keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	hf := k.alg.GetHashType()
	signed := data
	if hf != crypto.Hash(0) {
		h := hf.New()
		h.Write(data)
		signed = h.Sum(nil)
	}
	sig, err := k.signer.Sign(rand.Reader, signed, hf)
	if err != nil {
		return nil, nil, err
	}
	return sig, signed, nil
}

// Statement returns the JSON of an in-toto Statement v1 about subject:
// one subject named name (a repository, such as host/models/llama) with
// the subject's digest, and the given predicate type and predicate (nil
// means the empty object).
func Statement(subject ocispec.Descriptor, name, predicateType string, predicate *structpb.Struct) ([]byte, error) {
	if err := subject.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("statement subject: %w", err)
	}
	if predicate == nil {
		predicate = &structpb.Struct{}
	}
	st := &intotov1.Statement{
		Type: intotov1.StatementTypeUri,
		Subject: []*intotov1.ResourceDescriptor{{
			Name:   name,
			Digest: map[string]string{subject.Digest.Algorithm().String(): subject.Digest.Encoded()},
		}},
		PredicateType: predicateType,
		Predicate:     predicate,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	return protojson.Marshal(st)
}

// SignStatement signs an in-toto statement into a Sigstore bundle v0.3
// holding a DSSE envelope, and returns the bundle's JSON. With zero opts
// the bundle carries only the key's hint as verification material: no
// certificate, no transparency log entry, no timestamp (cosign's
// offline key signing).
func SignStatement(ctx context.Context, kp sign.Keypair, statement []byte, opts sign.BundleOptions) ([]byte, error) {
	if opts.Context == nil {
		opts.Context = ctx
	}
	b, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: PayloadTypeInToto}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return protojson.Marshal(b)
}

// Sign signs subject (a model manifest in repository name) the way
// `cosign sign` does: a statement with predicate PredicateCosignSign, in a
// bundle, as SignStatement.
func Sign(ctx context.Context, kp sign.Keypair, subject ocispec.Descriptor, name string, opts sign.BundleOptions) ([]byte, error) {
	st, err := Statement(subject, name, PredicateCosignSign, nil)
	if err != nil {
		return nil, err
	}
	return SignStatement(ctx, kp, st, opts)
}

// Attach pushes bundle to dst as a referrer of subject, the way cosign v3
// does: an image manifest with artifactType MediaTypeBundle, the empty
// config, one layer holding the bundle, subject set, and the annotations
// AnnotationBundleContent, AnnotationPredicateType and the creation time,
// and cairn's hint of the signer (AnnotationKeyID or AnnotationIdentity).
// It returns the referrer manifest's descriptor. dst is usually an oras-go
// remote.Repository.
func Attach(ctx context.Context, dst content.Storage, subject ocispec.Descriptor, predicateType string, bundle []byte) (ocispec.Descriptor, error) {
	mem := memory.New()
	layer := content.NewDescriptorFromBytes(MediaTypeBundle, bundle)
	if err := mem.Push(ctx, layer, bytes.NewReader(bundle)); err != nil {
		return ocispec.Descriptor{}, err
	}
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	annotations := map[string]string{
		AnnotationBundleContent: "dsse-envelope",
		AnnotationPredicateType: predicateType,
	}
	// The signer's hint, so that a verifier reads this bundle first among
	// many (Collect); it is read from the bundle, never trusted.
	switch claim := verify.ClaimedSigner(bundle); {
	case claim.KeyID != "":
		annotations[AnnotationKeyID] = claim.KeyID
	case claim.Identity != "":
		annotations[AnnotationIdentity] = claim.Identity
	}
	desc, err := oras.PackManifest(ctx, mem, oras.PackManifestVersion1_1, MediaTypeBundle, oras.PackManifestOptions{
		Layers:              []ocispec.Descriptor{layer},
		Subject:             &subj,
		ManifestAnnotations: annotations,
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("pack referrer: %w", err)
	}
	// Copy the manifest, config and layer; the subject is already in dst
	// (or, for a local store, need not be).
	opts := oras.DefaultCopyGraphOptions
	opts.FindSuccessors = func(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		succ, err := content.Successors(ctx, f, d)
		if err != nil {
			return nil, err
		}
		return slices.DeleteFunc(succ, func(s ocispec.Descriptor) bool { return s.Digest == subj.Digest }), nil
	}
	if err := oras.CopyGraph(ctx, mem, dst, desc, opts); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push referrer of %s: %w", subject.Digest, err)
	}
	return desc, nil
}
