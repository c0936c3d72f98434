package promote_test

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
	"cairn.dev/cairn/registry/promote"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

// exampleRegistry starts a registry on loopback over a temporary
// directory and returns its host and a stop function.
func exampleRegistry() (string, func()) {
	dir, _ := os.MkdirTemp("", "cairn-example-")
	blobs, _ := cas.Open(dir)
	db, _ := meta.Open(filepath.Join(dir, "meta.db"), nil)
	reg, _ := registry.New(registry.Config{Blobs: blobs, Meta: db})
	srv := httptest.NewServer(reg)
	return strings.TrimPrefix(srv.URL, "http://"), func() { srv.Close(); db.Close(); os.RemoveAll(dir) }
}

// A model signed in the training registry is promoted to production:
// the signature is checked at the source before anything is written, and
// the signature travels with the model.
func ExampleCopy() {
	ctx := context.Background()
	train, stopTrain := exampleRegistry()
	defer stopTrain()
	prod, stopProd := exampleRegistry()
	defer stopProd()
	work, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(work)
	dir := filepath.Join(work, "model")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"tiny"}`), 0o644)
	cache, _ := client.OpenCache(filepath.Join(work, "cache"))

	src, _ := client.Open(train+"/models/tiny:v1", client.Options{})
	client.Push(ctx, src, dir, client.PushOptions{Cache: cache})
	key, _ := attest.GenerateKey()
	kp, _ := attest.NewKeypair(key)
	client.Sign(ctx, src, kp, sign.BundleOptions{})

	gate := &agent.Agent{Policy: verify.SignersRule(verify.Trust{Keys: []verify.Key{{Name: "release", Public: key.Public()}}}, "")}
	dst, _ := client.Open(prod+"/models/tiny:v1", client.Options{})
	res, err := promote.Copy(ctx, src, dst, promote.CopyOptions{Agent: gate})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("verified:", res.Receipt.Verified, "signed by", res.Receipt.Signature.Signer)
	fmt.Println("tag:", res.Tag, "referrers:", res.Referrers)

	// A key nobody trusts: refused, nothing written.
	other, _ := attest.GenerateKey()
	strict := &agent.Agent{Policy: verify.SignersRule(verify.Trust{Keys: []verify.Key{{Name: "other", Public: other.Public()}}}, "")}
	dst2, _ := client.Open(prod+"/models/refused:v1", client.Options{})
	_, err = promote.Copy(ctx, src, dst2, promote.CopyOptions{Agent: strict})
	fmt.Println("refused:", errors.Is(err, verify.ErrVerification))
	// Output:
	// verified: true signed by release
	// tag: v1 referrers: 1
	// refused: true
}

// Two repositories of team-a are mirrored (each version a manifest, its
// config and one file: 9 blobs and manifests); a second run sends nothing.
func ExampleSync() {
	ctx := context.Background()
	a, stopA := exampleRegistry()
	defer stopA()
	b, stopB := exampleRegistry()
	defer stopB()
	work, _ := os.MkdirTemp("", "cairn-example-")
	defer os.RemoveAll(work)
	cache, _ := client.OpenCache(filepath.Join(work, "cache"))
	for _, ref := range []string{"/team-a/llama:v1", "/team-a/llama:v2", "/team-a/bert:v1", "/team-b/gpt:v1"} {
		dir, _ := os.MkdirTemp(work, "model-")
		os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"`+ref+`"}`), 0o644)
		r, _ := client.Open(a+ref, client.Options{})
		client.Push(ctx, r, dir, client.PushOptions{Cache: cache})
	}
	o := promote.SyncOptions{
		Source:      a + "/team-a/**",
		Destination: b + "/mirror/",
		Open:        func(ref string) (*client.Repository, error) { return client.Open(ref, client.Options{}) },
	}
	for range 2 {
		res, err := promote.Sync(ctx, o)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%d repositories, %d versions, %d tags set, %d blobs sent\n", res.Repositories, res.Versions, res.TagsSet, res.Blobs)
	}
	// Output:
	// 2 repositories, 3 versions, 3 tags set, 9 blobs sent
	// 2 repositories, 3 versions, 0 tags set, 0 blobs sent
}
