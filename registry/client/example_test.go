package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/cas"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/meta"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

// exampleRegistry starts a registry on loopback over a temporary
// directory, as `cairn serve` would, and returns its host and a stop
// function.
func exampleRegistry() (string, func()) {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	blobs, _ := cas.Open(dir)
	db, _ := meta.Open(filepath.Join(dir, "meta.db"), nil)
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	srv := httptest.NewServer(reg)
	return strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); db.Close(); os.RemoveAll(dir) }
}

// A Go program pushes a model, signs it, and pulls it back through the
// verification agent: the signature is checked before any file is
// fetched, and every file is checked and scanned before it moves into
// place.
func Example() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	work, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(work)
	cache, _ := client.OpenCache(filepath.Join(work, "cache"))

	// A model directory.
	src := filepath.Join(work, "model")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "config.json"), []byte(`{"model_type":"tiny"}`), 0o644)
	st, _ := os.ReadFile("../../testdata/model/tiny.safetensors")
	os.WriteFile(filepath.Join(src, "model.safetensors"), st, 0o644)

	// Push it.
	repo, _ := client.Open(host+"/models/tiny:v1", client.Options{})
	pushed, err := client.Push(ctx, repo, src, client.PushOptions{Cache: cache})
	if err != nil {
		fmt.Println("push:", err)
		return
	}
	fmt.Println("pushed", pushed.Files, "files")

	// Sign it, as `cairn sign` does.
	key, _ := attest.GenerateKey()
	kp, _ := attest.NewKeypair(key)
	desc, _, _ := repo.FetchManifest(ctx)
	bundle, _ := attest.Sign(ctx, kp, desc, host+"/models/tiny", sign.BundleOptions{})
	attest.Attach(ctx, repo.Repo, desc, attest.PredicateCosignSign, bundle)

	// Pull it through the agent, trusting that key.
	ag := &agent.Agent{Policy: verify.SignersRule(verify.Trust{Keys: []verify.Key{{Name: "release", Public: key.Public()}}}, "")}
	dst := filepath.Join(work, "pulled")
	res, err := client.Pull(ctx, repo, dst, client.PullOptions{Cache: cache, Agent: ag})
	if err != nil {
		fmt.Println("pull:", err)
		return
	}
	fmt.Println("verified:", res.Receipt.Verified, "signed by", res.Receipt.Signature.Signer)
	for _, f := range res.Receipt.Files {
		fmt.Println(f.Path, f.Format, f.Verdict)
	}

	// The same directory checked again offline, as `cairn run --dir` does.
	rc, err := ag.CheckDir(ctx, dst, agent.DirOptions{Digest: desc.Digest})
	fmt.Println("offline:", rc.Verified, err)

	// A key nobody trusts: refused before any file is fetched.
	other, _ := attest.GenerateKey()
	strict := &agent.Agent{Policy: verify.SignersRule(verify.Trust{Keys: []verify.Key{{Name: "other", Public: other.Public()}}}, "")}
	_, err = client.Pull(ctx, repo, filepath.Join(work, "refused"), client.PullOptions{Cache: cache, Agent: strict})
	fmt.Println("refused:", errors.Is(err, verify.ErrVerification))
	_, statErr := os.Stat(filepath.Join(work, "refused", "model.safetensors"))
	fmt.Println("left in place:", statErr == nil)
	// Output:
	// pushed 2 files
	// verified: true signed by release
	// config.json json safe
	// model.safetensors safetensors safe
	// offline: true <nil>
	// refused: true
	// left in place: false
}
