package promote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/agent"
)

// MaxSyncTags is the most tags of one source repository Sync reads.
const MaxSyncTags = 10000

// SyncOptions configure Sync.
type SyncOptions struct {
	// Source is HOST/PATTERN: the repositories of HOST's catalog whose
	// HOST/NAME the pattern matches, with the policy's match rules (*
	// within a segment, ** across segments, ? one character).
	Source string
	// Destination is HOST[/PREFIX]: a source repository's name, without
	// the pattern's literal leading segments (those before the first
	// wildcard), is put after PREFIX ("reg-a/team-a/**" to "reg-b/mirror"
	// sends team-a/llama to mirror/llama).
	Destination string
	// Open opens a HOST/REPO[:TAG|@DIGEST] reference (client.Open with the
	// caller's options).
	Open func(ref string) (*client.Repository, error)
	// Agent, when set, is Copy's promotion gate for every version; a
	// refused version is recorded in SyncResult.Refused and the sync goes
	// on.
	Agent *agent.Agent
	// Concurrency is Copy's.
	Concurrency int
	// Progress, when set, receives one line per version copied.
	Progress io.Writer
	// OnCopied is Copy's: told of each blob or manifest sent.
	OnCopied func(ocispec.Descriptor)
}

// SyncResult is what Sync did.
type SyncResult struct {
	// Repositories counts the source repositories matched.
	Repositories int `json:"repositories"`
	// Versions counts the distinct versions of the matched repositories
	// (tagged now, or earlier as a cairn source's tag history shows),
	// VersionsCopied the copies of a version or tag that sent something.
	Versions       int `json:"versions"`
	VersionsCopied int `json:"versionsCopied"`
	// Tags counts the source tags, TagsSet the destination tags created,
	// TagsMoved those moved to the source's version.
	Tags      int `json:"tags"`
	TagsSet   int `json:"tagsSet"`
	TagsMoved int `json:"tagsMoved"`
	// Blobs counts the blobs and manifests sent, Bytes their bytes.
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
	// Refused lists the versions the gate refused, with its reason.
	Refused []string `json:"refused,omitempty"`
}

// referrersTag is a tag of the referrers tag schema: Copy carries those
// referrers itself.
var referrersTag = regexp.MustCompile(`^sha(256|512)-[0-9a-f]{64,128}(\..*)?$`)

// Sync mirrors the repositories o.Source matches to o.Destination: for each
// one, every version its tags name and every earlier version its cairn tag
// history names (by digest), with every referrer, through Copy. What the
// destination has is not sent again, so a second run sends nothing new and
// an interrupted run completes when run again. A destination tag that
// names another version than the source's is moved (a PUT by tag, which a
// cairn destination records as a move). The first error other than a
// refusal of the gate stops the sync; the result counts what was done.
func Sync(ctx context.Context, o SyncOptions) (*SyncResult, error) {
	res := &SyncResult{}
	srcHost, pattern, ok := strings.Cut(o.Source, "/")
	if !ok || srcHost == "" || pattern == "" {
		return res, fmt.Errorf("sync source %q: want HOST/PATTERN", o.Source)
	}
	match, err := verify.MatchPattern(strings.ToLower(srcHost) + "/" + pattern)
	if err != nil {
		return res, fmt.Errorf("sync source: %w", err)
	}
	dstHost, dstPrefix, _ := strings.Cut(strings.TrimSuffix(o.Destination, "/"), "/")
	if dstHost == "" {
		return res, fmt.Errorf("sync destination %q: want HOST[/PREFIX]", o.Destination)
	}
	strip := literalDir(pattern)

	// Any repository name opens the registry for its catalog.
	reg, err := o.Open(srcHost + "/catalog")
	if err != nil {
		return res, err
	}
	names, err := reg.Catalog(ctx)
	if err != nil {
		return res, err
	}
	for _, name := range names {
		if !match(srcHost + "/" + name) {
			continue
		}
		rest := strings.TrimPrefix(name, strip)
		to := rest
		if dstPrefix != "" {
			to = dstPrefix + "/" + rest
		}
		res.Repositories++
		if err := syncRepository(ctx, o, srcHost+"/"+name, dstHost+"/"+to, res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// literalDir is the pattern's leading segments before the first wildcard,
// with their trailing slash.
func literalDir(pattern string) string {
	lit := pattern
	if i := strings.IndexAny(pattern, "*?"); i >= 0 {
		lit = pattern[:i]
	}
	if i := strings.LastIndex(lit, "/"); i >= 0 {
		return lit[:i+1]
	}
	return ""
}

func syncRepository(ctx context.Context, o SyncOptions, src, dst string, res *SyncResult) error {
	srcRepo, err := o.Open(src)
	if err != nil {
		return err
	}
	dstRepo, err := o.Open(dst)
	if err != nil {
		return err
	}
	var tags []string
	err = srcRepo.Repo.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if !referrersTag.MatchString(t) {
				tags = append(tags, t)
			}
		}
		if len(tags) > MaxSyncTags {
			return fmt.Errorf("%s: more than %d tags", src, MaxSyncTags)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("tags of %s: %w", src, err)
	}
	res.Tags += len(tags)

	// Current targets of the tags, then earlier versions from the history.
	current := map[string]digest.Digest{}
	seen := map[digest.Digest]bool{}
	for _, t := range tags {
		d, err := srcRepo.Repo.Resolve(ctx, t)
		if err != nil {
			return fmt.Errorf("%s:%s: %w", src, t, err)
		}
		current[t] = d.Digest
		seen[d.Digest] = true
	}
	var earlier []digest.Digest
	moves, err := srcRepo.Remote.History(ctx, "")
	var se *client.StatusError
	switch {
	case errors.As(err, &se) && (se.Status == 404 || se.Status == 405):
		// Not a cairn registry: its tags are all there is.
	case err != nil:
		return fmt.Errorf("history of %s: %w", src, err)
	}
	for _, m := range moves {
		if m.New != "" && !seen[m.New] {
			seen[m.New] = true
			earlier = append(earlier, m.New)
		}
	}
	res.Versions += len(seen)
	for _, d := range earlier {
		// An earlier version may since have been deleted at the source.
		if _, err := syncVersion(ctx, o, src+"@"+d.String(), dst+"@"+d.String(), res); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return err
		}
	}
	slices.Sort(tags)
	for _, t := range tags {
		want := current[t]
		to := dst + ":" + t
		have, err := dstRepo.Repo.Resolve(ctx, t)
		set, moved := 0, 0
		switch {
		case err == nil && have.Digest == want:
			// Tagged already: copy by digest, for referrers added since.
			to = dst + "@" + want.String()
		case err == nil:
			moved = 1
		case errors.Is(err, errdef.ErrNotFound):
			set = 1
		default:
			return fmt.Errorf("%s:%s: %w", dst, t, err)
		}
		copied, err := syncVersion(ctx, o, src+"@"+want.String(), to, res)
		if err != nil {
			return err
		}
		if copied {
			res.TagsSet += set
			res.TagsMoved += moved
		}
	}
	return nil
}

// syncVersion copies one version and reports whether it is now at dst; a
// refusal of the gate is recorded, not returned.
func syncVersion(ctx context.Context, o SyncOptions, src, dst string, res *SyncResult) (bool, error) {
	s, err := o.Open(src)
	if err != nil {
		return false, err
	}
	d, err := o.Open(dst)
	if err != nil {
		return false, err
	}
	cr, err := Copy(ctx, s, d, CopyOptions{Agent: o.Agent, Concurrency: o.Concurrency, OnCopied: o.OnCopied})
	if cr != nil {
		res.Blobs += cr.Copied
		res.Bytes += cr.Bytes
		if cr.Copied > 0 {
			res.VersionsCopied++
		}
	}
	if err != nil {
		if errors.Is(err, verify.ErrVerification) && cr != nil && cr.Receipt != nil && cr.Receipt.Refusal != "" {
			res.Refused = append(res.Refused, src+": "+cr.Receipt.Refusal)
			if o.Progress != nil {
				fmt.Fprintf(o.Progress, "refused %s: %s\n", src, cr.Receipt.Refusal)
			}
			return false, nil
		}
		return false, err
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "synced %s to %s: %d sent (%d bytes), %d already there\n", src, dst, cr.Copied, cr.Bytes, cr.Skipped)
	}
	return true, nil
}
