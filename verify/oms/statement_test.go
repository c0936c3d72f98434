package oms_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/oms"
)

// statementJSON is a valid statement with two resources, as a tree to
// mutate.
func statementJSON(t *testing.T) map[string]any {
	t.Helper()
	d1, d2 := sha256.Sum256([]byte("1")), sha256.Sum256([]byte("2"))
	m := &oms.Manifest{Name: "m", Serialization: oms.Serialization{IgnorePaths: []string{".git"}}, Resources: []oms.Resource{
		{Name: "a", Algorithm: "sha256", Digest: d1[:]},
		{Name: "b/c", Algorithm: "sha256", Digest: d2[:]},
	}}
	b, err := m.Statement()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func pred(v map[string]any) map[string]any { return v["predicate"].(map[string]any) }
func ser(v map[string]any) map[string]any  { return pred(v)["serialization"].(map[string]any) }
func res(v map[string]any, i int) map[string]any {
	return pred(v)["resources"].([]any)[i].(map[string]any)
}

func TestParseStatement(t *testing.T) {
	ok := statementJSON(t)
	b, _ := json.Marshal(ok)
	m, err := oms.ParseStatement(b)
	if err != nil || len(m.Resources) != 2 || m.Name != "m" || m.Serialization.IgnorePaths[0] != ".git" {
		t.Fatalf("valid statement: %+v, %v", m, err)
	}

	for _, tc := range []struct {
		name   string
		mutate func(v map[string]any)
		raw    string // used instead of the mutated tree when set
		want   string
	}{
		{name: "not JSON", raw: "{", want: "not a JSON object"},
		{name: "array", raw: "[]", want: "not a JSON object"},
		{name: "null", raw: "null", want: "not a JSON object"},
		{name: "wrong type", mutate: func(v map[string]any) { v["_type"] = "https://in-toto.io/Statement/v0.1" }, want: `want "https://in-toto.io/Statement/v1"`},
		{name: "type case", mutate: func(v map[string]any) { v["_Type"] = v["_type"]; delete(v, "_type") }, want: `no "_type"`},
		{name: "cosign predicate", mutate: func(v map[string]any) { v["predicateType"] = verify.PredicateCosignSign }, want: "want \"" + oms.PredicateType},
		{name: "two subjects", mutate: func(v map[string]any) { v["subject"] = append(v["subject"].([]any), v["subject"].([]any)[0]) }, want: "2 subjects, want 1"},
		{name: "no subject digest", mutate: func(v map[string]any) { delete(v["subject"].([]any)[0].(map[string]any), "digest") }, want: `no "digest"`},
		{name: "short subject digest", mutate: func(v map[string]any) {
			v["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": "abcd"}
		}, want: "not 64 hex digits"},
		{name: "wrong subject digest", mutate: func(v map[string]any) {
			v["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("0", 64)}
		}, want: "is not the digest of the resources"},
		{name: "reordered resources", mutate: func(v map[string]any) {
			r := pred(v)["resources"].([]any)
			r[0], r[1] = r[1], r[0]
		}, want: "is not the digest of the resources"},
		{name: "no predicate", mutate: func(v map[string]any) { delete(v, "predicate") }, want: `no "predicate"`},
		{name: "predicate list", mutate: func(v map[string]any) { v["predicate"] = []any{} }, want: "predicate"},
		{name: "no serialization", mutate: func(v map[string]any) { delete(pred(v), "serialization") }, want: `no "serialization"`},
		{name: "unknown method", mutate: func(v map[string]any) { ser(v)["method"] = "tensors" }, want: `method "tensors"`},
		{name: "symlinks as string", mutate: func(v map[string]any) { ser(v)["allow_symlinks"] = "false" }, want: "not a boolean"},
		{name: "shards without size", mutate: func(v map[string]any) { ser(v)["method"] = "shards" }, want: `no "shard_size"`},
		{name: "fractional shard", mutate: func(v map[string]any) { ser(v)["method"] = "shards"; ser(v)["shard_size"] = 1.5 }, want: "not a whole number"},
		{name: "shard size string", mutate: func(v map[string]any) { ser(v)["method"] = "shards"; ser(v)["shard_size"] = "8" }, want: "not a number"},
		{name: "hash type with spaces", mutate: func(v map[string]any) { ser(v)["hash_type"] = "sha 256" }, want: "not a hash name"},
		{name: "ignore paths not strings", mutate: func(v map[string]any) { ser(v)["ignore_paths"] = []any{1} }, want: "not a list of strings"},
		{name: "too many ignore paths", mutate: func(v map[string]any) {
			p := make([]any, oms.MaxIgnorePaths+1)
			for i := range p {
				p[i] = fmt.Sprint(i)
			}
			ser(v)["ignore_paths"] = p
		}, want: "more than 1024"},
		{name: "no resources", mutate: func(v map[string]any) { delete(pred(v), "resources") }, want: `no "resources"`},
		{name: "resource without name", mutate: func(v map[string]any) { delete(res(v, 0), "name") }, want: `resource 1 has no "name"`},
		{name: "absolute name", mutate: func(v map[string]any) { res(v, 0)["name"] = "/etc/passwd" }, want: "not a relative slash path"},
		{name: "dot-dot name", mutate: func(v map[string]any) { res(v, 0)["name"] = "../x" }, want: "not a relative slash path"},
		{name: "long name", mutate: func(v map[string]any) { res(v, 0)["name"] = strings.Repeat("a", oms.MaxPathLength+100) }, want: "longer than 4096"},
		{name: "duplicate name", mutate: func(v map[string]any) { res(v, 1)["name"] = "a" }, want: "listed twice"},
		{name: "dot with others", mutate: func(v map[string]any) { res(v, 0)["name"] = "." }, want: "single-file model"},
		{name: "other algorithm", mutate: func(v map[string]any) { res(v, 0)["algorithm"] = "blake2" }, want: `want "sha256"`},
		{name: "digest not hex", mutate: func(v map[string]any) { res(v, 0)["digest"] = "zz" }, want: "not hex"},
		{name: "digest short", mutate: func(v map[string]any) { res(v, 0)["digest"] = "abcd" }, want: "want 32"},
		{name: "digest number", mutate: func(v map[string]any) { res(v, 0)["digest"] = 7 }, want: "not a string"},
		{name: "shard name", mutate: func(v map[string]any) {
			ser(v)["method"] = "shards"
			ser(v)["shard_size"] = 8
			res(v, 0)["algorithm"] = "sha256-sharded-8"
			res(v, 0)["name"] = "a:0:9"
		}, want: "not a shard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.raw == "" {
				v := statementJSON(t)
				tc.mutate(v)
				data, _ = json.Marshal(v)
			}
			_, err := oms.ParseStatement(data)
			if !errors.Is(err, oms.ErrMalformed) || !errors.Is(err, verify.ErrVerification) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}

	t.Run("unknown fields ignored", func(t *testing.T) {
		v := statementJSON(t)
		pred(v)["model_card"] = map[string]any{"x": 1}
		ser(v)["future"] = true
		res(v, 0)["annotations"] = map[string]any{}
		data, _ := json.Marshal(v)
		if _, err := oms.ParseStatement(data); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("too many resources", func(t *testing.T) {
		var b bytes.Buffer
		b.WriteString(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://model_signing/signature/v1.0","subject":[{"digest":{"sha256":"` + strings.Repeat("0", 64) + `"}}],"predicate":{"serialization":{"method":"files","hash_type":"sha256","allow_symlinks":false},"resources":[`)
		for i := range oms.MaxResources + 1 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("{}")
		}
		b.WriteString("]}}")
		_, err := oms.ParseStatement(b.Bytes())
		if !errors.Is(err, oms.ErrTooMany) || !errors.Is(err, oms.ErrMalformed) {
			t.Fatalf("err = %v, want ErrTooMany", err)
		}
	})

	t.Run("too large", func(t *testing.T) {
		_, err := oms.ParseStatement(make([]byte, verify.MaxBundleSize+1))
		if !errors.Is(err, oms.ErrMalformed) || !strings.Contains(err.Error(), "limit") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestParseBundle(t *testing.T) {
	base := corpus(t, "oms", "scripts", "tests")
	legacy, err := os.ReadFile(filepath.Join(base, "v1.0.1-elliptic-key", oms.SignatureFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(legacy, []byte(`"rawBytes"`)) {
		t.Fatal("vector has no publicKey.rawBytes")
	}
	b, err := oms.ParseBundle(legacy)
	if err != nil {
		t.Fatalf("legacy key fields: %v", err)
	}
	if b.GetVerificationMaterial().GetPublicKey() == nil {
		t.Fatal("public key identifier lost")
	}

	var tree map[string]any
	if err := json.Unmarshal(legacy, &tree); err != nil {
		t.Fatal(err)
	}
	env := tree["dsseEnvelope"].(map[string]any)
	for _, tc := range []struct {
		name string
		data func() []byte
		want string
	}{
		{"too large", func() []byte { return bytes.Repeat([]byte(" "), verify.MaxBundleSize+1) }, "limit"},
		{"not JSON", func() []byte { return []byte("model.sig") }, "not a Sigstore bundle"},
		{"empty object", func() []byte { return []byte("{}") }, "invalid Sigstore bundle"},
		{"unknown field", func() []byte {
			return []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","bogus":1}`)
		}, "not a Sigstore bundle"},
		{"payload type", func() []byte {
			env["payloadType"] = "text/plain"
			defer func() { env["payloadType"] = oms.PayloadType }()
			b, _ := json.Marshal(tree)
			return b
		}, "payload type"},
		{"two signatures", func() []byte {
			sigs := env["signatures"].([]any)
			env["signatures"] = append(sigs, sigs[0])
			defer func() { env["signatures"] = sigs }()
			b, _ := json.Marshal(tree)
			return b
		}, "2 signatures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oms.ParseBundle(tc.data())
			if !errors.Is(err, oms.ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}

func TestVerifySignature_NoTrust(t *testing.T) {
	_, err := oms.VerifySignature([]byte("{}"), oms.Trust{})
	if err == nil || errors.Is(err, verify.ErrVerification) {
		t.Fatalf("err = %v, want a usage error", err)
	}
}
