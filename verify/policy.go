package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/signature"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	fnote "github.com/transparency-dev/formats/note"

	"cairn.dev/cairn/verify/scan"
)

// PolicyVersion is the only policy format version ParsePolicy reads: a
// policy file starts with "version: 1".
const PolicyVersion = 1

// Limits on what a policy file may hold. The policy comes from the
// operator, not the registry, but a policy is parsed before anything else
// runs, so its cost stays bounded whatever it says.
const (
	// MaxPolicySize is the largest policy file, in bytes.
	MaxPolicySize = 1 << 20
	// MaxPolicyRules is the largest number of rules in a policy.
	MaxPolicyRules = 1000
	// MaxRuleSigners is the largest number of signers in a rule.
	MaxRuleSigners = 100
	// MaxRuleAttestations is the largest number of required attestations
	// in a rule.
	MaxRuleAttestations = 100
	// MaxRuleDigests is the largest number of digests in a rule's
	// allow-list.
	MaxRuleDigests = 10000
	// MaxPolicyRegexpSize is the longest regular expression (issuerRegexp,
	// subjectRegexp), in bytes.
	MaxPolicyRegexpSize = 1024
	// MaxPolicyKeySize is the largest public key file, in bytes.
	MaxPolicyKeySize = 64 << 10
	// MaxTrustedRootSize is the largest trusted_root.json, in bytes. The
	// Sigstore public-good root is about 7 KiB.
	MaxTrustedRootSize = 1 << 20
	// MaxPolicyErrors is the largest number of mistakes ParsePolicy
	// reports before it stops collecting them.
	MaxPolicyErrors = 20
	// MaxRuleWitnesses is the largest number of witness keys in a rule
	// (verify/tlogproof.MaxWitnesses is the same).
	MaxRuleWitnesses = 32
)

// policyMinRSABits is the smallest RSA modulus accepted for a signer's key,
// as for signing keys in attest.
const policyMinRSABits = 2048

// policyFormats are the weight format names that formats and allowUnsafe
// accept: the names the scanners of verify/scan report. This is the one
// list; docs/policy.md repeats it and a test keeps the two in step.
var policyFormats = [...]string{
	"safetensors", "gguf", "onnx", "pickle", "pytorch", "joblib", "numpy", "keras", "tensorflow", "archive", "unknown",
}

// PolicyFormats returns the weight format names a policy's formats and
// allowUnsafe may list, in a fresh slice: safetensors, gguf, onnx, pickle,
// pytorch, joblib, numpy, keras, tensorflow, archive (a tar or zip that is
// no known format, judged by its members) and unknown (content no scanner
// recognised).
func PolicyFormats() []string { return slices.Clone(policyFormats[:]) }

// Policy is a parsed policy file: rules tried in order, the first whose
// match fits a repository deciding what that repository's models must
// satisfy. A repository no rule matches is refused. Policies come from
// ParsePolicy or LoadPolicy and are safe for concurrent use once parsed.
type Policy struct {
	// Name is the file name that errors and denials cite.
	Name string
	// Rules are the rules in file order.
	Rules []Rule
}

// Rule is one rule of a policy. A rule either rejects (Reject is set, and
// nothing else but Match is) or says what a model must satisfy: a
// signature by one of its signers (Keys or Keyless), its required
// attestations, and the checks CheckDigest, CheckFormat and CheckAge.
// Zero values mean "no demand" except for signers, of which an accepting
// rule always has at least one.
type Rule struct {
	// Match is the glob over "host[:port]/repository" the rule applies to:
	// * matches within one path segment, ** across segments, ? one
	// character other than '/'.
	Match string
	// Reject, when set, is the reason the rule refuses every repository it
	// matches.
	Reject string

	// Keys are the trusted public keys, read when the policy was loaded;
	// each Name is the key file's path.
	Keys []Key
	// Keyless are the trusted keyless (Fulcio certificate) identities.
	// Their regular expressions are anchored (^...$): the policy refuses
	// any that is not.
	Keyless []Identity
	// TrustedRoot is the path of the Sigstore trusted_root.json keyless
	// signatures are verified against; set exactly when Keyless is.
	TrustedRoot string
	// TrustedMaterial is TrustedRoot, read and parsed when the policy was
	// loaded.
	TrustedMaterial root.TrustedMaterial

	// Attestations must each be present, signed by one of the rule's
	// signers.
	Attestations []RequiredAttestation
	// PinDigest refuses references by tag: the model must be named by
	// digest (@sha256:...).
	PinDigest bool
	// Digests, when not empty, are the only manifest digests allowed.
	Digests []digest.Digest
	// Formats, when not empty, are the only weight formats allowed (names
	// from PolicyFormats). Empty allows any format whose scan is safe.
	Formats []string
	// AllowUnsafe are the formats whose scanner findings are accepted
	// anyway. It is an explicit, unsafe escape hatch.
	AllowUnsafe []string
	// AllowUnscanned accepts weight files whose content the scanner cannot
	// judge (verdict "not scanned"). It is an explicit escape hatch: by
	// default what is not proved safe is refused.
	AllowUnscanned bool
	// MaxAge, when not zero, refuses models whose newest valid signature
	// is older.
	MaxAge time.Duration

	// Transparency (transparency: required) demands that the registry's
	// transparency log prove what the reference means: a signed checkpoint
	// consistent with every one this client saw, and an inclusion proof of
	// the leaf that moved the tag to the digest (its latest move) or, for
	// a reference by digest, that pushed the manifest.
	Transparency bool
	// LogKey, when set, is the log's note verifier key
	// ("<name>+<hash>+<base64>"); empty means the key pinned on first use.
	LogKey string
	// Witnesses are witness verifier keys (cosignature/v1, as cairn
	// witness prints them), of which at least WitnessThreshold must have
	// cosigned the checkpoint.
	Witnesses        []string
	WitnessThreshold int

	// Index is the rule's position in Policy.Rules, from 0.
	Index int
	// Line is the line of the policy file the rule starts on.
	Line int

	file string         // the policy's name, for messages
	re   *regexp.Regexp // Match, compiled
}

// RequiredAttestation is an in-toto attestation a rule demands: a
// statement of predicate Type about the manifest digest, signed by one of
// the rule's signers, and, when BuilderID is set (only for SLSA provenance
// v1), whose predicate.runDetails.builder.id is exactly BuilderID.
type RequiredAttestation struct {
	Type      string
	BuilderID string
}

// PolicyError is a mistake in a policy file: what is wrong, with the field
// and the place (line and column from 1; 0 when the mistake is the whole
// file's). Error returns "policy.yaml:12:9: rules[0].signers[0]: unknown
// field "kee" (did you mean "key"?)". File errors (an unreadable key, say)
// are wrapped: errors.Is(err, fs.ErrNotExist) works.
type PolicyError struct {
	File   string
	Line   int
	Column int
	Field  string
	Err    error
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *PolicyError) Unwrap() error { return e.Err }

// LoadPolicy reads and parses the policy file at path (see ParsePolicy).
// Key and trusted root paths in it are relative to the file's directory.
func LoadPolicy(path string) (*Policy, error) {
	data, err := readPolicyInput(path, MaxPolicySize)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the PolicyError names the file
		}
		return nil, &PolicyError{File: path, Err: err}
	}
	return ParsePolicy(data, path, filepath.Dir(path))
}

// ParsePolicy parses a policy (YAML, format version PolicyVersion) and reads
// the key files and trusted roots it names, relative to baseDir (or the
// working directory when baseDir is empty). name is the file name errors
// cite. Every mistake is a *PolicyError with its line; when there are
// several, up to MaxPolicyErrors, they are joined (errors.Join) in file
// order. Unknown fields, wrong types, duplicate fields, empty values,
// conflicting options, anchors' aliases and rules that can never apply are
// all mistakes.
func ParsePolicy(data []byte, name, baseDir string) (*Policy, error) {
	if name == "" {
		name = "policy"
	}
	p := &policyParser{
		name:    name,
		baseDir: baseDir,
		keys:    make(map[string]policyLoaded[crypto.PublicKey]),
		roots:   make(map[string]policyLoaded[*root.TrustedRoot]),
	}
	pol := p.parse(data)
	if err := p.err(); err != nil {
		return nil, err
	}
	return pol, nil
}

// Rule returns the first rule whose match fits repository, given as
// "host[:port]/path" without tag or digest (the host is compared in lower
// case). No rule matching, or a matching rule that rejects, is an error
// wrapping ErrPolicyDenied that says so and why. A repository holding a tag
// or digest is an error that is not a denial.
func (p *Policy) Rule(repository string) (*Rule, error) {
	repo, err := policyRepository(repository)
	if err != nil {
		return nil, err
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		re := r.re
		if re == nil {
			if re, err = policyGlob(r.Match); err != nil {
				return nil, fmt.Errorf("%s: %w", r, err)
			}
		}
		if !re.MatchString(repo) {
			continue
		}
		if r.Reject != "" {
			return nil, fmt.Errorf("%w: %s: %s is rejected: %s", ErrPolicyDenied, r, repo, r.Reject)
		}
		return r, nil
	}
	return nil, fmt.Errorf("%w: %s: no rule matches %s, and what no rule matches is refused", ErrPolicyDenied, p.Name, repo)
}

// Universal reports whether every repository gets the same rule (the
// first rule matches "**"), so that the rule does not depend on the
// repository a model is said to come from.
func (p *Policy) Universal() bool {
	return len(p.Rules) > 0 && p.Rules[0].Match == "**"
}

// commandLine is the file of a rule made by SignersRule.
const commandLine = "\x00command line"

// SignersRule returns a policy of one rule for every repository that
// demands a signature by one of trust's signers and allows any weight
// format whose scan is safe: what `--key` and the keyless flags mean
// without a policy file. trustedRoot names the file of trust.Root.
func SignersRule(trust Trust, trustedRoot string) *Policy {
	r := Rule{Match: "**", Keys: trust.Keys, Keyless: trust.Identities, TrustedRoot: trustedRoot, TrustedMaterial: trust.Root, file: commandLine}
	r.re, _ = policyGlob(r.Match)
	return &Policy{Name: "the command line", Rules: []Rule{r}}
}

// Trust returns what the rule's signatures and attestations are verified
// against: its keys, its keyless identities and their trusted root.
func (r *Rule) Trust() Trust {
	return Trust{Keys: r.Keys, Identities: r.Keyless, Root: r.TrustedMaterial}
}

// String names the rule in messages: `policy.yaml:12 (rules[0], match "x/*")`.
func (r *Rule) String() string {
	if r.file == commandLine {
		return "the signers given on the command line"
	}
	file := r.file
	if file == "" {
		file = "policy"
	}
	return fmt.Sprintf("%s:%d (rules[%d], match %q)", file, r.Line, r.Index, r.Match)
}

// denied returns a denial by r: an error wrapping ErrPolicyDenied.
func (r *Rule) denied(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrPolicyDenied, r, fmt.Sprintf(format, args...))
}

// CheckDigest checks a model's manifest digest d, and whether the model was
// referred to by digest (byDigest) rather than by tag, against PinDigest
// and Digests.
func (r *Rule) CheckDigest(d digest.Digest, byDigest bool) error {
	if r.Reject != "" {
		return r.denied("rejected: %s", r.Reject)
	}
	if r.PinDigest && !byDigest {
		return r.denied("referred to by tag; the rule demands a reference by digest (pinDigest), as repository@%s", d)
	}
	if len(r.Digests) == 0 {
		return nil
	}
	if err := d.Validate(); err != nil {
		return r.denied("manifest digest %q: %v", d, err)
	}
	if !slices.Contains(r.Digests, d) {
		return r.denied("manifest digest %s is not one of the %d digests the rule allows", d, len(r.Digests))
	}
	return nil
}

// CheckFile decides whether a model file may be loaded, given what its scan
// proved (rep) and whether it is a weight (weight: its layer or its name
// says so, or nothing says otherwise; see model.IsWeight). It is the one
// decision the agent makes per file, in this order:
//
//   - plain data (JSON, text) is accepted whatever the rule says;
//   - a file proved to be of a weight format, and any weight, must be of a
//     format listed in Formats, when the rule lists any; content inside a
//     tar or zip must also have archive listed (a compressed stream keeps
//     the format of what it holds);
//   - unsafe is refused, unless AllowUnsafe lists its format (an explicit,
//     unsafe escape hatch);
//   - not scanned (content the scanner cannot judge) is refused for a
//     weight, and for any file whose content is a container the scanner
//     recognised without reading it (HDF5, 7z...), unless AllowUnscanned;
//     with a Formats list it must also be listed (as "unknown", or its
//     container's format).
//
// A refusal wraps ErrPolicyDenied and says what the rule would need.
func (r *Rule) CheckFile(weight bool, rep scan.Report) error {
	if r.Reject != "" {
		return r.denied("rejected: %s", r.Reject)
	}
	verdict := rep.Judge()
	if rep.PlainData() {
		return nil
	}
	// A file the scanner proved to be of some format, a weight, or a
	// recognised container must be of a listed format. (A file both its
	// layer and its name call something else, in which the scanner
	// recognised nothing, is not a weight a formats list is about.)
	proved := verdict != scan.VerdictNotScanned
	if len(r.Formats) > 0 && (proved || weight || rep.Variant != "") && !slices.Contains(r.Formats, rep.Format) {
		what := "weight format"
		if verdict == scan.VerdictNotScanned {
			what = "content not proved to be of an allowed format:"
		}
		return r.denied("%s %q is not allowed; the rule allows %s", what, rep.Format, strings.Join(r.Formats, ", "))
	}
	if len(r.Formats) > 0 && slices.ContainsFunc(rep.Wrappers, func(w string) bool { return w == "tar" || w == "zip" }) && !slices.Contains(r.Formats, scan.FormatArchive) {
		// A tar or zip holding one file of a listed format is not a file
		// of that format: the loader of the format would not read it.
		return r.denied("%s inside %s: an archive, and the rule's formats do not list archive", rep.Format, strings.Join(rep.Wrappers, ">"))
	}
	switch verdict {
	case scan.VerdictUnsafe:
		if !slices.Contains(r.AllowUnsafe, rep.Format) {
			return r.denied("weight format %q: the scanner found it unsafe (%s), and the rule's allowUnsafe does not list %q", rep.Format, rep.Summary(), rep.Format)
		}
	case scan.VerdictNotScanned:
		if (weight || rep.Variant != "") && !r.AllowUnscanned {
			what := "content the scanner does not recognise"
			if rep.Variant != "" {
				what = rep.Variant + " content, which the scanner recognises but cannot read"
			}
			return r.denied("not scanned: %s, so not proved safe; the rule would have to say allowUnscanned: true", what)
		}
	}
	return nil
}

// CheckAge checks the time of a model's newest valid signature, signed,
// against MaxAge at now. A zero signed time (key-signed bundles carry no
// verified timestamp) is refused when the rule limits age.
func (r *Rule) CheckAge(signed, now time.Time) error {
	if r.Reject != "" {
		return r.denied("rejected: %s", r.Reject)
	}
	if r.MaxAge == 0 {
		return nil
	}
	if signed.IsZero() {
		return r.denied("no signature has a verified time, and the rule allows signatures at most %s old (maxAge)", policyFormatAge(r.MaxAge))
	}
	if age := now.Sub(signed); age > r.MaxAge {
		return r.denied("newest signature is from %s, %s old; the rule allows at most %s (maxAge)",
			signed.UTC().Format(time.RFC3339), policyFormatAge(age.Truncate(time.Second)), policyFormatAge(r.MaxAge))
	}
	return nil
}

// policyFormatAge prints whole days as "90d", anything else as Go does.
func policyFormatAge(d time.Duration) string {
	const day = 24 * time.Hour
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// policyRepository checks and normalises the repository Rule is asked
// about: the host (before the first '/') in lower case, the path already
// so.
func policyRepository(s string) (string, error) {
	if s == "" {
		return "", errors.New("policy: empty repository")
	}
	if strings.ContainsAny(s, "@ \t\r\n") {
		return "", fmt.Errorf("policy: repository %q: want host/repository, without tag or digest", s)
	}
	host, path, ok := strings.Cut(s, "/")
	if ok && strings.Contains(path, ":") {
		return "", fmt.Errorf("policy: repository %q holds a tag: want host/repository, without tag or digest", s)
	}
	if strings.ToLower(path) != path {
		// No registry serves it, and it must not slip past a rule for
		// its lower-case name to a looser one.
		return "", fmt.Errorf("policy: repository %q: repository names are lower case", s)
	}
	if !ok {
		return strings.ToLower(s), nil
	}
	return strings.ToLower(host) + "/" + path, nil
}

// MatchPattern compiles a pattern of the policy's match syntax (* within
// a path segment, ** across segments, ? one character; lower case) into a
// test of HOST/REPOSITORY names: the one matcher of rules, also used to
// select the repositories cairn sync mirrors.
func MatchPattern(pattern string) (func(repository string) bool, error) {
	re, err := policyGlob(pattern)
	if err != nil {
		return nil, err
	}
	return func(repository string) bool {
		name, err := policyRepository(repository)
		return err == nil && re.MatchString(name)
	}, nil
}

// policyGlob compiles a match pattern into an anchored regular expression.
// Patterns are lower case (hosts are compared in lower case, repository
// names are lower case), of the characters of hosts, ports and repository
// paths, with * ** and ? as wildcards; segments are not empty.
func policyGlob(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("empty pattern")
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '*':
			n := 1
			for i+n < len(pattern) && pattern[i+n] == '*' {
				n++
			}
			if n > 2 {
				return nil, fmt.Errorf("pattern %q: %s: use * within a segment or ** across segments", pattern, strings.Repeat("*", n))
			}
			if n == 2 {
				b.WriteString(".*")
			} else {
				b.WriteString("[^/]*")
			}
			i += n - 1
		case c == '?':
			b.WriteString("[^/]")
		case c >= 'A' && c <= 'Z':
			return nil, fmt.Errorf("pattern %q has upper case, which never matches: hosts are compared in lower case and repository names are lower case", pattern)
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == ':':
			b.WriteString(regexp.QuoteMeta(string(c)))
		case c == '/':
			if i == 0 || i == len(pattern)-1 || pattern[i+1] == '/' {
				return nil, fmt.Errorf("pattern %q has an empty path segment", pattern)
			}
			b.WriteByte('/')
		default:
			return nil, fmt.Errorf("pattern %q: character %q is not allowed (patterns use a-z 0-9 . _ - : / and the wildcards * ** ?)", pattern, rune(c))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// policyDuration parses maxAge: a Go duration ("2160h", "36h30m"), days
// ("90d"), or days followed by a duration ("1d12h"). It must be positive.
func policyDuration(s string) (time.Duration, error) {
	const day = 24 * time.Hour
	bad := func() error {
		return fmt.Errorf("invalid duration %q: want a Go duration such as 2160h, or days such as 90d", s)
	}
	var total time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 && strings.Trim(s[:i], "0123456789") == "" {
		days, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || days > int64(math.MaxInt64/day) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total, rest = time.Duration(days)*day, s[i+1:]
		if rest == "" {
			if total <= 0 {
				return 0, errors.New("maxAge must be positive (leave it out for no limit)")
			}
			return total, nil
		}
		if rest[0] == '+' || rest[0] == '-' {
			return 0, bad()
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		if policyDurationSyntax.MatchString(rest) {
			// Well formed, so ParseDuration failed on its size.
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return 0, bad()
	}
	if d > math.MaxInt64-total {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	if total += d; total <= 0 {
		return 0, errors.New("maxAge must be positive (leave it out for no limit)")
	}
	return total, nil
}

// policyDurationSyntax is what time.ParseDuration accepts, but for its
// limit on size.
var policyDurationSyntax = regexp.MustCompile(`^[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)

// readPolicyInput reads a regular file of at most limit bytes. Errors are
// *fs.PathError.
func readPolicyInput(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%d bytes exceed the %d-byte limit", fi.Size(), limit)}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("more than the %d-byte limit", limit)}
	}
	return data, nil
}

// policyFileError words a file error as "path: what", like the other
// errors about a file the policy names, keeping what it wraps.
func policyFileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// LoadPublicKey reads a public key file for a signer, by the one rule that
// --key and a policy's key: share: see ParsePublicKey. The file must be a
// regular file of at most MaxPolicyKeySize bytes. Errors name the path.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	data, err := readPolicyInput(path, MaxPolicyKeySize)
	if err != nil {
		return nil, policyFileError(err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

// ParsePublicKey parses a PEM public key (PKIX "PUBLIC KEY", as cosign.pub
// and cairn keygen's .pub files): exactly one PEM block, holding ECDSA
// P-256, P-384 or P-521, Ed25519, or RSA of at least 2048 bits. Private
// keys, certificates, other curves and extra blocks are refused, each with
// a message that says so.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	if len(data) > MaxPolicyKeySize {
		return nil, fmt.Errorf("%d bytes exceed the %d-byte limit for a key file", len(data), MaxPolicyKeySize)
	}
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block: not a public key file")
	case block.Type == "PUBLIC KEY":
	case strings.Contains(block.Type, "PRIVATE KEY"):
		return nil, fmt.Errorf("holds a private key (%s); give its public key", block.Type)
	case block.Type == "CERTIFICATE":
		return nil, errors.New("holds a certificate, not a public key (keyless signers are given by issuer and subject)")
	default:
		return nil, fmt.Errorf("PEM block %q, want \"PUBLIC KEY\" (PKIX, as cosign.pub)", block.Type)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("holds more than one PEM block; give one key per file")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		if strings.HasPrefix(err.Error(), "asn1:") {
			// The DER details say nothing to whoever gave the key.
			return nil, errors.New("not a public key: its PUBLIC KEY block does not parse")
		}
		return nil, fmt.Errorf("not a public key: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if c := k.Curve; c != elliptic.P256() && c != elliptic.P384() && c != elliptic.P521() {
			return nil, fmt.Errorf("ECDSA curve %s is not supported (want P-256, P-384 or P-521)", c.Params().Name)
		}
	case ed25519.PublicKey:
	case *rsa.PublicKey:
		if k.N.BitLen() < policyMinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits, want at least %d", k.N.BitLen(), policyMinRSABits)
		}
	default:
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	if _, err := signature.LoadDefaultVerifier(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// LoadTrustedRoot reads a Sigstore trusted_root.json for keyless
// signatures, by the one rule that --trusted-root and a policy's
// trustedRoot share: a regular file of at most MaxTrustedRootSize bytes
// that lists at least one certificate authority. Errors name the path.
func LoadTrustedRoot(path string) (*root.TrustedRoot, error) {
	data, err := readPolicyInput(path, MaxTrustedRootSize)
	if err != nil {
		return nil, policyFileError(err)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a Sigstore trusted root: %w", path, err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("%s: the trusted root lists no certificate authority (Fulcio), so no keyless signature could verify", path)
	}
	return tr, nil
}

// policyLoaded is a file read once per parse, however many rules name it.
type policyLoaded[T any] struct {
	v   T
	err error
}

// policyParser walks the YAML nodes of a policy, collecting mistakes.
type policyParser struct {
	name, baseDir string
	errs          []*PolicyError
	full          bool // MaxPolicyErrors reached
	keys          map[string]policyLoaded[crypto.PublicKey]
	roots         map[string]policyLoaded[*root.TrustedRoot]
}

func (p *policyParser) add(e *PolicyError) {
	if p.full {
		return
	}
	if len(p.errs) == MaxPolicyErrors {
		p.full = true
		return
	}
	p.errs = append(p.errs, e)
}

// errorf records a mistake at n (nil: the whole file) in field.
func (p *policyParser) errorf(n *yaml.Node, field, format string, args ...any) {
	p.wrap(n, field, fmt.Errorf(format, args...))
}

func (p *policyParser) wrap(n *yaml.Node, field string, err error) {
	e := &PolicyError{File: p.name, Field: field, Err: err}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.add(e)
}

func (p *policyParser) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool {
		a, b := p.errs[i], p.errs[j]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	if len(p.errs) == 1 && !p.full {
		return p.errs[0]
	}
	errs := make([]error, 0, len(p.errs)+1)
	for _, e := range p.errs {
		errs = append(errs, e)
	}
	if p.full {
		errs = append(errs, &PolicyError{File: p.name, Err: fmt.Errorf("more than %d mistakes; stopped", MaxPolicyErrors)})
	}
	return errors.Join(errs...)
}

// yamlLine matches the position go.yaml.in/yaml/v3 puts in syntax errors.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// yamlError turns a YAML syntax error into a PolicyError with its line.
func (p *policyParser) yamlError(err error) {
	msg := err.Error()
	e := &PolicyError{File: p.name}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e.Err = errors.New("invalid YAML: " + msg)
	p.add(e)
}

func (p *policyParser) parse(data []byte) *Policy {
	if len(data) > MaxPolicySize {
		p.errorf(nil, "", "%d bytes exceed the %d-byte limit of a policy", len(data), MaxPolicySize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, "", "empty policy: want version: %d and rules", PolicyVersion)
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errorf(&extra, "", "a second YAML document: a policy is one document")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	top := &doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		top = doc.Content[0]
	}
	if top.Kind == yaml.ScalarNode && top.ShortTag() == "!!null" {
		p.errorf(nil, "", "empty policy: want version: %d and rules", PolicyVersion)
		return nil
	}
	f, ok := p.mapping(top, "", "version", "rules")
	if !ok {
		return nil
	}
	if v, ok := f.val["version"]; !ok {
		if f.clean {
			p.errorf(top, "", "missing version (version: %d)", PolicyVersion)
		}
	} else if n, ok := p.integer(v, "version"); ok && n != PolicyVersion {
		p.errorf(v, "version", "version %d is not supported (want %d)", n, PolicyVersion)
	}
	pol := &Policy{Name: p.name}
	v, ok := f.val["rules"]
	if !ok {
		if f.clean {
			p.errorf(top, "", "missing rules: a policy without rules refuses everything; say so with a rule that rejects \"**\"")
		}
		return pol
	}
	items, _ := p.sequence(v, "rules", MaxPolicyRules)
	for i, n := range items {
		r, ok := p.rule(n, i)
		if !ok {
			continue
		}
		pol.Rules = append(pol.Rules, r)
	}
	p.shadowed(pol.Rules)
	return pol
}

// shadowed reports rules that can never apply: after a "**" rule, or with
// the same match as an earlier rule.
func (p *policyParser) shadowed(rules []Rule) {
	first := make(map[string]*Rule)
	for i := range rules {
		r := &rules[i]
		if prev := first["**"]; prev != nil {
			p.add(&PolicyError{File: p.name, Line: r.Line, Field: fmt.Sprintf("rules[%d]", r.Index),
				Err: fmt.Errorf("this rule never applies: rules[%d] (line %d) matches every repository before it", prev.Index, prev.Line)})
			return
		}
		if prev := first[r.Match]; prev != nil {
			p.add(&PolicyError{File: p.name, Line: r.Line, Field: fmt.Sprintf("rules[%d]", r.Index),
				Err: fmt.Errorf("this rule never applies: rules[%d] (line %d) has the same match %q", prev.Index, prev.Line, r.Match)})
			continue
		}
		first[r.Match] = r
	}
}

// policyFields are the known fields of a mapping, by name.
type policyFields struct {
	key, val map[string]*yaml.Node
	// clean is false when the mapping had unknown, duplicate or malformed
	// fields; then missing fields are not reported, as they are likely the
	// misspelled ones.
	clean bool
}

func (f policyFields) has(name string) bool { _, ok := f.val[name]; return ok }

// mapping checks that n is a mapping of known fields without duplicates.
func (p *policyParser) mapping(n *yaml.Node, field string, known ...string) (policyFields, bool) {
	f := policyFields{key: make(map[string]*yaml.Node), val: make(map[string]*yaml.Node), clean: true}
	if n.Kind != yaml.MappingNode {
		p.want(n, field, "a mapping")
		return f, false
	}
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge":
			p.errorf(k, field, "merge keys (<<) are not supported; write the fields out")
			f.clean = false
			continue
		case k.Kind == yaml.AliasNode:
			p.errorf(k, field, "aliases (*%s) are not supported; write the value out", k.Value)
			f.clean = false
			continue
		case k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str":
			p.errorf(k, field, "a field name is a string, not %s", policyDescribe(k))
			f.clean = false
			continue
		}
		if prev := seen[k.Value]; prev != nil {
			p.errorf(k, field, "duplicate field %q (first at line %d)", k.Value, prev.Line)
			f.clean = false
			continue
		}
		seen[k.Value] = k
		if !slices.Contains(known, k.Value) {
			p.errorf(k, field, "unknown field %q%s", k.Value, policySuggest(k.Value, known))
			f.clean = false
			continue
		}
		f.key[k.Value], f.val[k.Value] = k, v
	}
	return f, true
}

// want records that n is not the kind of value field wants.
func (p *policyParser) want(n *yaml.Node, field, want string) {
	switch {
	case n.Kind == yaml.AliasNode:
		p.errorf(n, field, "aliases (*%s) are not supported; write the value out", n.Value)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		p.errorf(n, field, "no value, want %s", want)
	default:
		p.errorf(n, field, "want %s, got %s", want, policyDescribe(n))
	}
}

// policyDescribe says what a node is, for messages.
func policyDescribe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("the string %q", v)
	case "!!int":
		return "the integer " + v
	case "!!float":
		return "the number " + v
	case "!!bool":
		return v
	case "!!null":
		return "no value"
	case "!!timestamp":
		return "the timestamp " + v
	}
	return fmt.Sprintf("a value tagged %s", n.Tag)
}

// str returns n as a non-empty string.
func (p *policyParser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.want(n, field, "a string")
		return "", false
	}
	if strings.TrimSpace(n.Value) == "" {
		p.errorf(n, field, "empty value, want a string")
		return "", false
	}
	return n.Value, true
}

func (p *policyParser) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		p.want(n, field, "true or false")
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		p.errorf(n, field, "want true or false, got %q", n.Value)
		return false, false
	}
	return b, true
}

func (p *policyParser) integer(n *yaml.Node, field string) (int, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		p.want(n, field, "an integer")
		return 0, false
	}
	var i int
	if err := n.Decode(&i); err != nil {
		p.errorf(n, field, "want an integer, got %q", n.Value)
		return 0, false
	}
	return i, true
}

// sequence returns the items of a non-empty list of at most max items.
func (p *policyParser) sequence(n *yaml.Node, field string, max int) ([]*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		p.want(n, field, "a list")
		return nil, false
	}
	if len(n.Content) == 0 {
		p.errorf(n, field, "empty list; leave the field out instead")
		return nil, false
	}
	if len(n.Content) > max {
		p.errorf(n, field, "%d items exceed the limit of %d", len(n.Content), max)
		return nil, false
	}
	return n.Content, true
}

// ruleFields are the fields a rule may have.
var ruleFields = []string{
	"match", "reject", "signers", "trustedRoot", "attestations",
	"pinDigest", "digests", "formats", "allowUnsafe", "allowUnscanned", "maxAge",
	"transparency", "logKey", "witnesses",
}

func (p *policyParser) rule(n *yaml.Node, i int) (Rule, bool) {
	field := fmt.Sprintf("rules[%d]", i)
	r := Rule{Index: i, Line: n.Line, file: p.name}
	f, ok := p.mapping(n, field, ruleFields...)
	if !ok {
		return r, false
	}
	at := func(name string) string { return field + "." + name }
	matchOK := false
	if v, ok := f.val["match"]; ok {
		if r.Match, matchOK = p.str(v, at("match")); matchOK {
			re, err := policyGlob(r.Match)
			if err != nil {
				p.wrap(v, at("match"), err)
				matchOK = false
			}
			r.re = re
		}
	} else if f.clean {
		p.errorf(n, field, "missing match (the repositories the rule applies to, as \"registry.example.com/team/*\")")
	}

	if v, ok := f.val["reject"]; ok {
		r.Reject, _ = p.str(v, at("reject"))
		for _, name := range ruleFields {
			if name != "match" && name != "reject" && f.has(name) {
				p.errorf(f.key[name], field, "%s in a rule that rejects: a rule either rejects (match and reject only) or says what to accept", name)
			}
		}
		return r, matchOK
	}

	keyless := false
	if v, ok := f.val["signers"]; ok {
		keyless = p.signers(v, at("signers"), &r)
	} else if f.clean {
		p.errorf(n, field, "missing signers: a rule that accepts names who must have signed (or give reject: \"reason\" to refuse)")
	}
	if v, ok := f.val["trustedRoot"]; ok {
		if s, ok := p.str(v, at("trustedRoot")); ok {
			r.TrustedRoot = p.path(s)
			tr := p.trustedRoot(r.TrustedRoot)
			if tr.err != nil {
				p.wrap(v, at("trustedRoot"), tr.err)
			} else {
				r.TrustedMaterial = tr.v
			}
			if !keyless && f.has("signers") {
				p.errorf(f.key["trustedRoot"], field, "trustedRoot without a keyless signer: it is only used to verify keyless signatures")
			}
		}
	} else if keyless {
		p.errorf(f.key["signers"], field, "keyless signers need trustedRoot (a Sigstore trusted_root.json)")
	}
	if v, ok := f.val["attestations"]; ok {
		p.attestations(v, at("attestations"), &r)
	}
	if v, ok := f.val["pinDigest"]; ok {
		r.PinDigest, _ = p.boolean(v, at("pinDigest"))
	}
	if v, ok := f.val["digests"]; ok {
		items, _ := p.sequence(v, at("digests"), MaxRuleDigests)
		first := make(map[digest.Digest]int)
		for j, item := range items {
			df := fmt.Sprintf("%s[%d]", at("digests"), j)
			s, ok := p.str(item, df)
			if !ok {
				continue
			}
			d, err := digest.Parse(s)
			if err != nil {
				p.errorf(item, df, "invalid digest %q: %v (want sha256: and 64 lower-case hex digits)", s, err)
				continue
			}
			if line, dup := first[d]; dup {
				p.errorf(item, df, "duplicate digest %s (first at line %d)", d, line)
				continue
			}
			first[d] = item.Line
			r.Digests = append(r.Digests, d)
		}
	}
	if v, ok := f.val["formats"]; ok {
		r.Formats = p.formats(v, at("formats"))
	}
	if v, ok := f.val["allowUnsafe"]; ok {
		r.AllowUnsafe = p.formats(v, at("allowUnsafe"))
		if f.has("formats") && r.Formats != nil {
			for j, name := range r.AllowUnsafe {
				if !slices.Contains(r.Formats, name) {
					p.errorf(v.Content[j], fmt.Sprintf("%s[%d]", at("allowUnsafe"), j), "%q is not in the rule's formats, so it is refused before its scan matters; add it to formats or drop it here", name)
				}
			}
		}
	}
	if v, ok := f.val["allowUnscanned"]; ok {
		r.AllowUnscanned, _ = p.boolean(v, at("allowUnscanned"))
	}
	if v, ok := f.val["maxAge"]; ok {
		if s, ok := p.str(v, at("maxAge")); ok {
			d, err := policyDuration(s)
			if err != nil {
				p.wrap(v, at("maxAge"), err)
			}
			r.MaxAge = d
		}
		if !keyless && len(r.Keys) > 0 {
			p.errorf(f.key["maxAge"], field, "maxAge with only key signers: key-signed bundles carry no verified time, so every model would be refused; add a keyless signer or drop maxAge")
		}
	}
	p.transparency(f, field, &r)
	return r, matchOK
}

// transparency parses a rule's transparency, logKey and witnesses into r.
func (p *policyParser) transparency(f policyFields, field string, r *Rule) {
	at := func(name string) string { return field + "." + name }
	if v, ok := f.val["transparency"]; ok {
		if s, ok := p.str(v, at("transparency")); ok {
			if s != "required" {
				p.errorf(v, at("transparency"), "want \"required\", got %q (leave the field out not to require the log)", s)
			}
			r.Transparency = s == "required"
		}
	}
	if v, ok := f.val["logKey"]; ok {
		if s, ok := p.str(v, at("logKey")); ok {
			if _, err := note.NewVerifier(s); err != nil {
				p.errorf(v, at("logKey"), "not a note verifier key (NAME+HASH+BASE64, as GET /_cairn/tlog/verifier answers): %v", err)
			}
			r.LogKey = s
		}
	}
	if v, ok := f.val["witnesses"]; ok {
		wf, ok := p.mapping(v, at("witnesses"), "threshold", "keys")
		if ok {
			keysOK := true
			if kv, ok := wf.val["keys"]; ok {
				items, _ := p.sequence(kv, at("witnesses.keys"), MaxRuleWitnesses)
				seen := map[string]int{}
				for j, item := range items {
					kf := fmt.Sprintf("%s[%d]", at("witnesses.keys"), j)
					s, ok := p.str(item, kf)
					if !ok {
						continue
					}
					wv, err := fnote.NewVerifierForCosignatureV1(s)
					if err != nil {
						p.errorf(item, kf, "not a witness verifier key (NAME+HASH+BASE64, as cairn witness prints it): %v", err)
						continue
					}
					id := fmt.Sprintf("%s+%08x", wv.Name(), wv.KeyHash())
					if prev, dup := seen[id]; dup {
						p.errorf(item, kf, "the same witness as keys[%d]", prev)
						continue
					}
					seen[id] = j
					r.Witnesses = append(r.Witnesses, s)
				}
				keysOK = len(items) > 0 && len(r.Witnesses) == len(items)
			} else if wf.clean {
				p.errorf(v, at("witnesses"), "missing keys (the witnesses' verifier keys)")
			}
			if tv, ok := wf.val["threshold"]; ok {
				if n, ok := p.integer(tv, at("witnesses.threshold")); ok {
					if keysOK && (n < 1 || n > len(r.Witnesses)) {
						p.errorf(tv, at("witnesses.threshold"), "%d: want 1 to the number of keys (%d)", n, len(r.Witnesses))
					}
					r.WitnessThreshold = n
				}
			} else if wf.clean {
				p.errorf(v, at("witnesses"), "missing threshold (how many of the keys must have cosigned, from 1)")
			}
		}
	}
	if !r.Transparency {
		for _, name := range []string{"logKey", "witnesses"} {
			if f.has(name) {
				p.errorf(f.key[name], field, "%s without transparency: required; it is only used to check the transparency log", name)
			}
		}
	}
}

// signers parses a rule's signers into r and reports whether any is
// keyless.
func (p *policyParser) signers(n *yaml.Node, field string, r *Rule) (keyless bool) {
	items, _ := p.sequence(n, field, MaxRuleSigners)
	keyAt := make(map[string]int)
	idAt := make(map[Identity]int)
	for j, item := range items {
		sf := fmt.Sprintf("%s[%d]", field, j)
		f, ok := p.mapping(item, sf, "key", "keyless")
		if !ok {
			continue
		}
		kv, hasKey := f.val["key"]
		lv, hasKeyless := f.val["keyless"]
		keyless = keyless || hasKeyless
		switch {
		case hasKey && hasKeyless:
			p.errorf(f.key["keyless"], sf, "key and keyless in one signer; give each its own list item")
			continue
		case hasKey:
			s, ok := p.str(kv, sf+".key")
			if !ok {
				continue
			}
			path := p.path(s)
			if prev, dup := keyAt[path]; dup {
				p.errorf(kv, sf+".key", "the same key as signers[%d]", prev)
				continue
			}
			keyAt[path] = j
			k := p.key(path)
			if k.err != nil {
				p.wrap(kv, sf+".key", k.err)
				continue
			}
			r.Keys = append(r.Keys, Key{Name: path, Public: k.v})
		case hasKeyless:
			id, ok := p.keyless(lv, sf+".keyless")
			if !ok {
				continue
			}
			if prev, dup := idAt[id]; dup {
				p.errorf(lv, sf+".keyless", "the same identity as signers[%d]", prev)
				continue
			}
			idAt[id] = j
			r.Keyless = append(r.Keyless, id)
		default:
			if f.clean {
				p.errorf(item, sf, "a signer needs key (a public key file) or keyless (issuer and subject)")
			}
		}
	}
	return keyless
}

func (p *policyParser) keyless(n *yaml.Node, field string) (Identity, bool) {
	var id Identity
	f, ok := p.mapping(n, field, "issuer", "issuerRegexp", "subject", "subjectRegexp")
	if !ok {
		return id, false
	}
	good := f.clean
	var missing []string
	pick := func(exact, re string, dst, dstRe *string) {
		ev, hasExact := f.val[exact]
		rv, hasRe := f.val[re]
		switch {
		case hasExact && hasRe:
			p.errorf(f.key[re], field, "%s and %s: give one", exact, re)
			good = false
		case hasExact:
			s, ok := p.str(ev, field+"."+exact)
			*dst, good = s, good && ok
		case hasRe:
			s, ok := p.str(rv, field+"."+re)
			if ok {
				if err := policyRegexp(s); err != nil {
					p.wrap(rv, field+"."+re, err)
					ok = false
				}
			}
			*dstRe, good = s, good && ok
		default:
			missing = append(missing, exact+" or "+re)
			good = false
		}
	}
	pick("issuer", "issuerRegexp", &id.Issuer, &id.IssuerRegexp)
	pick("subject", "subjectRegexp", &id.Subject, &id.SubjectRegexp)
	if f.clean && len(missing) > 0 {
		p.errorf(n, field, "missing %s (the OIDC issuer, as https://token.actions.githubusercontent.com, and the certificate's identity: an e-mail address or a workflow URI)", strings.Join(missing, ", and "))
	}
	return id, good
}

// policyRegexp checks an issuerRegexp or subjectRegexp: RE2 syntax,
// bounded, and anchored at both ends. sigstore-go matches it anywhere in
// the value, so an unanchored expression would let "evil.example/?good"
// pass for "good".
func policyRegexp(s string) error {
	if len(s) > MaxPolicyRegexpSize {
		return fmt.Errorf("regular expression of %d bytes exceeds the %d-byte limit", len(s), MaxPolicyRegexpSize)
	}
	re, err := syntax.Parse(s, syntax.Perl)
	if err != nil {
		return fmt.Errorf("invalid regular expression: %w", err)
	}
	if _, err := regexp.Compile(s); err != nil {
		return fmt.Errorf("invalid regular expression: %w", err)
	}
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 ||
		re.Sub[0].Op != syntax.OpBeginText || re.Sub[len(re.Sub)-1].Op != syntax.OpEndText {
		return fmt.Errorf("regular expression %q is not anchored: it would match anywhere in the value; write ^(...)$", s)
	}
	return nil
}

func (p *policyParser) attestations(n *yaml.Node, field string, r *Rule) {
	items, _ := p.sequence(n, field, MaxRuleAttestations)
	typeAt := make(map[string]int)
	for j, item := range items {
		af := fmt.Sprintf("%s[%d]", field, j)
		f, ok := p.mapping(item, af, "type", "builderId")
		if !ok {
			continue
		}
		var a RequiredAttestation
		tv, ok := f.val["type"]
		if !ok {
			if f.clean {
				p.errorf(item, af, "missing type (the predicate type, as %s)", PredicateSLSAProvenance)
			}
			continue
		}
		if a.Type, ok = p.str(tv, af+".type"); !ok {
			continue
		}
		good := true
		if bv, ok := f.val["builderId"]; ok {
			a.BuilderID, good = p.str(bv, af+".builderId")
			if good && a.Type != PredicateSLSAProvenance {
				p.errorf(f.key["builderId"], af, "builderId is only checked in %s statements, not %s", PredicateSLSAProvenance, a.Type)
				good = false
			}
		}
		if prev, dup := typeAt[a.Type]; dup {
			p.errorf(tv, af+".type", "the same type as attestations[%d]", prev)
			continue
		}
		typeAt[a.Type] = j
		if good {
			r.Attestations = append(r.Attestations, a)
		}
	}
}

// formats parses a list of format names from policyFormats.
func (p *policyParser) formats(n *yaml.Node, field string) []string {
	items, _ := p.sequence(n, field, len(policyFormats))
	var out []string
	first := make(map[string]int)
	for j, item := range items {
		ff := fmt.Sprintf("%s[%d]", field, j)
		s, ok := p.str(item, ff)
		if !ok {
			continue
		}
		if !slices.Contains(policyFormats[:], s) {
			p.errorf(item, ff, "unknown format %q%s (formats are %s)", s, policySuggest(s, policyFormats[:]), strings.Join(policyFormats[:], ", "))
			continue
		}
		if line, dup := first[s]; dup {
			p.errorf(item, ff, "duplicate format %q (first at line %d)", s, line)
			continue
		}
		first[s] = item.Line
		out = append(out, s)
	}
	return out
}

// path resolves a file named in the policy against its directory.
func (p *policyParser) path(s string) string {
	if filepath.IsAbs(s) {
		return filepath.Clean(s)
	}
	return filepath.Join(p.baseDir, s)
}

func (p *policyParser) key(path string) policyLoaded[crypto.PublicKey] {
	if l, ok := p.keys[path]; ok {
		return l
	}
	pub, err := LoadPublicKey(path)
	l := policyLoaded[crypto.PublicKey]{pub, err}
	p.keys[path] = l
	return l
}

func (p *policyParser) trustedRoot(path string) policyLoaded[*root.TrustedRoot] {
	if l, ok := p.roots[path]; ok {
		return l
	}
	tr, err := LoadTrustedRoot(path)
	l := policyLoaded[*root.TrustedRoot]{tr, err}
	p.roots[path] = l
	return l
}

// policySuggest returns ` (did you mean "x"?)` for the known name closest
// to s, if one is close: the same but for case, '_' and '-', or within a
// small edit distance.
func policySuggest(s string, known []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, k := range known {
		if norm(k) == norm(s) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
		limit := 2
		if len(k) < 5 {
			limit = 1
		}
		if d := policyEditDistance(strings.ToLower(s), strings.ToLower(k)); d <= limit && d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// policyEditDistance is the Levenshtein distance of a and b, for short
// field names only (longer inputs are far from every name anyway).
func policyEditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
