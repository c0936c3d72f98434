package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/structpb"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify/lineage"
)

type attestOptions struct {
	remoteOptions
	key           string
	predicate     string
	predicateType string

	// Provenance written by cairn instead of read from --predicate.
	builderID    string
	buildType    string
	dependencies []string
	params       []string
}

func newAttestCmd() *cobra.Command {
	var o attestOptions
	cmd := &cobra.Command{
		Use:   "attest REF --key KEY (--predicate FILE [--type URI] | --builder-id ID [--dependency REF]...)",
		Short: "Attach a signed attestation (SLSA provenance first) to a model",
		Long: `Sign an in-toto statement about the manifest REF resolves to and attach it as
an OCI referrer, exactly as cosign v3 attaches attestations (a Sigstore bundle
v0.3 with a DSSE envelope), so that cosign verify-attestation accepts it.

The predicate is either read from --predicate FILE (JSON; --type names its
type, default SLSA provenance v1, https://slsa.dev/provenance/v1; cosign's
short names such as slsaprovenance1 are accepted) or, for provenance, written
by cairn from --builder-id, --build-type, --param and --dependency.

SLSA provenance is checked before it is signed: a buildType, external
parameters and runDetails.builder.id are required. Its resolvedDependencies
whose uri names an OCI artifact (oci://HOST/REPO@sha256:...) are the model's
lineage: cairn inspect shows what a model was built from and, on a cairn
registry, what was built from it. --dependency REF resolves REF (a dataset,
a base model) to its digest and records it; prefix it with ROLE= to name its
role (dataset=..., base-model=...).

Prints the attestation manifest's digest. The key is read as for cairn sign.`,
		Example: `  cairn attest 127.0.0.1:5000/models/llama:v1 --key cairn.key --predicate provenance.json
  cairn attest 127.0.0.1:5000/models/tuned:v1 --key cairn.key \
      --builder-id https://ci.example.com/trainer \
      --dependency dataset=127.0.0.1:5000/datasets/chat:v3 \
      --dependency base-model=127.0.0.1:5000/models/llama:v1 \
      --param epochs=3 --param learning_rate=1e-4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAttest(cmd, o, args[0])
		},
	}
	o.remoteOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.key, "key", "", "private key file (PEM)")
	f.StringVar(&o.predicate, "predicate", "", "predicate file (JSON)")
	f.StringVar(&o.predicateType, "type", "", "predicate type URI, or a cosign short name (default "+attest.PredicateSLSAProvenance+")")
	f.StringVar(&o.builderID, "builder-id", "", "write SLSA provenance: the builder's id (URI)")
	f.StringVar(&o.buildType, "build-type", "", "write SLSA provenance: the build type (default "+attest.DefaultBuildType+")")
	f.StringArrayVar(&o.dependencies, "dependency", nil, "write SLSA provenance: [ROLE=]REF of an input artifact; repeatable")
	f.StringArrayVar(&o.params, "param", nil, "write SLSA provenance: KEY=VALUE external parameter; repeatable")
	cmd.MarkFlagRequired("key")
	return cmd
}

func runAttest(cmd *cobra.Command, o attestOptions, refStr string) error {
	ctx := cmd.Context()
	generated := o.builderID != "" || o.buildType != "" || len(o.dependencies) > 0 || len(o.params) > 0
	switch {
	case o.predicate != "" && generated:
		return errors.New("give --predicate FILE or the provenance flags (--builder-id, --dependency...), not both")
	case o.predicate == "" && !generated:
		return errors.New("nothing to attest: give --predicate FILE, or --builder-id to write SLSA provenance")
	case generated && o.builderID == "":
		return errors.New("writing SLSA provenance needs --builder-id")
	}
	predicateType := attest.PredicateSLSAProvenance
	if o.predicateType != "" {
		var err error
		if predicateType, err = attest.PredicateType(o.predicateType); err != nil {
			return fmt.Errorf("--type %w", err)
		}
	}
	if generated && predicateType != attest.PredicateSLSAProvenance {
		return fmt.Errorf("the provenance flags write %s, not %s", attest.PredicateSLSAProvenance, predicateType)
	}

	repo, err := o.open(refStr)
	if err != nil {
		return err
	}
	if repo.Repo.Reference.Reference == "" {
		return fmt.Errorf("%s: name a tag or digest to attest", refStr)
	}
	var predicate *structpb.Struct
	if o.predicate != "" {
		data, err := readBounded(o.predicate, attest.MaxPredicateSize)
		if err != nil {
			return err
		}
		if predicate, err = attest.ParsePredicate(data, predicateType); err != nil {
			return fmt.Errorf("%s: %w", o.predicate, err)
		}
	} else {
		b := attest.BuildInfo{BuilderID: o.builderID, BuildType: o.buildType}
		for _, p := range o.params {
			k, v, ok := strings.Cut(p, "=")
			if !ok || k == "" {
				return fmt.Errorf("--param %q: want KEY=VALUE", p)
			}
			if b.ExternalParameters == nil {
				b.ExternalParameters = map[string]any{}
			}
			b.ExternalParameters[k] = v
		}
		for _, d := range o.dependencies {
			dep, err := resolveDependency(cmd, &o.remoteOptions, d)
			if err != nil {
				return err
			}
			b.Dependencies = append(b.Dependencies, dep)
		}
		if predicate, err = attest.Provenance(b); err != nil {
			return err
		}
	}

	kp, err := signingKeypair(cmd, o.key)
	if err != nil {
		return err
	}
	res, err := client.Attest(ctx, repo, kp, predicateType, predicate, sign.BundleOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "attested %s/%s@%s (%s)\n", repo.Repo.Reference.Registry, repo.Repo.Reference.Repository, res.Subject.Digest, predicateType)
	fmt.Fprintln(cmd.OutOrStdout(), res.Referrer.Digest)
	return nil
}

// resolveDependency turns [ROLE=]REF into a dependency pinned by digest.
func resolveDependency(cmd *cobra.Command, ro *remoteOptions, arg string) (lineage.Dependency, error) {
	role, ref := client.ParseDependency(arg)
	repo, err := ro.open(ref)
	if err == nil {
		var dep lineage.Dependency
		if dep, err = client.Dependency(cmd.Context(), repo, role); err == nil {
			return dep, nil
		}
	}
	return lineage.Dependency{}, fmt.Errorf("--dependency %s: %w", arg, err)
}
