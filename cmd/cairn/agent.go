package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/registry/remote"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
)

// The verification agent: the checks `cairn verify`, `cairn run` and
// `cairn pull --policy` apply before a model may be loaded, in this order:
//
//  1. the reference resolves to a manifest digest (and the policy's digest
//     pinning holds);
//  2. a signature of that digest by a trusted signer, and every required
//     attestation, verify (and the newest signature is young enough);
//  3. every file matches its layer digest (while streaming on a pull, by
//     hashing on disk for a directory);
//  4. no file in the directory is unexpected;
//  5. every file's scan is safe, or its format is explicitly allowed.
//
// The first failure refuses the model (exit 1), naming what failed and
// what was expected; the receipt records every check that ran.

// agentOptions are the flags of the commands that apply the agent's checks.
type agentOptions struct {
	trustOptions
	policy  string // --policy FILE
	forRepo string // --repository: the HOST/REPO whose rule applies to a directory
	receipt string // --receipt FILE
}

func (o *agentOptions) addFlags(cmd *cobra.Command) {
	o.trustOptions.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.policy, "policy", "", "policy file (YAML): who must have signed, required attestations, allowed formats")
	f.StringVar(&o.forRepo, "repository", "", "directory: the HOST/REPO whose policy rule applies (default: the one recorded by pull)")
	f.StringVar(&o.receipt, "receipt", "", "write the JSON receipt of the checks here (default DIR/.cairn/receipt.json for a directory)")
}

// enabled reports whether any signer or policy was given.
func (o agentOptions) enabled() bool { return o.policy != "" || o.trustOptions.given() }

// loadPolicy reads --policy, or builds a one-rule policy from the trust
// flags (any repository; signature by one of the given signers; any format
// whose scan is safe).
func (o agentOptions) loadPolicy() (*verify.Policy, error) {
	if o.policy != "" {
		if o.trustOptions.given() {
			return nil, errors.New("give --policy or --key and the keyless flags, not both: the policy names its signers")
		}
		return verify.LoadPolicy(o.policy)
	}
	t, err := o.trust()
	if err != nil {
		return nil, err
	}
	return verify.SignersRule(t, o.trustedRoot), nil
}

// target is a model as the agent checks it: a manifest with its files and
// the Sigstore bundles attached to it.
type target struct {
	Reference  string // as given
	Registry   string
	Repository string
	// ByDigest is true when the reference named the digest.
	ByDigest bool
	Desc     ocispec.Descriptor
	Manifest []byte
	Config   []byte
	Files    []model.File
	Bundles  []fetchedBundle
}

// name is HOST/REPO, what policy rules match.
func (t *target) name() string { return t.Registry + "/" + t.Repository }

// receipt is the JSON record of what the agent checked.
type receipt struct {
	Verified   bool          `json:"verified"`
	Reference  string        `json:"reference,omitempty"`
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Dir        string        `json:"dir,omitempty"`
	Policy     string        `json:"policy"`
	Rule       string        `json:"rule,omitempty"`
	Checks     []checkResult `json:"checks"`
	Signature  *signedInfo   `json:"signature,omitempty"`
	// Attestations are the verified attestations the policy required.
	Attestations []signedInfo `json:"attestations,omitempty"`
	Files        []fileResult `json:"files,omitempty"`
	// Refusal is why the model was refused; empty when verified.
	Refusal string    `json:"refusal,omitempty"`
	Time    time.Time `json:"time"`
}

// checkResult is one step of the agent.
type checkResult struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// signedInfo is a verified bundle.
type signedInfo struct {
	PredicateType string        `json:"predicateType"`
	Signer        string        `json:"signer"`
	Keyless       bool          `json:"keyless,omitempty"`
	Time          *time.Time    `json:"time,omitempty"`
	Referrer      digest.Digest `json:"referrer"`
	BuilderID     string        `json:"builderId,omitempty"`
}

// fileResult is one file's digest and scan.
type fileResult struct {
	Path     string         `json:"path"`
	Size     int64          `json:"size"`
	Digest   digest.Digest  `json:"digest"`
	Hashed   bool           `json:"hashed"`
	Format   string         `json:"format,omitempty"`
	Safe     bool           `json:"safe"`
	Findings []scan.Finding `json:"findings,omitempty"`
}

func (r *receipt) pass(check, detail string) {
	r.Checks = append(r.Checks, checkResult{Check: check, OK: true, Detail: detail})
}

// fail records a failed check and returns err as a refusal when it is a
// verification failure, as a could-not-verify error otherwise.
func (r *receipt) fail(check string, err error) error {
	r.Checks = append(r.Checks, checkResult{Check: check, OK: false, Detail: err.Error()})
	if errors.Is(err, verify.ErrVerification) {
		r.Refusal = err.Error()
		return refused(err)
	}
	return err
}

// agent applies a policy to targets.
type agent struct {
	policy *verify.Policy
	now    func() time.Time
}

func newAgent(o agentOptions) (*agent, error) {
	p, err := o.loadPolicy()
	if err != nil {
		return nil, err
	}
	return &agent{policy: p, now: time.Now}, nil
}

// checkMetadata runs steps 1 and 2 (reference, signatures, attestations,
// age) and returns the rule that applied.
func (a *agent) checkMetadata(t *target, rc *receipt) (*verify.Rule, error) {
	rc.Reference, rc.Repository, rc.Digest, rc.Policy = t.Reference, t.name(), t.Desc.Digest, a.policy.Name
	rule, err := a.policy.Rule(t.name())
	if err != nil {
		return nil, rc.fail("policy rule", err)
	}
	rc.Rule = rule.String()
	if err := rule.CheckDigest(t.Desc.Digest, t.ByDigest); err != nil {
		return nil, rc.fail("reference", err)
	}
	how := "by tag"
	if t.ByDigest {
		how = "by digest"
	}
	rc.pass("reference", fmt.Sprintf("%s resolves to %s (%s)", t.Reference, t.Desc.Digest, how))

	bundles := make([][]byte, len(t.Bundles))
	for i, b := range t.Bundles {
		bundles[i] = b.data
	}
	ev, err := rule.Evaluate(t.Desc, bundles, a.now())
	for _, st := range ev.Steps {
		rc.pass(st.Check, st.Detail)
	}
	if ev.Signature != nil {
		rc.Signature = signed(*ev.Signature, t.Bundles)
	}
	for _, att := range ev.Attestations {
		si := signed(att, t.Bundles)
		si.BuilderID = att.BuilderID()
		rc.Attestations = append(rc.Attestations, *si)
	}
	if err != nil {
		if ev.Failed == "signature" {
			err = fmt.Errorf("%s@%s: %w", t.name(), t.Desc.Digest, err)
		}
		return nil, rc.fail(ev.Failed, err)
	}
	return rule, nil
}

// signed describes a verified bundle for the receipt.
func signed(s verify.Signed, bundles []fetchedBundle) *signedInfo {
	si := &signedInfo{PredicateType: s.PredicateType(), Signer: s.Signer, Keyless: s.Keyless}
	if !s.Time.IsZero() {
		t := s.Time.UTC()
		si.Time = &t
	}
	if s.Index < len(bundles) {
		si.Referrer = bundles[s.Index].referrer.Digest
	}
	return si
}

// checkFiles runs steps 3 to 5 over the files of t in dir. With hash false
// the files were verified while they streamed (a pull) and are not read
// again for their digests. only, when not nil, limits the check to the
// files a partial pull recorded.
func (a *agent) checkFiles(ctx context.Context, rule *verify.Rule, t *target, dir string, hash bool, only []string, rc *receipt) error {
	rc.Dir = dir
	var files []model.File
	for _, f := range t.Files {
		if only != nil && !f.Archive && !slices.Contains(only, f.Path) {
			continue
		}
		files = append(files, f)
	}
	expected := map[string]bool{}
	var paths []string
	var results []fileResult
	for _, f := range files {
		if f.Archive {
			if hash {
				return rc.fail("file digests", fmt.Errorf("layer %s is an archive (%s): its digest cannot be checked from the extracted files; verify it by pulling with cairn run --ref or cairn pull --policy", f.Desc.Digest, f.Desc.MediaType))
			}
			continue
		}
		if err := f.Desc.Digest.Validate(); err != nil || f.Desc.Digest.Algorithm() != digest.SHA256 {
			return rc.fail("file digests", fmt.Errorf("%s: layer digest %q: only sha256 layers can be verified", f.Path, f.Desc.Digest))
		}
		expected[f.Path] = true
		paths = append(paths, f.Path)
		results = append(results, fileResult{Path: f.Path, Size: f.Desc.Size, Digest: f.Desc.Digest, Hashed: hash})
	}

	// Step 3: digests.
	if hash {
		got, err := verify.HashFiles(ctx, dir, paths, verify.HashOptions{})
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && (errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not a regular file")) {
				return rc.fail("file digests", fmt.Errorf("%w: %s: %v: the model has this file (%s)", verify.ErrVerification, pe.Path, pe.Err, shortDigest(digestOf(files, pe.Path))))
			}
			return rc.fail("file digests", err)
		}
		for i, d := range got {
			if d != results[i].Digest {
				return rc.fail("file digests", fmt.Errorf("%w: %s: digest %s, the signed manifest says %s", verify.ErrVerification, results[i].Path, d, results[i].Digest))
			}
		}
		rc.pass("file digests", fmt.Sprintf("%d files hashed, every digest matches the manifest", len(paths)))
	} else {
		rc.pass("file digests", fmt.Sprintf("%d files checked against the manifest while they streamed", len(files)))
	}

	// Step 4: nothing unexpected.
	var archiveFiles bool
	for _, f := range files {
		archiveFiles = archiveFiles || f.Archive
	}
	if !archiveFiles {
		if err := unexpectedFiles(dir, expected); err != nil {
			return rc.fail("unexpected files", err)
		}
		rc.pass("unexpected files", "none: the directory holds exactly the model's files")
	}

	// Step 5: scans, several files at a time.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range results {
		g.Go(func() error {
			rep, err := scan.File(gctx, filepath.Join(dir, filepath.FromSlash(results[i].Path)))
			if err != nil {
				return fmt.Errorf("scan %s: %w", results[i].Path, err)
			}
			results[i].Format, results[i].Safe, results[i].Findings = rep.Format, rep.Safe(), rep.Findings
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rc.fail("weight formats", err)
	}
	rc.Files = results
	for _, r := range results {
		if r.Format == scan.FormatUnknown && r.Safe {
			// Not a weight format any scanner knows (config.json,
			// tokenizers, docs): the formats list is about weights.
			continue
		}
		if err := rule.CheckFormat(r.Format, r.Safe); err != nil {
			why := ""
			if !r.Safe {
				why = ": " + scan.Report{Format: r.Format, Findings: r.Findings}.Summary()
			}
			return rc.fail("weight formats", fmt.Errorf("%s%s: %w", r.Path, why, err))
		}
	}
	rc.pass("weight formats", fmt.Sprintf("%d files scanned: %s", len(results), formatCounts(results)))
	return nil
}

func digestOf(files []model.File, p string) digest.Digest {
	for _, f := range files {
		if f.Path == p {
			return f.Desc.Digest
		}
	}
	return ""
}

// formatCounts summarises scan results as "2 safetensors, 1 unknown".
func formatCounts(rs []fileResult) string {
	n := map[string]int{}
	for _, r := range rs {
		n[r.Format]++
	}
	var parts []string
	for _, k := range sortedKeys(n, nil) {
		parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
	}
	if len(parts) == 0 {
		return "no files"
	}
	return strings.Join(parts, ", ")
}

// unexpectedFiles refuses anything in dir, outside .cairn, that is not one
// of the expected regular files: extra files, symlinks, devices.
func unexpectedFiles(dir string, expected map[string]bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if rel == ".cairn" && d.IsDir() {
			return fs.SkipDir
		}
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s: a symlink, which no model file is", verify.ErrVerification, rel)
		case !d.Type().IsRegular():
			return fmt.Errorf("%w: %s: not a regular file (%s)", verify.ErrVerification, rel, d.Type())
		case !expected[rel]:
			return fmt.Errorf("%w: %s: an unexpected file: the signed manifest does not list it", verify.ErrVerification, rel)
		}
		return nil
	})
}

// writeReceipt writes rc as JSON to path (by temporary file and rename).
func writeReceipt(path string, rc *receipt) error {
	rc.Time = time.Now().UTC()
	b, err := json.MarshalIndent(rc, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// printReceipt tells the user the outcome: every check on stderr, and with
// asJSON the receipt on stdout.
func printReceipt(cmd *cobra.Command, rc *receipt, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(rc)
	}
	w := cmd.ErrOrStderr()
	for _, c := range rc.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s %s: %s\n", mark, c.Check, clean(c.Detail))
	}
	if rc.Verified {
		by := ""
		if rc.Signature != nil {
			by = " signed by " + clean(rc.Signature.Signer)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "verified: %s@%s%s\n", rc.Repository, rc.Digest, by)
	}
	return nil
}

// loadDirTarget reads what pull recorded in DIR/.cairn: the manifest (its
// digest is computed from the bytes, so an edited manifest cannot match
// its signature), the config, and the referrers with their bundles.
func loadDirTarget(dir, repository string) (*target, *pullRecord, error) {
	meta := filepath.Join(dir, ".cairn")
	read := func(name string, limit int64) ([]byte, error) {
		b, err := readBounded(filepath.Join(meta, filepath.FromSlash(name)), limit)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no %s: not a directory pulled by cairn (cairn pull writes DIR/.cairn)", dir, path.Join(".cairn", name))
		}
		return b, err
	}
	pb, err := read("pull.json", 1<<20)
	if err != nil {
		return nil, nil, err
	}
	var rec pullRecord
	if err := json.Unmarshal(pb, &rec); err != nil {
		return nil, nil, fmt.Errorf("%s: .cairn/pull.json: %w", dir, err)
	}
	manifest, err := read("manifest.json", maxManifestBytes)
	if err != nil {
		return nil, nil, err
	}
	config, err := read("config.json", maxConfigBytes)
	if err != nil {
		return nil, nil, err
	}
	t := &target{
		Reference: dir, Registry: rec.Registry, Repository: rec.Repository, ByDigest: true,
		Desc:     ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest))},
		Manifest: manifest, Config: config,
	}
	if repository != "" {
		host, repo, ok := strings.Cut(repository, "/")
		if !ok || host == "" || repo == "" {
			return nil, nil, fmt.Errorf("--repository %q: want HOST/REPO", repository)
		}
		t.Registry, t.Repository = host, repo
	}
	if rec.Digest != t.Desc.Digest {
		return nil, nil, refused(fmt.Errorf("%w: %s: .cairn/manifest.json has digest %s, but the pull recorded %s: the manifest was changed", verify.ErrVerification, dir, t.Desc.Digest, rec.Digest))
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(manifest, &m) == nil && m.MediaType != "" {
		t.Desc.MediaType = m.MediaType
	}
	if _, t.Files, err = model.Files(manifest); err != nil {
		return nil, nil, refused(fmt.Errorf("%s: .cairn/manifest.json: %w", dir, err))
	}
	if digest.FromBytes(config) != configDigest(manifest) {
		return nil, nil, refused(fmt.Errorf("%w: %s: .cairn/config.json does not match the manifest's config digest", verify.ErrVerification, dir))
	}

	// Bundles: referrers.json lists the referrer manifests; each manifest
	// and each bundle layer is checked against its digest.
	ib, err := read("referrers.json", 1<<20)
	if err != nil {
		return nil, nil, err
	}
	var idx ocispec.Index
	if err := json.Unmarshal(ib, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: .cairn/referrers.json: %w", dir, err)
	}
	for _, r := range idx.Manifests {
		if r.ArtifactType != attest.MediaTypeBundle || r.Digest.Validate() != nil || len(t.Bundles) >= verify.MaxBundles {
			continue
		}
		mb, err := read("referrers/"+r.Digest.Encoded()+".json", maxReferrerBlob)
		if err != nil || digest.FromBytes(mb) != r.Digest {
			continue // a missing or altered referrer is no signature
		}
		var rm ocispec.Manifest
		if json.Unmarshal(mb, &rm) != nil {
			continue
		}
		for _, l := range rm.Layers {
			if l.MediaType != attest.MediaTypeBundle || l.Digest.Validate() != nil || l.Size > verify.MaxBundleSize {
				continue
			}
			lb, err := read("referrers/"+l.Digest.Encoded(), verify.MaxBundleSize)
			if err != nil || l.Digest.Algorithm() != digest.SHA256 || digest.FromBytes(lb) != l.Digest {
				continue
			}
			t.Bundles = append(t.Bundles, fetchedBundle{referrer: r, data: lb})
		}
	}
	return t, &rec, nil
}

// configDigest is the config digest a manifest names.
func configDigest(manifest []byte) digest.Digest {
	var m struct {
		Config ocispec.Descriptor `json:"config"`
	}
	if json.Unmarshal(manifest, &m) != nil {
		return ""
	}
	return m.Config.Digest
}

// verifyDir applies the agent to a directory pulled by cairn, offline, and
// writes the receipt.
func verifyDir(ctx context.Context, o agentOptions, dir string) (*receipt, error) {
	a, err := newAgent(o)
	if err != nil {
		return nil, err
	}
	rc := &receipt{Dir: dir}
	t, rec, err := loadDirTarget(dir, o.forRepo)
	if err != nil {
		return rc, err
	}
	rule, err := a.checkMetadata(t, rc)
	if err == nil {
		var only []string
		if rec.Partial {
			only = rec.Files
		}
		err = a.checkFiles(ctx, rule, t, dir, true, only, rc)
	}
	rc.Verified = err == nil
	path := o.receipt
	if path == "" {
		path = filepath.Join(dir, ".cairn", "receipt.json")
	}
	if werr := writeReceipt(path, rc); werr != nil && err == nil {
		err = fmt.Errorf("write receipt: %w", werr)
	}
	return rc, err
}

// loadRemoteTarget resolves refStr and fetches what the agent checks before
// any file is fetched: the manifest, the config and the bundles.
func loadRemoteTarget(ctx context.Context, ro *remoteOptions, refStr string) (*target, *remote.Repository, *client.Remote, error) {
	repo, r, err := ro.repository(refStr)
	if err != nil {
		return nil, nil, nil, err
	}
	if repo.Reference.Reference == "" {
		return nil, nil, nil, fmt.Errorf("%s: name a tag or digest", refStr)
	}
	desc, manifest, err := fetchManifest(ctx, repo, refStr)
	if isDenied(err) {
		// Quarantined, or refused by the registry's own policy: the
		// registry's message says why.
		return nil, nil, nil, refused(fmt.Errorf("%w: %w", verify.ErrVerification, err))
	}
	if err != nil {
		return nil, nil, nil, err
	}
	_, files, err := model.Files(manifest)
	if err != nil {
		return nil, nil, nil, refused(fmt.Errorf("%s: %w", refStr, err))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, nil, nil, refused(fmt.Errorf("%s: manifest: %w", refStr, err))
	}
	config, err := fetchBlob(ctx, repo, m.Config, maxConfigBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("config: %w", err)
	}
	bundles, err := fetchBundleRefs(ctx, repo, desc)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", refStr, err)
	}
	t := &target{
		Reference: refStr, Registry: repo.Reference.Registry, Repository: repo.Reference.Repository,
		ByDigest: repo.Reference.ValidateReferenceAsDigest() == nil,
		Desc:     desc, Manifest: manifest, Config: config, Files: files, Bundles: bundles,
	}
	return t, repo, r, nil
}

// pullChecked fetches t's files (those include selects) into a staging
// directory, verifying each as it streams, scans them, and only then, when
// dir is not empty, moves them into dir and records DIR/.cairn. On any
// refusal nothing of the model is left in dir. With dir empty the files are
// checked and thrown away (cairn verify REF).
func (a *agent) pullChecked(cmd *cobra.Command, o transferOptions, rule *verify.Rule, t *target, repo *remote.Repository, r *client.Remote, dir string, include []string, rc *receipt) error {
	ctx := cmd.Context()
	var selected []model.File
	var total int64
	expected := map[string]bool{}
	for _, f := range t.Files {
		if f.Archive || matchAny(include, f.Path) {
			selected = append(selected, f)
			total += f.Desc.Size
			expected[f.Path] = true
		}
	}
	if len(selected) == 0 {
		return rc.fail("file digests", fmt.Errorf("%w: %s: no file matches --include", verify.ErrVerification, t.Reference))
	}
	cache, err := o.openCache()
	if err != nil {
		return err
	}
	var staging string
	if dir == "" {
		staging, err = os.MkdirTemp("", "cairn-verify-")
	} else {
		// Files already in dir are refused before anything is fetched,
		// unless the model is about to replace them.
		if err := os.MkdirAll(filepath.Join(dir, ".cairn"), 0o755); err != nil {
			return err
		}
		if err := unexpectedFiles(dir, expected); err != nil {
			return rc.fail("unexpected files", fmt.Errorf("%w (in %s before the pull)", err, dir))
		}
		staging, err = os.MkdirTemp(filepath.Join(dir, ".cairn"), "staging-")
	}
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	if _, _, err := fetchFiles(cmd, o, cache, r, selected, total, staging, include); err != nil {
		return rc.fail("file digests", err)
	}
	var only []string
	if len(include) > 0 {
		for _, f := range selected {
			if !f.Archive {
				only = append(only, f.Path)
			}
		}
	}
	if err := a.checkFiles(ctx, rule, t, staging, false, only, rc); err != nil {
		return err
	}
	rc.Dir = dir
	if dir == "" {
		return nil
	}
	if err := moveTree(staging, dir); err != nil {
		return fmt.Errorf("move verified files into %s: %w", dir, err)
	}
	rec := pullRecord{
		Reference: t.Reference, Registry: t.Registry, Repository: t.Repository,
		Digest: t.Desc.Digest, Pulled: time.Now().UTC(), Partial: len(include) > 0, Files: only,
	}
	if rec.Files == nil {
		for _, f := range selected {
			rec.Files = append(rec.Files, f.Path)
		}
	}
	return writeRecord(ctx, repo, dir, rec, t.Manifest, t.Config)
}

// moveTree renames every regular file under src to the same path under
// dst, creating directories. src and dst are on one filesystem.
func moveTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to, err := safeJoin(dst, filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.Rename(p, to)
	})
}
