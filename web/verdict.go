package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"cairn.dev/cairn/attest"
	"cairn.dev/cairn/registry/storage"
	"cairn.dev/cairn/verify"
)

// Gate is the registry's pull gate as the UI asks it: the policy's
// verdict on a version, by digest (registry/gate's *Gate implements it).
// It returns the rule that applies (nil when none does) and nil when a
// pull of the version by digest is allowed, an error wrapping
// verify.ErrVerification that says why it is refused, or another error
// when it could not be checked.
type Gate interface {
	Verdict(ctx context.Context, repo string, m *storage.Manifest) (*verify.Rule, error)
}

// The states of a version, one of which every version shows.
const (
	// stateAllowed: the registry's policy allows a pull (a gate).
	stateAllowed = "allowed"
	// stateRefused: the registry's policy refuses a pull, or it could not
	// be checked.
	stateRefused = "refused"
	// stateQuarantined: the version is quarantined; pulls are refused.
	stateQuarantined = "quarantined"
	// stateSigned and stateAttested: no policy; bundles are attached, and
	// nothing was checked.
	stateSigned   = "signed"
	stateAttested = "attested"
	// stateUnsigned: no policy, and no bundle is attached.
	stateUnsigned = "unsigned"
)

// maxReasonLen is the longest refusal reason shown whole.
const maxReasonLen = 4000

// bundleView is one Sigstore bundle as the version page shows it.
type bundleView struct {
	Referrer      digest.Digest
	PredicateType string
	// Kind is "signature" or "attestation".
	Kind string
	Time time.Time
	// Checked is true when the bundle was verified against the trust of
	// the policy rule that applies; Verified when it verified. Signer then
	// names the verified key ("key KEYID") or certificate identity; else
	// it is the signer the bundle claims, unverified.
	Checked  bool
	Verified bool
	Signer   string
	// KeyID is the key's fingerprint, verified or claimed; empty for a
	// keyless bundle.
	KeyID string
	// Problem says why it did not verify, or why it was not checked.
	Problem string
	// BuilderID, Params and Deps are read from SLSA provenance (from the
	// verified statement, or the unverified payload when not verified).
	BuilderID string
	BuildType string
	Params    []keyValue
	Deps      []dependencyView
}

// dependencyView is one resolvedDependencies entry of a provenance.
type dependencyView struct {
	Role string
	// URI is as written, such as oci://HOST/REPO@DIGEST.
	URI string
	// Hidden is set per viewer: the URI names a repository of this
	// registry the viewer may not read.
	Hidden bool
}

// bundleSet is a version's bundles as checked against one rule's trust
// (or none): what the verdict cache keeps, by repository, digest, rule and
// referrers.
type bundleSet struct {
	Bundles []bundleView
	// Signed and Attested: a signature or an attestation bundle is
	// attached (verified or not).
	Signed, Attested bool
}

// verdict is what a version shows: exactly one state, and the bundles.
type verdict struct {
	// State is one of the state constants.
	State string
	// Policy is true when the registry has a policy (and a gate).
	Policy bool
	// Rule names the policy rule that applies, as rules[N] "MATCH"; empty
	// when none does.
	Rule string
	// Signers are the rule's signers, by key id or keyless identity.
	Signers []string
	// Reason is why the version is refused or quarantined, with the
	// server's file paths replaced by what they name.
	Reason string
	// Quarantine is set when the version is quarantined.
	Quarantine *storage.Quarantine
	// Signer is who signed, for stateSigned: a claimed key id or identity.
	Signer  string
	Bundles []bundleView
}

// Status is the state, the badge's class.
func (v *verdict) Status() string {
	if v == nil {
		return stateUnsigned
	}
	return v.State
}

// Label is the badge's text.
func (v *verdict) Label() string {
	switch v.Status() {
	case stateAllowed:
		return "allowed by policy"
	case stateRefused:
		return "refused by policy"
	case stateQuarantined:
		return "quarantined"
	case stateSigned:
		return "signed by " + shortSigner(v.Signer) + ", not checked"
	case stateAttested:
		return "attested, not checked"
	}
	return "unsigned"
}

// Pullable is false when a pull of the version is refused: then the page
// shows no pull command.
func (v *verdict) Pullable() bool {
	s := v.Status()
	return s != stateRefused && s != stateQuarantined
}

// shortSigner shortens "key KEYID" to its first 16 hex digits, for badges.
func shortSigner(s string) string {
	if id, ok := strings.CutPrefix(s, "key "); ok && len(id) > 16 {
		return "key " + id[:16] + "…"
	}
	return s
}

// ruleName names a rule as the UI does: by index and match pattern, never
// by the file it came from.
func ruleName(r *verify.Rule) string {
	return fmt.Sprintf("rules[%d] %q", r.Index, r.Match)
}

// ruleSigners lists a rule's signers by key id and keyless identity.
func ruleSigners(r *verify.Rule) []string {
	var out []string
	for _, k := range r.Keys {
		out = append(out, "key "+verify.KeyID(k.Public))
	}
	for _, id := range r.Keyless {
		out = append(out, id.String())
	}
	return out
}

// newScrubber returns what replaces the server's file paths in messages
// of policy p: a rule's "FILE:LINE (rules[N], match ...)" by rules[N]
// "MATCH", a key file by "key KEYID", a trusted root by "the rule's
// trusted root" and the policy file by "the registry's policy". Longer
// strings are replaced first, so a path is never half replaced.
func newScrubber(p *verify.Policy) *strings.Replacer {
	if p == nil {
		return strings.NewReplacer()
	}
	type pair struct{ old, new string }
	var pairs []pair
	for i := range p.Rules {
		r := &p.Rules[i]
		pairs = append(pairs, pair{r.String(), ruleName(r)})
		for _, k := range r.Keys {
			if k.Name != "" {
				pairs = append(pairs, pair{k.Name, verify.KeyID(k.Public)})
			}
		}
		if r.TrustedRoot != "" {
			pairs = append(pairs, pair{r.TrustedRoot, "the rule's trusted root"})
		}
	}
	if p.Name != "" {
		pairs = append(pairs, pair{p.Name, "the registry's policy"})
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(len(b.old), len(a.old)) })
	var args []string
	for _, pr := range pairs {
		args = append(args, pr.old, pr.new)
	}
	return strings.NewReplacer(args...)
}

// verdictOf returns the verdict on version m of repo, whose referrers are
// refs: quarantined when q is set; else, with a gate, the gate's verdict;
// else what is attached, not checked. The bundles are read with
// attest.CollectBundles and, when a policy rule applies, each is verified
// against the rule's trust to name its signer; that work is cached by
// repository, digest, rule and referrers. The gate is asked every time
// (it caches its own verdicts for gate.CacheTTL), so a verdict that
// changes with time (maxAge) is never shown stale for longer.
func (u *UI) verdictOf(ctx context.Context, host, repo string, m *storage.Manifest, refs []*storage.Manifest, q *storage.Quarantine) (*verdict, error) {
	v := &verdict{Policy: u.cfg.Gate != nil, Quarantine: q}
	var rule *verify.Rule
	var gateErr error
	if u.cfg.Gate != nil {
		rule, gateErr = u.cfg.Gate.Verdict(ctx, repo, m)
		if rule != nil {
			v.Rule, v.Signers = ruleName(rule), ruleSigners(rule)
		}
	}
	set, err := u.bundlesOf(ctx, host, repo, m, refs, rule)
	if err != nil {
		return nil, err
	}
	v.Bundles = set.Bundles
	switch {
	case q != nil:
		v.State, v.Reason = stateQuarantined, q.Reason
	case u.cfg.Gate != nil && gateErr == nil:
		v.State = stateAllowed
	case u.cfg.Gate != nil && errors.Is(gateErr, verify.ErrVerification):
		v.State, v.Reason = stateRefused, u.reason(gateErr.Error())
	case u.cfg.Gate != nil:
		u.log.Warn("web: the pull gate could not check a version", "repository", repo, "digest", m.Digest, "err", gateErr)
		v.State, v.Reason = stateRefused, "the policy could not be checked: "+u.reason(gateErr.Error())
	case set.Signed:
		v.State = stateSigned
		for _, b := range set.Bundles {
			if b.Kind == "signature" {
				v.Signer = b.Signer
				break
			}
		}
	case set.Attested:
		v.State = stateAttested
	default:
		v.State = stateUnsigned
	}
	return v, nil
}

// bundlesOf reads the bundles attached to m (attest.CollectBundles over
// the registry's own stores) and, when rule is set, verifies each against
// its trust, caching the result.
func (u *UI) bundlesOf(ctx context.Context, host, repo string, m *storage.Manifest, refs []*storage.Manifest, rule *verify.Rule) (*bundleSet, error) {
	byDigest := map[digest.Digest]*storage.Manifest{}
	var key strings.Builder
	key.WriteString(host + "/" + repo + "@" + string(m.Digest))
	if rule != nil {
		fmt.Fprintf(&key, " rule %d", rule.Index)
	}
	var bundleRefs []string
	for _, r := range refs {
		if r.ArtifactType == attest.MediaTypeBundle {
			byDigest[r.Digest] = r
			bundleRefs = append(bundleRefs, string(r.Digest))
		}
	}
	slices.Sort(bundleRefs)
	for _, d := range bundleRefs {
		key.WriteString(" " + d)
	}
	if s, ok := u.verdicts.get(key.String()); ok {
		return s, nil
	}
	set := &bundleSet{}
	if len(bundleRefs) == 0 {
		u.verdicts.put(key.String(), set)
		return set, nil
	}
	desc := ocispec.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size}
	src := &storage.ContentSource{Meta: u.cfg.Meta, Blobs: u.cfg.Blobs, Repository: repo}
	var sel attest.Selection
	if rule != nil {
		sel = attest.SelectionFor(rule.Trust())
	}
	col, err := attest.Collect(ctx, src, desc, sel)
	if err != nil {
		return nil, err
	}
	bundles := col.Bundles
	for _, b := range bundles {
		bv := bundleView{Referrer: b.Referrer.Digest}
		if r := byDigest[b.Referrer.Digest]; r != nil {
			bv.Time = r.Pushed
		}
		if t, err := time.Parse(time.RFC3339, b.Referrer.Annotations[ocispec.AnnotationCreated]); err == nil {
			bv.Time = t
		}
		st := unverifiedStatement(b.Data)
		bv.PredicateType = st.PredicateType
		if bv.PredicateType == "" {
			bv.PredicateType = b.Referrer.Annotations[attest.AnnotationPredicateType]
		}
		bv.fromStatement(st)
		bv.Kind = "attestation"
		if bv.PredicateType == verify.PredicateCosignSign || bv.PredicateType == "" {
			bv.Kind = "signature"
			set.Signed = true
		} else {
			set.Attested = true
		}
		c := verify.ClaimedSigner(b.Data)
		switch {
		case c.KeyID != "":
			bv.Signer, bv.KeyID = "key "+c.KeyID, c.KeyID
		case c.Identity != "":
			bv.Signer = c.Identity
		case c.Hint != "":
			bv.Signer = "key hint " + c.Hint
		default:
			bv.Signer = "unknown (the bundle names no key or certificate)"
		}
		bv.Problem = "not checked: the registry has no policy"
		if u.cfg.Gate != nil {
			bv.Problem = "not checked: no rule of the registry's policy applies to this repository"
		}
		set.Bundles = append(set.Bundles, bv)
	}
	if rule == nil || len(bundles) == 0 {
		u.verdicts.put(key.String(), set)
		return set, nil
	}
	ok, reasons, err := verify.Bundles(desc, attest.BundleData(bundles), rule.Trust())
	if err != nil {
		for i := range set.Bundles {
			set.Bundles[i].Problem = "not checked: " + u.reason(err.Error())
		}
		u.verdicts.put(key.String(), set)
		return set, nil
	}
	verified := map[int]verify.Signed{}
	for _, s := range ok {
		verified[s.Index] = s
	}
	for i := range set.Bundles {
		b := &set.Bundles[i]
		b.Checked = true
		s, good := verified[i]
		if !good {
			b.Problem = "not verified against the trust of " + ruleName(rule)
			var mine []string
			for _, r := range reasons {
				if msg := r.Error(); strings.HasPrefix(msg, fmt.Sprintf("bundle %d:", i+1)) || strings.HasPrefix(msg, fmt.Sprintf("bundle %d,", i+1)) {
					mine = append(mine, u.reason(msg))
				}
			}
			if len(mine) > 0 {
				b.Problem = clipTo(strings.Join(mine, "; "), maxReasonLen)
			}
			continue
		}
		b.Verified, b.Problem = true, ""
		if s.Keyless {
			b.Signer, b.KeyID = s.Signer, ""
		} else {
			b.Signer, b.KeyID = "key "+s.KeyID, s.KeyID
		}
		if !s.Time.IsZero() {
			b.Time = s.Time
		}
		if raw, err := protojson.Marshal(s.Statement); err == nil {
			// The verified statement replaces what was read unverified.
			var st statement
			if json.Unmarshal(raw, &st) == nil {
				b.PredicateType = st.PredicateType
				b.fromStatement(st)
			}
		}
	}
	u.verdicts.put(key.String(), set)
	return set, nil
}

// reason is an error's text as a page shows it: the server's paths
// replaced, the lines of joined errors separated by "; ", at most
// maxReasonLen bytes.
func (u *UI) reason(msg string) string {
	return clipTo(u.scrub.Replace(strings.ReplaceAll(msg, "\n", "; ")), maxReasonLen)
}

// clipTo shortens s to at most n bytes, on a rune boundary.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// verdictFor reads a version's referrers and quarantine and returns its
// verdict: what its page shows, and what decides whether the UI serves its
// files (the same answer the pull gate gives).
func (u *UI) verdictFor(ctx context.Context, host, repo string, m *storage.Manifest) (*verdict, []*storage.Manifest, *storage.Quarantine, error) {
	descs, err := u.cfg.Meta.Referrers(ctx, repo, m.Digest)
	if err != nil {
		return nil, nil, nil, err
	}
	var refs []*storage.Manifest
	for _, rd := range descs {
		rm, err := u.cfg.Meta.Manifest(ctx, repo, rd.Digest)
		if errors.Is(err, storage.ErrManifestUnknown) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, nil, nil, err
		}
		refs = append(refs, rm)
	}
	var q *storage.Quarantine
	if u.quar != nil {
		if q, err = u.quar.Quarantined(ctx, repo, m.Digest); err != nil {
			return nil, nil, nil, err
		}
	}
	vd, err := u.verdictOf(ctx, host, repo, m, refs, q)
	return vd, refs, q, err
}
