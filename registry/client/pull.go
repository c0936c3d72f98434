package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
	"cairn.dev/cairn/verify/model"
	"cairn.dev/cairn/verify/scan"
)

// Progress is told how a transfer goes; the CLI draws a bar with it.
type Progress interface {
	// Start is called once, with the bytes and files to transfer.
	Start(total int64, files int)
	// Add counts n more bytes done.
	Add(n int64)
	// Done is called once at the end.
	Done()
}

// PullOptions configure Pull. The zero value pulls every file, four at a
// time, checking every digest and scanning every file: one the scanner
// finds unsafe refuses the pull (see AllowUnsafe).
type PullOptions struct {
	// Cache is the local blob cache the files go through; required.
	Cache *Cache
	// Include selects files by glob (model.MatchInclude); archive layers
	// are always fetched. Empty means every file.
	Include []string
	// Concurrency is how many files transfer at once; zero means 4.
	Concurrency int
	// Agent, when set, checks the model before and after its files are
	// fetched (see Pull).
	Agent *agent.Agent
	// Progress, when set, is told how the transfer goes.
	Progress Progress
	// Force lets a pull replace files of dir whose content differs from
	// the model's and leave files the model does not have; without it such
	// a directory is refused, with nothing changed.
	Force bool
	// AllowUnsafe pulls a model even when the scanner finds a file unsafe
	// (a pickle that imports, a malformed safetensors header...); such a
	// file must never be loaded. It applies without an Agent: with one,
	// the policy decides (its allowUnsafe).
	AllowUnsafe bool
}

// ScanResult is the scanner's verdict on one pulled file.
type ScanResult struct {
	Path    string       `json:"path"`
	Format  string       `json:"format"`
	Verdict scan.Verdict `json:"verdict"`
	// Summary says why, for a file not safe.
	Summary string `json:"summary,omitempty"`
}

// PullResult is what Pull did.
type PullResult struct {
	// Target is the model as the registry presented it.
	Target *agent.Target
	// Receipt records the agent's checks (with PullOptions.Agent).
	Receipt *agent.Receipt
	// Files counts the files written, members of archive layers included.
	Files int
	// Fetched and Cached count the layers downloaded and found in the
	// cache.
	Fetched, Cached int
	// UpToDate is true when dir already held this version, unchanged
	// since an earlier pull wrote it: nothing was fetched or written.
	UpToDate bool
	// Scans are the scanner's verdicts on the files, in path order,
	// without an Agent (whose Receipt has them otherwise).
	Scans []ScanResult
}

// NotScanned lists the files whose content the scanner could not judge.
func (r *PullResult) NotScanned() []string {
	var out []string
	for _, s := range r.Scans {
		if s.Verdict == scan.VerdictNotScanned {
			out = append(out, s.Path)
		}
	}
	return out
}

// LoadTarget resolves the repository's reference and fetches what the
// agent checks before any file: the manifest (checked against its digest),
// the config and the bundles attached to the manifest. The repository whose
// rule applies is the reference's: the operator named it.
func LoadTarget(ctx context.Context, r *Repository) (*agent.Target, error) {
	return LoadTargetFor(ctx, r, nil)
}

// LoadTargetFor is LoadTarget reading first the bundles that can verify
// under ag's rule for the repository (agent.Agent.Selection), so that a
// flood of other referrers cannot push a good signature out of what is
// read. A nil ag reads the newest first.
func LoadTargetFor(ctx context.Context, r *Repository, ag *agent.Agent) (*agent.Target, error) {
	desc, manifest, err := r.FetchManifest(ctx)
	if err != nil {
		return nil, err
	}
	ref := r.Repo.Reference
	_, files, err := model.Files(manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", verify.ErrVerification, ref, err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %s: manifest: %w", verify.ErrVerification, ref, err)
	}
	config, err := r.FetchSmall(ctx, m.Config, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var sel attest.Selection
	if ag != nil {
		sel = ag.Selection(ref.Registry + "/" + ref.Repository)
	}
	col, err := attest.Collect(ctx, r.Repo, desc, sel)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	t := &agent.Target{
		Reference: ref.String(), Registry: ref.Registry, Repository: ref.Repository,
		ByDigest: r.ByDigest(), Desc: desc, Manifest: manifest, Config: config, Files: files,
		Bundles: col.Bundles, Collected: col,
	}
	if !t.ByDigest {
		t.Tag = ref.Reference
	}
	return t, nil
}

// Pull fetches the model the repository's reference names into dir.
//
// The files stream through the cache into a staging directory inside
// dir/.cairn, each checked against its digest as it arrives; archive layers
// (dataset tar groups, KitOps and oras directory layers) are extracted
// there, each member under the path rules of model.ExtractTar. With
// PullOptions.Agent, the reference, signatures and attestations are checked
// before any file is fetched, and every file, members included, is scanned
// and judged by the policy before anything moves. Only then do the files
// move into dir (by rename), and dir/.cairn records the manifest, config
// and referrers for an offline check. On any failure nothing of the model
// is left in dir.
//
// A file already in dir at a path of the model is replaced; any other
// file of dir outside .cairn is refused with the agent (it would be
// unexpected beside the model), and left alone without. Refusals wrap
// verify.ErrVerification.
func Pull(ctx context.Context, r *Repository, dir string, o PullOptions) (*PullResult, error) {
	if o.Cache == nil {
		return nil, errors.New("client.Pull: no cache")
	}
	res := &PullResult{}
	if o.Agent != nil {
		res.Receipt = &agent.Receipt{}
	}
	t, err := LoadTargetFor(ctx, r, o.Agent)
	if err != nil {
		if res.Receipt != nil && errors.Is(err, verify.ErrVerification) {
			res.Receipt.Reference = r.Repo.Reference.String()
			res.Receipt.Checks = append(res.Receipt.Checks, agent.Check{Check: "reference", Detail: err.Error()})
			res.Receipt.Refusal = err.Error()
		}
		return res, err
	}
	res.Target = t
	// The same version pulled here before, and nothing in dir changed
	// since (Cache.upToDate): nothing to do. With an Agent the checks run
	// again (the policy may have changed).
	if o.Agent == nil && !o.Force && o.Cache.upToDate(dir, t.Desc.Digest, o.Include, referrersPrint(t)) {
		res.UpToDate = true
		return res, nil
	}
	var rule *verify.Rule
	if o.Agent != nil {
		if err := AddTransparency(ctx, r, t, o.Agent, res.Receipt); err != nil {
			return res, err
		}
		if rule, err = o.Agent.CheckMetadata(t, res.Receipt); err != nil {
			return res, err
		}
	}

	var selected []model.File
	var total int64
	expected := map[string]bool{}
	for _, f := range t.Files {
		if f.Archive || model.MatchInclude(o.Include, f.Path) {
			selected = append(selected, f)
			total += f.Desc.Size
			expected[f.Path] = true
		}
	}
	if len(selected) == 0 {
		return res, fmt.Errorf("%w: %s: no file matches --include", verify.ErrVerification, t.Reference)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	agent.RemoveStaging(dir)
	staging, err := agent.NewStaging(dir)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(staging)

	members, err := fetchInto(ctx, r, o, selected, total, staging, res)
	if err != nil {
		return res, err
	}
	var paths []string
	for _, f := range selected {
		if !f.Archive {
			paths = append(paths, f.Path)
		}
	}
	for _, m := range members {
		if expected[m.Path] {
			return res, fmt.Errorf("%w: %s: in archive layer %s and elsewhere in the model", verify.ErrVerification, m.Path, m.Layer.Digest)
		}
		paths = append(paths, m.Path)
		expected[m.Path] = true
	}
	if o.Agent != nil {
		if err := o.Agent.CheckFiles(ctx, rule, t, staging, agent.FileOptions{Streamed: true, Include: o.Include, Members: members}, res.Receipt); err != nil {
			return res, err
		}
	} else if err := scanStaged(ctx, staging, paths, o.AllowUnsafe, res); err != nil {
		return res, err
	}
	// What dir holds already: a file of the model with other content, or a
	// file that is not the model's, would be replaced or left beside it
	// unchecked.
	if err := checkDestination(ctx, dir, staging, expected, o.Force); err != nil {
		return res, err
	}
	if err := moveTree(staging, dir); err != nil {
		return res, fmt.Errorf("move the checked files into %s: %w", dir, err)
	}
	res.Files = len(paths)
	rec := agent.Record{
		Reference: t.Reference, Registry: t.Registry, Repository: t.Repository, Digest: t.Desc.Digest,
		Pulled: time.Now().UTC(), Files: paths, Include: o.Include, Partial: len(o.Include) > 0,
	}
	if err := writeRecord(ctx, r, dir, rec, t); err != nil {
		return res, err
	}
	if res.Receipt != nil {
		res.Receipt.Dir = dir
		res.Receipt.Verified = true
	}
	// The keys are taken once nothing else links the files: removing
	// the staging directory's links would change their change times.
	os.RemoveAll(staging)
	o.Cache.saveState(dir, t.Desc.Digest, o.Include, referrersPrint(t))
	return res, nil
}

// AddTransparency proves t's reference in the registry's transparency log
// (ProveTransparency) when the agent's rule for it says transparency:
// required, recording a failure in rc. Without such a rule it does
// nothing; CheckMetadata then finds the rule (or its absence) itself.
func AddTransparency(ctx context.Context, r *Repository, t *agent.Target, a *agent.Agent, rc *agent.Receipt) error {
	rule, err := a.Policy.Rule(t.Name())
	if err != nil || !rule.Transparency {
		return nil
	}
	if err := ProveTransparency(ctx, r, t, rule); err != nil {
		rc.Reference, rc.Repository, rc.Digest, rc.Policy = t.Reference, t.Name(), t.Desc.Digest, a.Policy.Name
		return rc.Fail("transparency", err)
	}
	return nil
}

// fetchInto fetches the selected layers through the cache, several at a
// time, each checked as it streams, placing plain files in staging and
// extracting archive layers there. It returns the archive members.
func fetchInto(ctx context.Context, r *Repository, o PullOptions, selected []model.File, total int64, staging string, res *PullResult) ([]agent.Member, error) {
	if o.Progress != nil {
		o.Progress.Start(total, len(selected))
		defer o.Progress.Done()
	}
	add := func(int64) {}
	if o.Progress != nil {
		add = o.Progress.Add
	}
	var mu sync.Mutex
	var members []agent.Member
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(o.Concurrency, 1))
	if o.Concurrency == 0 {
		g.SetLimit(4)
	}
	for _, f := range selected {
		g.Go(func() error {
			name := f.Path
			if name == "" {
				name = f.Desc.Digest.String()
			}
			_, got, err := o.Cache.Fetch(gctx, r.Remote, f.Desc, name, add)
			if err != nil {
				return err
			}
			mu.Lock()
			if got {
				res.Fetched++
			} else {
				res.Cached++
			}
			mu.Unlock()
			if f.Archive {
				ms, err := extractLayer(o.Cache, f, staging)
				if err != nil {
					return err
				}
				mu.Lock()
				members = append(members, ms...)
				mu.Unlock()
				return nil
			}
			dst, err := safeJoin(staging, f.Path)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			return o.Cache.Place(f.Desc.Digest, dst, f.Mode)
		})
	}
	if err := g.Wait(); err != nil {
		var de *DigestError
		var pe *model.PathError
		if errors.As(err, &de) || errors.As(err, &pe) || errors.Is(err, model.ErrUnsupportedFile) {
			return nil, fmt.Errorf("%w: %w", verify.ErrVerification, err)
		}
		return nil, err
	}
	return members, nil
}

// extractLayer unpacks a verified tar (or tar+gzip) layer from the cache
// into dir. A member that exists already (from another layer) is refused:
// model.ExtractTar's exclusive mode.
func extractLayer(c *Cache, f model.File, dir string) ([]agent.Member, error) {
	rc, err := os.Open(c.Path(f.Desc.Digest))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	written, err := model.ExtractTarExclusive(rc, dir)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", f.Desc.Digest, err)
	}
	ms := make([]agent.Member, 0, len(written))
	for _, p := range written {
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			return nil, err
		}
		ms = append(ms, agent.Member{Path: p, Layer: f.Desc, Kind: f.Kind, Size: fi.Size()})
	}
	return ms, nil
}

// safeJoin joins a validated relative path to dir, refusing when an
// existing element on the way is a symlink: a pull never writes through a
// link.
func safeJoin(dir, rel string) (string, error) {
	p := dir
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return "", &model.PathError{Path: strings.Join(parts[:i+1], "/"), Err: fmt.Errorf("%w: is a symlink in the destination", model.ErrUnsafePath)}
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return "", &model.PathError{Path: strings.Join(parts[:i+1], "/"), Err: fmt.Errorf("%w: not a directory in the destination", model.ErrUnsafePath)}
		}
	}
	return p, nil
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

// checkDestination refuses a pull into dir when dir holds, outside
// .cairn, a symlink or other non-regular file, a file the model does not
// have, or a file of the model whose content differs from the checked one
// in staging. With force only links and special files are refused: other
// files are replaced or left where they are. An identical file is fine.
func checkDestination(ctx context.Context, dir, staging string, expected map[string]bool, force bool) error {
	var same []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ".":
			return nil
		case rel == agent.MetaDir && d.IsDir():
			return fs.SkipDir
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s: a symlink in %s, which a pull never writes through", verify.ErrVerification, rel, dir)
		case !d.Type().IsRegular():
			return fmt.Errorf("%w: %s: not a regular file (%s)", verify.ErrVerification, rel, d.Type())
		case !expected[rel]:
			if force {
				return nil
			}
			return fmt.Errorf("%w: %s: %s already holds this file, which the model does not have; pull into an empty directory, or give --force", verify.ErrVerification, rel, dir)
		}
		same = append(same, rel)
		return nil
	})
	if err != nil || force || len(same) == 0 {
		return err
	}
	have, err := verify.HashFiles(ctx, dir, same, verify.HashOptions{})
	if err != nil {
		return err
	}
	want, err := verify.HashFiles(ctx, staging, same, verify.HashOptions{})
	if err != nil {
		return err
	}
	for i := range same {
		if have[i] != want[i] {
			return fmt.Errorf("%w: %s: %s holds another version of this file (%s, the model's is %s); give --force to replace it", verify.ErrVerification, same[i], dir, have[i], want[i])
		}
	}
	return nil
}

// writeRecord writes dir/.cairn: the manifest and config as pulled, the
// referrers with their small blobs, and pull.json.
func writeRecord(ctx context.Context, r *Repository, dir string, rec agent.Record, t *agent.Target) error {
	listed, _, err := listReferrers(ctx, r.Repo, t.Desc)
	if err != nil {
		return err
	}
	// The referrers whose bundles the agent read come first, so that a
	// flood of others cannot push them out of the record.
	var refs []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	for _, b := range t.Bundles {
		if !seen[b.Referrer.Digest] {
			seen[b.Referrer.Digest] = true
			refs = append(refs, b.Referrer)
		}
	}
	for _, d := range listed {
		if len(refs) >= agent.MaxRecordedReferrers {
			break
		}
		if !seen[d.Digest] {
			seen[d.Digest] = true
			refs = append(refs, d)
		}
	}
	blobs := map[digest.Digest][]byte{}
	for _, d := range refs {
		mb, err := r.FetchSmall(ctx, d, agent.MaxReferrerBlobSize)
		if err != nil {
			return fmt.Errorf("referrer %s: %w", d.Digest, err)
		}
		blobs[d.Digest] = mb
		var rm ocispec.Manifest
		if json.Unmarshal(mb, &rm) != nil {
			continue
		}
		for _, l := range rm.Layers {
			if l.Size > agent.MaxReferrerBlobSize || l.Digest.Validate() != nil {
				continue
			}
			lb, err := r.FetchSmall(ctx, l, agent.MaxReferrerBlobSize)
			if err != nil {
				return fmt.Errorf("referrer blob %s: %w", l.Digest, err)
			}
			blobs[l.Digest] = lb
		}
	}
	return agent.WriteRecord(dir, &agent.DirRecord{Pull: rec, Manifest: t.Manifest, Config: t.Config, Referrers: refs, Blobs: blobs, Transparency: t.Transparency})
}

// scanStaged scans the files of a pull without an agent (several at a
// time), records the verdicts in res.Scans, and refuses, naming the file,
// when one is unsafe, unless allowUnsafe.
func scanStaged(ctx context.Context, staging string, paths []string, allowUnsafe bool, res *PullResult) error {
	scans := make([]ScanResult, len(paths))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, p := range paths {
		g.Go(func() error {
			rep, err := scan.File(gctx, filepath.Join(staging, filepath.FromSlash(p)))
			if err != nil {
				return fmt.Errorf("scan %s: %w", p, err)
			}
			scans[i] = ScanResult{Path: p, Format: rep.Format, Verdict: rep.Judge()}
			if scans[i].Verdict != scan.VerdictSafe {
				scans[i].Summary = rep.Summary()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	slices.SortFunc(scans, func(a, b ScanResult) int { return strings.Compare(a.Path, b.Path) })
	res.Scans = scans
	if allowUnsafe {
		return nil
	}
	for _, s := range scans {
		if s.Verdict == scan.VerdictUnsafe {
			return fmt.Errorf("%w: %s: the scanner finds it unsafe (%s); nothing was pulled: loading it could run code or crash the loader; give --allow-unsafe to pull it anyway, and never load it", verify.ErrVerification, s.Path, s.Summary)
		}
	}
	return nil
}
