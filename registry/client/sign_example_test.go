package client_test

import (
	"context"
	"fmt"

	"github.com/sigstore/sigstore-go/pkg/sign"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/lineage"
)

// Sign attaches a signature to a model, Attest its SLSA provenance naming
// the dataset it was trained on (Dependency pins it by digest); Inspect,
// given whom to trust, shows both referrers and the signed lineage edge.
func ExampleSign() {
	ctx := context.Background()
	host, stop := exampleRegistry()
	defer stop()
	pushExample(ctx, host+"/datasets/chat:v1", map[string]string{"train.jsonl": `{"q":"a"}` + "\n"})
	repo, _ := pushExample(ctx, host+"/models/tiny:v1", map[string]string{"config.json": `{}`})

	key, _ := attest.GenerateKey()
	kp, _ := attest.NewKeypair(key)
	signed, err := client.Sign(ctx, repo, kp, sign.BundleOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}

	role, ref := client.ParseDependency("dataset=" + host + "/datasets/chat:v1")
	data, _ := client.Open(ref, client.Options{})
	dep, err := client.Dependency(ctx, data, role)
	if err != nil {
		fmt.Println(err)
		return
	}
	predicateType, _ := attest.PredicateType("slsaprovenance1")
	predicate, _ := attest.Provenance(attest.BuildInfo{BuilderID: "https://ci.example/train", Dependencies: []lineage.Dependency{dep}})
	attested, err := client.Attest(ctx, repo, kp, predicateType, predicate, sign.BundleOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(signed.Subject.Digest == attested.Subject.Digest, signed.Referrer.Digest != attested.Referrer.Digest)

	trust := verify.Trust{Keys: []verify.Key{{Name: "ci", Public: key.Public()}}}
	res, err := client.Inspect(ctx, repo, client.InspectOptions{Trust: &trust})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Referrers {
		fmt.Println(r.Kind, r.PredicateType)
	}
	for _, e := range res.Lineage.BuiltFrom {
		fmt.Println("built from", e.Name == host+"/datasets/chat", e.Role, "signed by", e.SignedBy)
	}
	// Output:
	// true true
	// attestation https://slsa.dev/provenance/v1
	// signature https://sigstore.dev/cosign/sign/v1
	// built from true dataset signed by ci
}
