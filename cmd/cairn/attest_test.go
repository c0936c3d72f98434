package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify/verifytest"
)

// lastLineDigest parses the digest a command prints on its last line.
func lastLineDigest(t *testing.T, out string) digest.Digest {
	t.Helper()
	out = strings.TrimSpace(out)
	d, err := digest.Parse(out[strings.LastIndex(out, "\n")+1:])
	if err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	return d
}

func inspectJSON(t *testing.T, args ...string) client.Inspection {
	t.Helper()
	var res client.Inspection
	out := mustRun(t, append([]string{"inspect", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("inspect --json: %v\n%s", err, out)
	}
	return res
}

// TestCLI_Lineage pushes a dataset, a base model trained on it and a
// fine-tune of the base on the same dataset, attests each step's SLSA
// provenance, and reads the chain back with inspect in both directions.
func TestCLI_Lineage(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{})
	keys := t.TempDir()
	key, other := writePair(t, keys, "ci"), writePair(t, keys, "other")
	h := srv.Host

	dataDir := t.TempDir()
	writeTree(t, dataDir, map[string][]byte{"train/0.jsonl": []byte(`{"q":"a"}`), "train/1.jsonl": []byte(`{"q":"b"}`)})
	data := lastLineDigest(t, mustRun(t, "push", "--dataset", dataDir, h+"/datasets/chat:v1", "--cache", t.TempDir()))
	base := pushModel(t, h+"/models/base:v1")
	tuned := pushModel(t, h+"/models/tuned:v1")

	baseAtt := lastLineDigest(t, mustRun(t, "attest", h+"/models/base:v1", "--key", key+".key",
		"--builder-id", "https://ci.example/pretrain", "--dependency", "dataset="+h+"/datasets/chat:v1", "--param", "epochs=3"))
	tunedAtt := lastLineDigest(t, mustRun(t, "attest", h+"/models/tuned:v1", "--key", key+".key",
		"--builder-id", "https://ci.example/finetune",
		"--dependency", "base-model="+h+"/models/base:v1", "--dependency", "dataset="+h+"/datasets/chat@"+data.String()))

	edge := func(es []client.LineageEdge, ref string) *client.LineageEdge {
		for i := range es {
			if es[i].Reference == ref {
				return &es[i]
			}
		}
		return nil
	}
	dataRef, baseRef, tunedRef := h+"/datasets/chat@"+data.String(), h+"/models/base@"+base.String(), h+"/models/tuned@"+tuned.String()

	// The base model: built from the dataset, built into the fine-tune.
	res := inspectJSON(t, h+"/models/base:v1", "--key", key+".pub")
	l := res.Lineage
	if l == nil || len(l.BuiltFrom) != 1 || len(l.BuiltInto) != 1 {
		t.Fatalf("base lineage: %+v", l)
	}
	if e := edge(l.BuiltFrom, dataRef); e == nil || e.Role != "dataset" || e.Attestation != baseAtt || e.SignedBy != key+".pub" {
		t.Errorf("base built from: %+v", l.BuiltFrom)
	}
	if e := edge(l.BuiltInto, tunedRef); e == nil || e.Role != "base-model" || e.Attestation != tunedAtt || e.SignedBy != key+".pub" {
		t.Errorf("base built into: %+v", l.BuiltInto)
	}

	// The dataset: built into both models.
	l = inspectJSON(t, h+"/datasets/chat:v1").Lineage
	if len(l.BuiltFrom) != 0 || len(l.BuiltInto) != 2 || edge(l.BuiltInto, baseRef) == nil || edge(l.BuiltInto, tunedRef) == nil {
		t.Errorf("dataset lineage: %+v", l)
	}
	for _, e := range l.BuiltInto {
		if e.Checked || e.SignedBy != "" {
			t.Errorf("without --key the edge must say unchecked: %+v", e)
		}
	}

	// The fine-tune: built from the base and the dataset, nothing from it.
	l = inspectJSON(t, h+"/models/tuned:v1", "--key", key+".pub").Lineage
	if len(l.BuiltFrom) != 2 || edge(l.BuiltFrom, baseRef) == nil || edge(l.BuiltFrom, dataRef) == nil || len(l.BuiltInto) != 0 {
		t.Errorf("tuned lineage: %+v", l)
	}

	// With a key that signed none of it, the edges are shown as not signed.
	l = inspectJSON(t, h+"/models/base:v1", "--key", other+".pub").Lineage
	if e := edge(l.BuiltFrom, dataRef); e == nil || !e.Checked || e.SignedBy != "" {
		t.Errorf("built from, other key: %+v", l.BuiltFrom)
	}
	if e := edge(l.BuiltInto, tunedRef); e == nil || !e.Checked || e.SignedBy != "" {
		t.Errorf("built into, other key: %+v", l.BuiltInto)
	}

	out := mustRun(t, "inspect", h+"/models/base:v1", "--key", key+".pub")
	for _, want := range []string{"Lineage:", "built from", "dataset", dataRef, "built into", tunedRef, "signed by " + key + ".pub"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}

	// The provenance verifies as an attestation and is not a signature.
	if code, out := runCLI(t, "verify", h+"/models/base:v1", "--key", key+".pub"); code != exitRefused || !strings.Contains(out, "not a signature") {
		t.Errorf("verify of an attested, unsigned model: exit %d: %s", code, out)
	}
}

func TestCLI_Attest(t *testing.T) {
	t.Setenv(passwordEnv, "")
	srv := registrytest.NewServer(t, registry.Config{})
	dir := t.TempDir()
	key := writePair(t, dir, "k")
	ref := srv.Host + "/models/m:v1"
	pushModel(t, ref)
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("prov.json", `{"buildDefinition":{"buildType":"https://ci.example/train","externalParameters":{"recipe":"r.yaml"}},"runDetails":{"builder":{"id":"https://ci.example"}}}`)
	noBuilder := write("nobuilder.json", `{"buildDefinition":{"buildType":"https://ci.example/train","externalParameters":{"recipe":"r.yaml"}},"runDetails":{"builder":{}}}`)
	custom := write("custom.json", `{"eval":{"mmlu":0.61}}`)
	notJSON := write("bad.json", `{"eval":`)

	att := lastLineDigest(t, mustRun(t, "attest", ref, "--key", key+".key", "--predicate", good))
	customAtt := lastLineDigest(t, mustRun(t, "attest", ref, "--key", key+".key", "--predicate", custom, "--type", "https://example.com/eval/v1"))
	aliasAtt := lastLineDigest(t, mustRun(t, "attest", ref, "--key", key+".key", "--predicate", good, "--type", "slsaprovenance1"))

	res := inspectJSON(t, ref)
	types := map[digest.Digest]string{}
	for _, r := range res.Referrers {
		if r.Kind != "attestation" {
			t.Errorf("referrer %s is a %q", r.Digest, r.Kind)
		}
		types[r.Digest] = r.PredicateType
	}
	if types[att] != attest.PredicateSLSAProvenance || types[aliasAtt] != attest.PredicateSLSAProvenance || types[customAtt] != "https://example.com/eval/v1" {
		t.Errorf("predicate types: %v", types)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no predicate", []string{"--key", key + ".key"}, "nothing to attest"},
		{"both", []string{"--key", key + ".key", "--predicate", good, "--builder-id", "b"}, "not both"},
		{"invalid provenance", []string{"--key", key + ".key", "--predicate", noBuilder}, "builder"},
		{"not json", []string{"--key", key + ".key", "--predicate", notJSON, "--type", "https://example.com/x"}, "not a JSON object"},
		{"bad type", []string{"--key", key + ".key", "--predicate", custom, "--type", "nonsense"}, "not a URI"},
		{"provenance flags, other type", []string{"--key", key + ".key", "--builder-id", "b", "--type", "https://example.com/x"}, "write https://slsa.dev/provenance/v1"},
		{"bad param", []string{"--key", key + ".key", "--builder-id", "b", "--param", "noequals"}, "KEY=VALUE"},
		{"unknown dependency", []string{"--key", key + ".key", "--builder-id", "b", "--dependency", srv.Host + "/datasets/none:v1"}, "resolve"},
		{"missing predicate file", []string{"--key", key + ".key", "--predicate", filepath.Join(dir, "absent.json")}, "absent.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, append([]string{"attest", ref}, tc.args...)...)
			if code != exitError || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, exitError, out, tc.want)
			}
		})
	}
}

// TestCLI_VerifyKeyless signs models keylessly with an in-memory Fulcio
// and Rekor and verifies them offline against its trusted root.
func TestCLI_VerifyKeyless(t *testing.T) {
	const who, issuer = "trainer@example.com", "https://accounts.example.com"
	srv := registrytest.NewServer(t, registry.Config{})
	repoName := srv.Host + "/models/m"
	vs, otherVS := verifytest.New(t), verifytest.New(t)
	dir := t.TempDir()
	rootFile, otherRoot := filepath.Join(dir, "trusted_root.json"), filepath.Join(dir, "other_root.json")
	if err := os.WriteFile(rootFile, vs.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherRoot, otherVS.TrustedRootJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	signAs := func(tag string, subjectTag string) {
		pushModel(t, repoName+":"+tag)
		desc, err := repo.Resolve(t.Context(), tag)
		if err != nil {
			t.Fatal(err)
		}
		about := desc
		if subjectTag != "" {
			if about, err = repo.Resolve(t.Context(), subjectTag); err != nil {
				t.Fatal(err)
			}
		}
		st, err := attest.Statement(about, repoName, attest.PredicateCosignSign, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := attest.Attach(t.Context(), repo, desc, attest.PredicateCosignSign, vs.SignStatement(t, who, issuer, st)); err != nil {
			t.Fatal(err)
		}
	}
	signAs("signed", "")
	signAs("misbound", "signed") // a valid signature, of another digest

	keyless := func(ref, root, id, iss string) []string {
		return []string{"verify", ref, "--trusted-root", root, "--certificate-identity", id, "--certificate-oidc-issuer", iss}
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"right identity", keyless(repoName+":signed", rootFile, who, issuer), exitOK, "signed by " + who + " (" + issuer + ")"},
		{"identity regexp", []string{"verify", repoName + ":signed", "--trusted-root", rootFile, "--certificate-identity-regexp", "@example\\.com$", "--certificate-oidc-issuer", issuer}, exitOK, "verified"},
		{"wrong identity", keyless(repoName+":signed", rootFile, "mallory@example.com", issuer), exitRefused, "no signature verifies"},
		{"wrong issuer", keyless(repoName+":signed", rootFile, who, "https://evil.example.com"), exitRefused, "no signature verifies"},
		{"untrusted root", keyless(repoName+":signed", otherRoot, who, issuer), exitRefused, "no signature verifies"},
		{"changed artifact", keyless(repoName+":misbound", rootFile, who, issuer), exitRefused, "no signature verifies"},
		{"no trusted root", []string{"verify", repoName + ":signed", "--certificate-identity", who, "--certificate-oidc-issuer", issuer}, exitError, "--trusted-root"},
		{"no issuer", []string{"verify", repoName + ":signed", "--trusted-root", rootFile, "--certificate-identity", who}, exitError, "issuer"},
		{"not a trusted root", keyless(repoName+":signed", filepath.Join(dir, "absent.json"), who, issuer), exitError, "absent.json"},
		{"nothing to verify with", []string{"verify", repoName + ":signed"}, exitError, "nothing to verify against"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d; output %q does not contain %q", code, tc.code, out, tc.want)
			}
		})
	}
}
