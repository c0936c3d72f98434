package oms

import (
	"encoding/json"
	"fmt"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/verify"
)

// SignatureFile is the name the reference implementation and cairn give
// an OMS signature: model.sig.
const SignatureFile = "model.sig"

// ParseBundle decodes model.sig: a Sigstore bundle (JSON, v0.3) holding a
// DSSE envelope with one signature over an in-toto statement. Bundles
// larger than verify.MaxBundleSize are refused before parsing. Bundles
// written by the reference implementation before v1.1 carry the signing
// key in publicKey.rawBytes and publicKey.keyDetails, which are not fields
// of the bundle format; they are dropped first, as the reference reader
// does (trust comes from the key the verifier is given, never from the
// bundle). The bundle may carry an X.509 certificate chain (leaf first),
// as `model_signing sign certificate` writes. Errors wrap ErrMalformed. It
// does not check any signature.
func ParseBundle(data []byte) (*bundle.Bundle, error) {
	if len(data) > verify.MaxBundleSize {
		return nil, malformed("%d bytes exceed the %d-byte limit for a signature bundle", len(data), verify.MaxBundleSize)
	}
	pb := new(protobundle.Bundle)
	if err := protojson.Unmarshal(dropKeyFields(data), pb); err != nil {
		return nil, fmt.Errorf("%w: not a Sigstore bundle: %w", ErrMalformed, err)
	}
	b, err := bundle.NewBundle(pb, bundle.AllowCertificateChain())
	if err != nil {
		return nil, fmt.Errorf("%w: invalid Sigstore bundle: %w", ErrMalformed, err)
	}
	env := b.GetDsseEnvelope()
	switch {
	case env == nil:
		return nil, malformed("the bundle holds no DSSE envelope (a bare message signature is not a model signature)")
	case env.PayloadType != PayloadType:
		return nil, malformed("DSSE payload type %q, want %q", truncate(env.PayloadType), PayloadType)
	case len(env.Signatures) != 1:
		return nil, malformed("DSSE envelope with %d signatures, want 1", len(env.Signatures))
	}
	return b, nil
}

// dropKeyFields removes verificationMaterial.publicKey.rawBytes and
// .keyDetails when present. Input that is not a JSON object is returned
// unchanged, for protojson to refuse.
func dropKeyFields(data []byte) []byte {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return data
	}
	var vm map[string]json.RawMessage
	if json.Unmarshal(top["verificationMaterial"], &vm) != nil {
		return data
	}
	var pk map[string]json.RawMessage
	if json.Unmarshal(vm["publicKey"], &pk) != nil || pk == nil {
		return data
	}
	_, raw := pk["rawBytes"]
	_, details := pk["keyDetails"]
	if !raw && !details {
		return data
	}
	delete(pk, "rawBytes")
	delete(pk, "keyDetails")
	var err error
	if vm["publicKey"], err = json.Marshal(pk); err != nil {
		return data
	}
	if top["verificationMaterial"], err = json.Marshal(vm); err != nil {
		return data
	}
	out, err := json.Marshal(top)
	if err != nil {
		return data
	}
	return out
}
