package attest_test

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
)

func TestProvenance_LineageRoundTrip(t *testing.T) {
	data := lineage.Dependency{Name: "reg.example/datasets/chat", Digest: digest.FromString("data"), Role: "dataset"}
	base := lineage.Dependency{Name: "reg.example/models/base", Digest: digest.FromString("base"), Role: "base-model"}
	pred, err := attest.Provenance(attest.BuildInfo{
		BuilderID:          "https://ci.example/runner",
		ExternalParameters: map[string]any{"epochs": 3, "lr": "1e-4"},
		Dependencies:       []lineage.Dependency{data, base},
		InvocationID:       "run-42",
	})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("tuned"), Size: 5}
	b, err := attest.Attest(t.Context(), kp, subject, "reg.example/models/tuned", attest.PredicateSLSAProvenance, pred, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := verify.Attestations(subject, [][]byte{b}, verify.Trust{Keys: []verify.Key{{Name: "k", Public: kp.GetPublicKey()}}}, verify.PredicateSLSAProvenance)
	if err != nil {
		t.Fatal(err)
	}
	st, err := protojson.Marshal(got[0].Statement)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := lineage.FromStatement(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 2 || deps[0] != (lineage.Dependency{Name: data.Name, Digest: data.Digest, Role: "dataset", URI: "oci://" + data.Reference()}) || deps[1].Reference() != base.Reference() {
		t.Fatalf("deps = %+v", deps)
	}
	builder := got[0].Statement.GetPredicate().GetFields()["runDetails"].GetStructValue().GetFields()["builder"].GetStructValue().GetFields()["id"].GetStringValue()
	if builder != "https://ci.example/runner" {
		t.Errorf("builder id = %q", builder)
	}
}

func TestParsePredicate(t *testing.T) {
	const valid = `{"buildDefinition":{"buildType":"https://t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"https://b"}}}`
	if _, err := attest.ParsePredicate([]byte(valid), attest.PredicateSLSAProvenance); err != nil {
		t.Fatalf("valid provenance: %v", err)
	}
	for _, tc := range []struct {
		name, data, typ, want string
	}{
		{"not json", `{`, "https://example.com/p", "not a JSON object"},
		{"array", `[1]`, "https://example.com/p", "not a JSON object"},
		{"too big", `{"a":"` + strings.Repeat("x", attest.MaxPredicateSize) + `"}`, "https://example.com/p", "exceeds"},
		{"no builder", `{"buildDefinition":{"buildType":"https://t","externalParameters":{"a":1}},"runDetails":{"builder":{}}}`, attest.PredicateSLSAProvenance, "builder"},
		{"no build type", `{"buildDefinition":{"externalParameters":{"a":1}},"runDetails":{"builder":{"id":"b"}}}`, attest.PredicateSLSAProvenance, "buildType"},
		{"no parameters", `{"buildDefinition":{"buildType":"t"},"runDetails":{"builder":{"id":"b"}}}`, attest.PredicateSLSAProvenance, "externalParameters"},
		{"unknown field", `{"buildDefinition":{"buildType":"t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"b"}},"bogus":1}`, attest.PredicateSLSAProvenance, "not SLSA provenance"},
		{"bad dependency", `{"buildDefinition":{"buildType":"t","externalParameters":{"a":1},"resolvedDependencies":[{}]},"runDetails":{"builder":{"id":"b"}}}`, attest.PredicateSLSAProvenance, "ResolvedDependencies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attest.ParsePredicate([]byte(tc.data), tc.typ)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := attest.ParsePredicate([]byte(`{"anything":[1,2]}`), "https://example.com/custom"); err != nil {
		t.Errorf("custom predicate: %v", err)
	}
	if _, err := attest.Provenance(attest.BuildInfo{}); err == nil {
		t.Error("provenance without a builder: no error")
	}
}

// FuzzParsePredicate: arbitrary predicate files must return, never panic.
func FuzzParsePredicate(f *testing.F) {
	f.Add([]byte(`{"buildDefinition":{"buildType":"https://t","externalParameters":{"a":1}},"runDetails":{"builder":{"id":"https://b"}}}`))
	f.Add([]byte(`{"buildDefinition":{"resolvedDependencies":[{"uri":"oci://r/a@sha256:00","digest":{"sha256":"zz"}}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		attest.ParsePredicate(data, attest.PredicateSLSAProvenance)
		attest.ParsePredicate(data, "https://example.com/p")
	})
}
