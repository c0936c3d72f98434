package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
	"cairn.dev/cairn/verify/tlogproof"
)

// Agent applies a policy to models. The zero value is not usable: set
// Policy (verify.LoadPolicy, or verify.SignersRule for signers given on a
// command line).
type Agent struct {
	// Policy decides, per repository, whom to trust and what to accept.
	Policy *verify.Policy
	// Now is the clock signature ages are measured against; nil means
	// time.Now.
	Now func() time.Time
	// ScanWorkers is how many files are scanned at once; zero means 4.
	ScanWorkers int
	// LogKey returns the transparency log verifier key pinned for a
	// registry (HOST[:PORT]), or "" when none is: the key a rule that
	// requires transparency and names no logKey checks checkpoints with.
	// Nil means none is pinned.
	LogKey func(registry string) (string, error)
}

// Target is a model as the agent checks it: a manifest with its files and
// the Sigstore bundles attached to it, as a registry or a pulled directory
// presents them. Nothing in it is trusted until the checks pass.
type Target struct {
	// Reference is what the user named (a reference, or a directory).
	Reference string
	// Registry and Repository name the repository whose policy rule
	// applies: the one the operator named, never one a directory records.
	Registry   string
	Repository string
	// ByDigest is true when the operator named the manifest digest.
	ByDigest bool
	// Desc is the manifest's descriptor; its digest is computed from
	// Manifest or checked against it by the loader.
	Desc     ocispec.Descriptor
	Manifest []byte
	Config   []byte
	// Files are the manifest's files (model.Files).
	Files []model.File
	// Bundles are the bundles attached to the manifest
	// (attest.CollectBundles).
	Bundles []attest.Bundle
	// Tag is the tag the operator named, if any.
	Tag string
	// Transparency is the registry's transparency log's proof of what the
	// reference means (a rule that says transparency: required demands
	// it): see verify/tlogproof.Evidence.
	Transparency *tlogproof.Evidence
	// Collected says how many bundle referrers there were and how many
	// were read (attest.Collect), for a refusal to say; nil when unknown.
	Collected *attest.Collection
}

// Selection is what the rule for the repository name (HOST/REPO) trusts,
// as attest.Collect orders a subject's bundles by it: the bundles that can
// verify are read first. A name without a rule gives the zero Selection.
func (a *Agent) Selection(name string) attest.Selection {
	rule, err := a.Policy.Rule(name)
	if err != nil {
		return attest.Selection{}
	}
	return attest.SelectionFor(rule.Trust())
}

// Name is HOST/REPO, what policy rules match.
func (t *Target) Name() string { return t.Registry + "/" + t.Repository }

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// CheckMetadata runs steps 1 and 2 (reference, signatures, attestations,
// age) on t, recording them in rc, and returns the rule that applied.
func (a *Agent) CheckMetadata(t *Target, rc *Receipt) (*verify.Rule, error) {
	rc.Reference, rc.Repository, rc.Digest, rc.Policy = t.Reference, t.Name(), t.Desc.Digest, a.Policy.Name
	rule, err := a.Policy.Rule(t.Name())
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
	if rule.Transparency {
		detail, err := a.checkTransparency(rule, t)
		if err != nil {
			return nil, rc.fail("transparency", err)
		}
		rc.pass("transparency", detail)
	}

	ev, err := rule.Evaluate(t.Desc, attest.BundleData(t.Bundles), a.now())
	for _, st := range ev.Steps {
		rc.pass(st.Check, st.Detail)
	}
	if ev.Signature != nil {
		rc.Signature = signedInfo(*ev.Signature, t.Bundles)
	}
	for _, att := range ev.Attestations {
		si := signedInfo(att, t.Bundles)
		si.BuilderID = att.BuilderID()
		rc.Attestations = append(rc.Attestations, *si)
	}
	if err != nil {
		if ev.Failed == "signature" {
			err = fmt.Errorf("%s@%s: %w", t.Name(), t.Desc.Digest, t.Collected.Explain(err, rule.Trust()))
		}
		return nil, rc.fail(ev.Failed, err)
	}
	return rule, nil
}

// checkTransparency checks t.Transparency as rule demands: the checkpoint
// signed by the log's key (the rule's logKey, or the one pinned for the
// registry) and cosigned by the witnesses it names, and the leaf, proven
// in its tree, moving the tag to the manifest digest (or, by digest,
// pushing it).
func (a *Agent) checkTransparency(rule *verify.Rule, t *Target) (string, error) {
	ev := t.Transparency
	if ev == nil {
		return "", fmt.Errorf("%w: the rule requires the transparency log (transparency: required) and there is no proof from it", tlogproof.ErrNotInLog)
	}
	key := rule.LogKey
	if key == "" && a.LogKey != nil {
		k, err := a.LogKey(t.Registry)
		if err != nil {
			return "", err
		}
		key = k
	}
	if key == "" {
		return "", fmt.Errorf("%w: no log key for %s: the rule names none (logKey) and none is pinned (cairn history --verify or a pull pins it)", tlogproof.ErrSignature, t.Registry)
	}
	c := tlogproof.Claim{Repository: t.Repository, Tag: t.Tag, Digest: t.Desc.Digest}
	if c.Tag == "" && !t.ByDigest {
		// A directory names no tag: a move of any tag of the repository
		// to the digest proves what it holds.
		if e, err := tlogproof.ParseEntry(ev.Entry); err == nil && e.Kind == tlogproof.KindTag {
			c.Tag = e.Tag
		}
	}
	w := tlogproof.Witnesses{Keys: rule.Witnesses, Threshold: rule.WitnessThreshold}
	cp, _, err := ev.Check(key, w, c)
	if err != nil {
		return "", err
	}
	detail := fmt.Sprintf("%s: leaf %d of %s at size %d", c, ev.Index, cp.Origin, cp.N)
	if w.Threshold > 0 {
		detail += fmt.Sprintf(", cosigned by at least %d of %d witnesses", w.Threshold, len(w.Keys))
	}
	return detail, nil
}

func signedInfo(s verify.Signed, bundles []attest.Bundle) *SignedInfo {
	si := &SignedInfo{PredicateType: s.PredicateType(), Signer: s.Signer, KeyID: s.KeyID, Keyless: s.Keyless}
	if !s.Time.IsZero() {
		t := s.Time.UTC()
		si.Time = &t
	}
	if s.Index < len(bundles) {
		si.Referrer = bundles[s.Index].Referrer.Digest
	}
	return si
}

// Member is a file extracted from an archive layer of the model.
type Member struct {
	// Path is the member's validated path relative to the directory.
	Path string
	// Layer is the archive layer it came from, checked against its digest
	// as it streamed.
	Layer ocispec.Descriptor
	// Kind is the archive layer's kind.
	Kind model.Kind
	// Size is the member's size in bytes.
	Size int64
}

// FileOptions say how CheckFiles finds a model's files in a directory.
type FileOptions struct {
	// Streamed is true when the files were checked against their digests
	// as they streamed into the directory (a pull); otherwise each file is
	// read and hashed.
	Streamed bool
	// Include selects the model's files the directory holds
	// (model.MatchInclude); empty means every file.
	Include []string
	// Members are the files extracted from the model's archive layers.
	// Only a pull (Streamed) can give them: their digests are the layer's.
	Members []Member
	// SkipMeta leaves DIR/.cairn out of the unexpected-files check (it is
	// checked by CheckDir); without it any .cairn is unexpected.
	SkipMeta bool
}

// CheckFiles runs steps 3 to 5 (file digests, unexpected files, scans) over
// t's files in dir, recording them in rc.
func (a *Agent) CheckFiles(ctx context.Context, rule *verify.Rule, t *Target, dir string, o FileOptions, rc *Receipt) error {
	rc.Dir = dir
	var files []*fileWant
	var hashPaths []*fileWant
	expected := map[string]bool{}
	for _, f := range t.Files {
		if f.Archive {
			if !o.Streamed {
				return rc.fail("file digests", fmt.Errorf("layer %s (%s): %w; verify it while pulling (cairn run --ref, cairn pull --policy)", f.Desc.Digest, f.Desc.MediaType, ErrArchiveOffline))
			}
			continue
		}
		if !model.MatchInclude(o.Include, f.Path) {
			continue
		}
		if err := f.Desc.Digest.Validate(); err != nil || f.Desc.Digest.Algorithm() != digest.SHA256 {
			return rc.fail("file digests", fmt.Errorf("%w: %s: layer digest %q: only sha256 layers can be verified", verify.ErrVerification, f.Path, f.Desc.Digest))
		}
		w := &fileWant{path: f.Path, layer: f.Desc, kind: f.Kind, res: FileResult{Path: f.Path, Size: f.Desc.Size, Digest: f.Desc.Digest, Hashed: !o.Streamed}}
		files = append(files, w)
		hashPaths = append(hashPaths, w)
		expected[f.Path] = true
	}
	for _, m := range o.Members {
		if expected[m.Path] {
			return rc.fail("unexpected files", fmt.Errorf("%w: %s: in archive layer %s and elsewhere in the model", verify.ErrVerification, m.Path, m.Layer.Digest))
		}
		expected[m.Path] = true
		files = append(files, &fileWant{path: m.Path, layer: m.Layer, kind: m.Kind, res: FileResult{Path: m.Path, Size: m.Size, Layer: m.Layer.Digest}})
	}
	if len(files) == 0 {
		return rc.fail("file digests", fmt.Errorf("%w: %s: no file of the model is selected", verify.ErrVerification, t.Reference))
	}

	// Step 3: digests.
	if o.Streamed {
		rc.pass("file digests", fmt.Sprintf("%d files checked against the manifest while they streamed", len(files)))
	} else {
		paths := make([]string, len(hashPaths))
		for i, w := range hashPaths {
			paths[i] = w.path
		}
		got, err := verify.HashFiles(ctx, dir, paths, verify.HashOptions{})
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && (errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "not a regular file")) {
				return rc.fail("file digests", fmt.Errorf("%w: %s: %v: the model has this file (%s)", verify.ErrVerification, pe.Path, pe.Err, shortDigest(digestOf(hashPaths, pe.Path))))
			}
			return rc.fail("file digests", err)
		}
		for i, d := range got {
			if d != hashPaths[i].layer.Digest {
				return rc.fail("file digests", fmt.Errorf("%w: %s: digest %s, the signed manifest says %s", verify.ErrVerification, paths[i], d, hashPaths[i].layer.Digest))
			}
		}
		rc.pass("file digests", fmt.Sprintf("%d files hashed, every digest matches the manifest", len(paths)))
	}

	// Step 4: nothing unexpected.
	if err := unexpectedFiles(dir, expected, o.SkipMeta); err != nil {
		return rc.fail("unexpected files", err)
	}
	rc.pass("unexpected files", fmt.Sprintf("none: the directory holds exactly the model's %d files", len(files)))

	// Step 5: scans, several files at a time; then the rule decides, in
	// path order, so that the refusal named is always the same one.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(a.ScanWorkers, 4))
	for _, w := range files {
		g.Go(func() error {
			rep, err := scan.File(gctx, filepath.Join(dir, filepath.FromSlash(w.path)))
			if err != nil {
				return fmt.Errorf("scan %s: %w", w.path, err)
			}
			w.rep = rep
			w.res.Weight = model.IsWeight(w.path, w.kind)
			w.res.Format, w.res.Variant, w.res.Verdict = rep.Format, rep.Variant, rep.Judge()
			w.res.Safe, w.res.Findings = w.res.Verdict == scan.VerdictSafe, rep.Findings
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rc.fail("weight formats", err)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	for _, w := range files {
		rc.Files = append(rc.Files, w.res)
	}
	for _, w := range files {
		if err := rule.CheckFile(w.res.Weight, w.rep); err != nil {
			return rc.fail("weight formats", fmt.Errorf("%s: %w", w.path, err))
		}
	}
	rc.pass("weight formats", fmt.Sprintf("%d files scanned: %s", len(files), verdictCounts(rc.Files)))
	return nil
}

// fileWant is a file CheckFiles expects, and what it found.
type fileWant struct {
	path  string
	layer ocispec.Descriptor
	kind  model.Kind
	res   FileResult
	rep   scan.Report
}

func digestOf(ws []*fileWant, p string) digest.Digest {
	for _, w := range ws {
		if w.path == p {
			return w.layer.Digest
		}
	}
	return ""
}

func shortDigest(d digest.Digest) string {
	if len(d) > 19 {
		return string(d[:19])
	}
	return string(d)
}

// verdictCounts summarises scan results as "3 safe (2 safetensors, 1 json),
// 1 not scanned".
func verdictCounts(rs []FileResult) string {
	formats := map[scan.Verdict]map[string]int{}
	for _, r := range rs {
		if formats[r.Verdict] == nil {
			formats[r.Verdict] = map[string]int{}
		}
		formats[r.Verdict][r.Format]++
	}
	var parts []string
	for _, v := range []scan.Verdict{scan.VerdictSafe, scan.VerdictNotScanned, scan.VerdictUnsafe} {
		n, kinds := 0, []string{}
		for f, c := range formats[v] {
			n += c
			kinds = append(kinds, fmt.Sprintf("%d %s", c, f))
		}
		if n == 0 {
			continue
		}
		slices.Sort(kinds)
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, v, strings.Join(kinds, ", ")))
	}
	if len(parts) == 0 {
		return "no files"
	}
	return strings.Join(parts, ", ")
}

// unexpectedFiles refuses anything in dir that is not one of the expected
// regular files: extra files, symlinks, devices. DIR/.cairn is left out when
// skipMeta is set.
func unexpectedFiles(dir string, expected map[string]bool, skipMeta bool) error {
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
		if skipMeta && rel == MetaDir && d.IsDir() {
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
