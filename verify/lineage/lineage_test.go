package lineage_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify/lineage"
)

var (
	d1 = digest.FromString("dataset")
	d2 = digest.FromString("base")
)

func provenance(deps string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"00"}}],
"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"t","externalParameters":{"a":1},
"resolvedDependencies":[%s]},"runDetails":{"builder":{"id":"b"}}}}`, deps)
}

func TestFromStatement(t *testing.T) {
	for _, tc := range []struct {
		name string
		deps string
		want []string // NAME@DIGEST
	}{
		{"oci uri with digest map", fmt.Sprintf(`{"uri":"oci://reg.example:5000/data/set:v1","digest":{"sha256":%q},"name":"dataset"}`, d1.Encoded()),
			[]string{"reg.example:5000/data/set@" + d1.String()}},
		{"oci uri with digest in it", fmt.Sprintf(`{"uri":"oci://reg.example/base/m@%s"}`, d2), []string{"reg.example/base/m@" + d2.String()}},
		{"docker-style", fmt.Sprintf(`{"uri":"127.0.0.1:5000/base/m:v1@%s"}`, d2), []string{"127.0.0.1:5000/base/m@" + d2.String()}},
		{"purl", fmt.Sprintf(`{"uri":"pkg:oci/m@%s?repository_url=reg.example/base/m","digest":{"sha256":%q}}`, d2, d2.Encoded()),
			[]string{"reg.example/base/m@" + d2.String()}},
		{"two, with a duplicate and a git dep", fmt.Sprintf(`{"uri":"oci://r.example/a/d","digest":{"sha256":%q}},{"uri":"git+https://github.com/x/y","digest":{"sha1":"abc"}},{"uri":"oci://r.example/b/m@%s"},{"uri":"oci://r.example/a/d","digest":{"sha256":%q}}`, d1.Encoded(), d2, d1.Encoded()),
			[]string{"r.example/a/d@" + d1.String(), "r.example/b/m@" + d2.String()}},
		{"no digest", `{"uri":"oci://r.example/a/d:v1"}`, nil},
		{"uri and digest disagree", fmt.Sprintf(`{"uri":"oci://r.example/a/d@%s","digest":{"sha256":%q}}`, d1, d2.Encoded()), nil},
		{"bad digest", `{"uri":"oci://r.example/a/d","digest":{"sha256":"xyz"}}`, nil},
		{"https file", fmt.Sprintf(`{"uri":"https://example.com/data.tar","digest":{"sha256":%q}}`, d1.Encoded()), nil},
		{"bare name with digest map", fmt.Sprintf(`{"uri":"r.example/a/d","digest":{"sha256":%q}}`, d1.Encoded()), nil},
		{"no host", fmt.Sprintf(`{"uri":"oci://d@%s"}`, d1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps, err := lineage.FromStatement(provenance(tc.deps))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range deps {
				got = append(got, d.Reference())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFromBundle(t *testing.T) {
	st := provenance(fmt.Sprintf(`{"uri":"oci://r.example/a/d","digest":{"sha256":%q},"name":"dataset"}`, d1.Encoded()))
	b := fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":%q,"payloadType":"application/vnd.in-toto+json","signatures":[]}}`,
		base64.StdEncoding.EncodeToString(st))
	deps, err := lineage.FromBundle(b)
	if err != nil || len(deps) != 1 || deps[0].Role != "dataset" || deps[0].Digest != d1 {
		t.Fatalf("got %+v, %v", deps, err)
	}
	for name, bad := range map[string]string{
		"not json":    `{`,
		"no envelope": `{}`,
		"bad base64":  `{"dsseEnvelope":{"payload":"!!"}}`,
		"not a stmt":  `{"dsseEnvelope":{"payload":"bm90IGpzb24="}}`,
		"other pred":  fmt.Sprintf(`{"dsseEnvelope":{"payload":%q}}`, base64.StdEncoding.EncodeToString([]byte(`{"predicateType":"https://sigstore.dev/cosign/sign/v1"}`))),
	} {
		if _, err := lineage.FromBundle([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestFromStatement_Bounded(t *testing.T) {
	deps := ""
	for i := range lineage.MaxDependencies + 10 {
		if i > 0 {
			deps += ","
		}
		deps += fmt.Sprintf(`{"uri":"oci://r.example/a/d%d","digest":{"sha256":%q}}`, i, d1.Encoded())
	}
	got, err := lineage.FromStatement(provenance(deps))
	if err != nil || len(got) != lineage.MaxDependencies {
		t.Fatalf("got %d, %v; want %d", len(got), err, lineage.MaxDependencies)
	}
}

// FuzzFromBundle: arbitrary bytes must return, never panic, and every
// dependency returned must have a valid digest and a name.
func FuzzFromBundle(f *testing.F) {
	f.Add([]byte(`{"dsseEnvelope":{"payload":""}}`))
	f.Add(fmt.Appendf(nil, `{"dsseEnvelope":{"payload":%q}}`, base64.StdEncoding.EncodeToString(provenance(fmt.Sprintf(`{"uri":"oci://r.example/a/d@%s"}`, d1)))))
	f.Add(provenance(fmt.Sprintf(`{"uri":"pkg:oci/m@%s?repository_url=reg.example/base/m"}`, d2)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fn := range []func([]byte) ([]lineage.Dependency, error){lineage.FromBundle, lineage.FromStatement} {
			deps, err := fn(data)
			if err != nil {
				continue
			}
			for _, d := range deps {
				if d.Digest.Validate() != nil || d.Name == "" {
					t.Fatalf("bad dependency %+v", d)
				}
			}
		}
	})
}
