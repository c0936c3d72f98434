package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

type verifyOptions struct {
	transferOptions
	agentOptions
	signaturesOnly bool     // --signatures-only: REF without fetching files
	include        []string // --include: DIR holds this subset of the model
	exclude        []string // --exclude: DIR holds the model without these

	// OpenSSF Model Signing of a local directory or file.
	signature   string   // --signature: model.sig
	certChains  []string // --certificate-chain: trust anchors for certificate signatures
	ignorePaths []string // --ignore-paths
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify REF|DIR|PATH (--policy F | --key PUB... | keyless flags)",
		Short: "Verify a model: signatures, attestations, policy, every file's digest, unsafe formats",
		Long: `The verification agent's checks, in order (the first failure refuses the model):

  1. REF resolves to a manifest digest (the policy may demand a digest);
     with transparency: required, the registry's transparency log proves
     it: a checkpoint signed by the log's key (and cosigned by the
     policy's witnesses), consistent with the last one this user saw, and
     the inclusion proof of the tag's latest move to that digest (by
     digest: of its push); for DIR, the checkpoint and proof pull kept;
  2. a Sigstore bundle attached to that digest (found through the referrers
     API, as cosign v3 and cairn sign attach them) is a signature by a
     trusted signer, and every attestation the policy requires verifies;
  3. every file matches its layer digest;
  4. nothing unexpected sits beside the files (a directory);
  5. every file is scanned, archive members and files inside compressed
     wrappers included, and gets one of three verdicts: safe (a data-only
     format proved safe, or plain JSON or text), unsafe (pickle imports,
     Keras Lambda layers, malformed safetensors or GGUF headers...) or not
     scanned (content the scanner cannot judge). Unsafe is refused unless
     the rule's allowUnsafe lists the format; not scanned is refused for a
     weight unless the rule says allowUnscanned (--allow-unscanned with
     --key); a formats list admits only files proved of a listed format.

Whom to trust comes from --policy FILE (per repository: signers, required
attestations, digest pinning, formats, maximum age; see docs/policy.md) or,
for any repository, from the flags:

  --key PUB                 a public key (cairn keygen, cosign generate-key-pair);
                            repeatable: any one of them may have signed
  --certificate-identity ID --certificate-oidc-issuer URL --trusted-root FILE
                            keyless (Fulcio certificate and Rekor entry), checked
                            offline against a Sigstore trusted_root.json; the
                            -regexp variants match a regular expression instead

REF (a registry reference): the files are fetched through the local cache
into a temporary directory, checked as they stream, scanned and thrown
away; --signatures-only stops after step 2.

DIR (a directory cairn pull wrote): checked offline from DIR/.cairn, which
pull filled with the manifest, config and signature bundles; every file is
hashed, and nothing may sit beside the model's files or in DIR/.cairn that
cairn did not put there. The operator, not the directory, names what is
checked: --repository HOST/REPO, the repository whose policy rule applies
(required when the policy's rules differ by repository: the directory's own
record is not trusted); --digest sha256:..., the manifest DIR must hold
(what a rule's pinDigest asks for); --include GLOB, the subset a partial
pull wrote. The receipt goes to DIR/.cairn/receipt.json.

A local PATH (a directory or a single file) with an OpenSSF Model Signing
signature (--signature, or model.sig in the directory or beside the file, as
model_signing and cairn sign PATH write it) is verified against it instead:
the signature with --key, with --certificate-chain (the CA certificates its
chain must lead to; repeatable) or keylessly as above, then every file's
SHA-256 against the signed ones, leaving out .git and friends, the paths the
signature records and --ignore-paths. A refusal names each changed file with
both digests, and each missing or unsigned file.

Each check is printed as it passes or fails; --json prints the receipt
(what was checked, the signer, every file's digest and scan findings) and
--receipt FILE writes it.

Exit status: 0 verified; 1 refused (naming the file, digest or signature
and what was expected); 2 could not verify (usage, unreadable key or
policy, network).`,
		Example: `  cairn verify 127.0.0.1:5000/models/llama:v1 --key cairn.pub
  cairn verify reg.example/m@sha256:4f1c... --policy /etc/cairn/policy.yaml --json
  cairn verify reg.example/m:v2 --trusted-root trusted_root.json \
      --certificate-identity trainer@example.com --certificate-oidc-issuer https://accounts.google.com
  cairn verify ./llama-copy --key cairn.pub               # a directory cairn pull wrote, offline
  cairn verify ./tiny-llm --key cairn.pub                 # OpenSSF Model Signing: ./tiny-llm/model.sig
  cairn verify ./tiny-llm --signature tiny-llm.sig --certificate-chain ca-cert.pem --ignore-paths README.md`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd, o, args[0])
		},
	}
	o.transferOptions.addFlags(cmd)
	o.agentOptions.addFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.signaturesOnly, "signatures-only", false, "REF: check the reference, signatures and attestations, not the files")
	f.StringArrayVar(&o.include, "include", nil, "DIR: the subset (GLOB, repeatable) a partial pull wrote")
	f.StringArrayVar(&o.exclude, "exclude", nil, "DIR: the files (GLOB, repeatable) a partial pull left out")
	f.StringVar(&o.signature, "signature", "", "local model: the OpenSSF Model Signing signature (default PATH/model.sig)")
	f.StringArrayVar(&o.certChains, "certificate-chain", nil, "local model: PEM certificates trusted as signing CAs; repeatable")
	f.StringArrayVar(&o.ignorePaths, "ignore-paths", nil, "local model: paths left out of the signature; repeatable")
	return cmd
}

func runVerify(cmd *cobra.Command, o verifyOptions, refStr string) error {
	if isLocalPath(refStr) {
		return runVerifyLocal(cmd, o, refStr)
	}
	if !o.agentOptions.enabled() {
		return errNoSigners
	}
	if o.forRepo != "" || o.digest != "" {
		return errors.New("--repository and --digest are for a directory; the reference names the repository and the digest")
	}
	ag, err := o.newAgent()
	if err != nil {
		return err
	}
	var rc *agent.Receipt
	if o.signaturesOnly {
		rc = &agent.Receipt{}
		err = func() error {
			repo, err := o.open(refStr)
			if err != nil {
				return err
			}
			t, err := client.LoadTargetFor(cmd.Context(), repo, ag)
			if err != nil {
				return err
			}
			if err := client.AddTransparency(cmd.Context(), repo, t, ag, rc); err != nil {
				return err
			}
			_, err = ag.CheckMetadata(t, rc)
			return err
		}()
	} else {
		rc, err = pullChecked(cmd, o.transferOptions, ag, refStr, "", nil, false)
	}
	return finishReceipt(cmd, o.agentOptions, "", rc, o.asJSON, err)
}

// errNoSigners is the usage error of verify and run without any signer.
var errNoSigners = errors.New("nothing to verify against: give --policy FILE, --key PUB, or --certificate-identity and --certificate-oidc-issuer with --trusted-root")

// trustOptions are the flags that say whose signatures are trusted.
type trustOptions struct {
	keys []string // --key: trusted public keys

	// Keyless (Fulcio certificate and Rekor entry), with cosign's names.
	trustedRoot          string // --trusted-root: trusted_root.json
	certIdentity         string // --certificate-identity
	certIdentityRegexp   string // --certificate-identity-regexp
	certOIDCIssuer       string // --certificate-oidc-issuer
	certOIDCIssuerRegexp string // --certificate-oidc-issuer-regexp
}

func (o *trustOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&o.keys, "key", nil, "trusted public key file (PEM); repeatable")
	f.StringVar(&o.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json for keyless signatures")
	f.StringVar(&o.certIdentity, "certificate-identity", "", "keyless: the signer's identity (certificate SAN), exactly")
	f.StringVar(&o.certIdentityRegexp, "certificate-identity-regexp", "", "keyless: a regular expression the signer's identity must match")
	f.StringVar(&o.certOIDCIssuer, "certificate-oidc-issuer", "", "keyless: the OIDC issuer of the signer's identity, exactly")
	f.StringVar(&o.certOIDCIssuerRegexp, "certificate-oidc-issuer-regexp", "", "keyless: a regular expression the OIDC issuer must match")
}

// given reports whether any trust flag was set.
func (o trustOptions) given() bool {
	return len(o.keys) > 0 || o.trustedRoot != "" || o.certIdentity != "" || o.certIdentityRegexp != "" ||
		o.certOIDCIssuer != "" || o.certOIDCIssuerRegexp != ""
}

// trust builds what signatures are checked against from --key and the
// keyless flags.
func (o trustOptions) trust() (verify.Trust, error) {
	var t verify.Trust
	for _, p := range o.keys {
		pub, err := verify.LoadPublicKey(p)
		if err != nil {
			return t, err
		}
		t.Keys = append(t.Keys, verify.Key{Name: p, Public: pub})
	}
	id := verify.Identity{Issuer: o.certOIDCIssuer, IssuerRegexp: o.certOIDCIssuerRegexp, Subject: o.certIdentity, SubjectRegexp: o.certIdentityRegexp}
	hasSubject, hasIssuer := id.Subject != "" || id.SubjectRegexp != "", id.Issuer != "" || id.IssuerRegexp != ""
	switch {
	case id.Subject != "" && id.SubjectRegexp != "":
		return t, errors.New("give --certificate-identity or --certificate-identity-regexp, not both")
	case id.Issuer != "" && id.IssuerRegexp != "":
		return t, errors.New("give --certificate-oidc-issuer or --certificate-oidc-issuer-regexp, not both")
	case hasSubject != hasIssuer:
		return t, errors.New("keyless verification needs both an identity (--certificate-identity[-regexp]) and its issuer (--certificate-oidc-issuer[-regexp])")
	case hasSubject && o.trustedRoot == "":
		return t, errors.New("keyless verification needs --trusted-root: the Sigstore trusted_root.json whose Fulcio CA and Rekor log vouch for the certificate")
	case !hasSubject && o.trustedRoot != "":
		return t, errors.New("--trusted-root is for keyless signatures: also give --certificate-identity and --certificate-oidc-issuer")
	case hasSubject:
		tr, err := verify.LoadTrustedRoot(o.trustedRoot)
		if err != nil {
			return t, err
		}
		t.Identities = []verify.Identity{id}
		t.Root = tr
	}
	if len(t.Keys) == 0 && len(t.Identities) == 0 {
		return t, errNoSigners
	}
	return t, nil
}

// errTooLarge is the cause of readBounded's refusal of a file above its
// limit.
var errTooLarge = errors.New("file too large")

// readBounded reads a whole file, refusing one larger than limit (an error
// wrapping errTooLarge) without reading it all.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, limit, errTooLarge)
	}
	return b, nil
}
