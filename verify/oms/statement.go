package oms

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"cairn.dev/cairn/verify"
)

// Names of an OMS v1.0 signature's statement and envelope.
const (
	// StatementType is the in-toto statement type.
	StatementType = "https://in-toto.io/Statement/v1"
	// PredicateType is the OMS v1.0 predicate type.
	PredicateType = "https://model_signing/signature/v1.0"
	// PredicateTypeV01 is the predicate type of model_signing v0.2
	// signatures, whose subjects are the files themselves.
	PredicateTypeV01 = "https://model_signing/Digests/v0.1"
	// PayloadType is the DSSE payload type of the statement.
	PayloadType = "application/vnd.in-toto+json"
)

// Limits on what ParseStatement and Serialize accept. A statement is also
// bounded by the bundle it comes in (verify.MaxBundleSize).
const (
	// MaxResources is the most resources (files or shards) a statement
	// may list, and the most files Serialize hashes. At about 130 bytes a
	// resource, base64 in a bundle, 2^15 resources are close to 6 MiB,
	// which a bundle cannot hold anyway.
	MaxResources = 1 << 15
	// MaxPathLength is the longest resource name or ignore path, in bytes
	// (Linux's PATH_MAX).
	MaxPathLength = 4096
	// MaxIgnorePaths is the most ignore paths a statement may record.
	MaxIgnorePaths = 1024
	// maxShardSize bounds shard_size to integers a JSON number (a float64)
	// holds exactly.
	maxShardSize = 1 << 53
)

// Statement returns the in-toto statement that an OMS signature signs for
// m: one subject named m.Name whose sha256 is m.Digest(), predicate type
// PredicateType, and the predicate {"serialization": ..., "resources":
// [...]} with the resources in m's order, as the reference implementation
// writes it.
func (m *Manifest) Statement() ([]byte, error) {
	if m.legacy {
		return nil, fmt.Errorf("statement: a v0.2 manifest cannot be signed again")
	}
	type subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	type serialization struct {
		Method        string   `json:"method"`
		HashType      string   `json:"hash_type"`
		AllowSymlinks bool     `json:"allow_symlinks"`
		ShardSize     int64    `json:"shard_size,omitempty"`
		IgnorePaths   []string `json:"ignore_paths,omitempty"`
	}
	type resource struct {
		Name      string `json:"name"`
		Algorithm string `json:"algorithm"`
		Digest    string `json:"digest"`
	}
	type predicate struct {
		Serialization serialization `json:"serialization"`
		Resources     []resource    `json:"resources"`
	}
	s := m.Serialization
	ser := serialization{Method: s.method(), HashType: s.hashType(), AllowSymlinks: s.AllowSymlinks, IgnorePaths: s.IgnorePaths}
	if ser.Method == MethodShards {
		ser.ShardSize = s.ShardSize
	}
	res := make([]resource, len(m.Resources))
	for i, r := range m.Resources {
		res[i] = resource{Name: r.Name, Algorithm: r.Algorithm, Digest: hex.EncodeToString(r.Digest)}
	}
	st := struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     predicate `json:"predicate"`
	}{
		Type:          StatementType,
		Subject:       []subject{{Name: m.Name, Digest: map[string]string{"sha256": hex.EncodeToString(m.Digest())}}},
		PredicateType: PredicateType,
		Predicate:     predicate{Serialization: ser, Resources: res},
	}
	return json.Marshal(st)
}

// object is a JSON object whose keys are matched exactly (encoding/json
// matches struct fields case-insensitively, which a second reader of the
// same statement would not).
type object map[string]json.RawMessage

func parseObject(raw json.RawMessage, what string) (object, error) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, malformed("%s is not a JSON object", what)
	}
	return o, nil
}

func (o object) get(key, what string, v any) error {
	raw, ok := o[key]
	if !ok {
		return malformed("%s has no %q", what, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return malformed("%s: %q is not a %s", what, key, typeName(v))
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case *string:
		return "string"
	case *bool:
		return "boolean"
	case *[]json.RawMessage, *[]string:
		return "list"
	case *json.Number:
		return "number"
	case *object:
		return "JSON object"
	}
	return "value of the right type"
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ParseStatement decodes the in-toto statement of an OMS signature (the
// DSSE payload) into the manifest it signs, checking its structure and
// limits: type StatementType, predicate type PredicateType (or
// PredicateTypeV01, the v0.2 format), one subject whose sha256 is the
// digest of the resources, a known serialization method, resources with
// valid, unique names and hex digests. Fields that v1.0 does not define
// are ignored, as the format asks. It does not check any signature.
// Errors wrap ErrMalformed (or ErrTooMany, with ErrMalformed).
func ParseStatement(data []byte) (*Manifest, error) {
	if len(data) > verify.MaxBundleSize {
		return nil, malformed("statement of %d bytes exceeds the %d-byte limit", len(data), verify.MaxBundleSize)
	}
	st, err := parseObject(data, "statement")
	if err != nil {
		return nil, err
	}
	var typ, pt string
	if err := st.get("_type", "statement", &typ); err != nil {
		return nil, err
	}
	if typ != StatementType {
		return nil, malformed("statement type %q, want %q", typ, StatementType)
	}
	if err := st.get("predicateType", "statement", &pt); err != nil {
		return nil, err
	}
	var subjects []json.RawMessage
	if err := st.get("subject", "statement", &subjects); err != nil {
		return nil, err
	}
	switch pt {
	case PredicateType:
	case PredicateTypeV01:
		return parseV01(subjects)
	default:
		return nil, malformed("predicate type %q, want %q", pt, PredicateType)
	}
	if len(subjects) != 1 {
		return nil, malformed("%d subjects, want 1", len(subjects))
	}
	subj, err := parseObject(subjects[0], "subject")
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if raw, ok := subj["name"]; ok {
		if json.Unmarshal(raw, &m.Name) != nil {
			return nil, malformed("subject name is not a string")
		}
	}
	var sd object
	if err := subj.get("digest", "subject", &sd); err != nil {
		return nil, err
	}
	var subjectHex string
	if err := sd.get("sha256", "subject digest", &subjectHex); err != nil {
		return nil, err
	}
	subjectDigest, err := hex.DecodeString(subjectHex)
	if err != nil || len(subjectDigest) != 32 {
		return nil, malformed("subject sha256 %q is not 64 hex digits", truncate(subjectHex))
	}

	var pred object
	if err := st.get("predicate", "statement", &pred); err != nil {
		return nil, err
	}
	if pred == nil {
		return nil, malformed("predicate is not a JSON object")
	}
	var serRaw json.RawMessage
	if err := pred.get("serialization", "predicate", &serRaw); err != nil {
		return nil, err
	}
	if m.Serialization, err = parseSerialization(serRaw); err != nil {
		return nil, err
	}
	var resources []json.RawMessage
	if err := pred.get("resources", "predicate", &resources); err != nil {
		return nil, err
	}
	if len(resources) > MaxResources {
		return nil, fmt.Errorf("%w: %w: %d resources, more than %d", ErrMalformed, ErrTooMany, len(resources), MaxResources)
	}
	algorithm := m.Serialization.algorithm()
	m.Resources = make([]Resource, 0, len(resources))
	names := make(map[string]bool, len(resources))
	for i, raw := range resources {
		what := "resource " + strconv.Itoa(i+1)
		o, err := parseObject(raw, what)
		if err != nil {
			return nil, err
		}
		var r Resource
		var dhex string
		if err := o.get("name", what, &r.Name); err != nil {
			return nil, err
		}
		what = fmt.Sprintf("resource %q", truncate(r.Name))
		if err := o.get("algorithm", what, &r.Algorithm); err != nil {
			return nil, err
		}
		if err := o.get("digest", what, &dhex); err != nil {
			return nil, err
		}
		if err := m.Serialization.checkName(r.Name); err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, malformed("%s is listed twice", what)
		}
		names[r.Name] = true
		if r.Algorithm != algorithm {
			return nil, malformed("%s: algorithm %q, want %q (from the serialization)", what, truncate(r.Algorithm), algorithm)
		}
		if r.Digest, err = hex.DecodeString(dhex); err != nil || len(r.Digest) == 0 || len(r.Digest) > 64 {
			return nil, malformed("%s: digest %q is not hex", what, truncate(dhex))
		}
		if m.Serialization.hashType() == HashSHA256 && len(r.Digest) != 32 {
			return nil, malformed("%s: sha256 digest of %d bytes, want 32", what, len(r.Digest))
		}
		m.Resources = append(m.Resources, r)
	}
	if names["."] && len(m.Resources) != 1 {
		return nil, malformed(`resource "." (a single-file model) alongside %d others`, len(m.Resources)-1)
	}
	if got := m.Digest(); hex.EncodeToString(got) != hex.EncodeToString(subjectDigest) {
		return nil, malformed("subject sha256 %x is not the digest of the resources, %x", subjectDigest, got)
	}
	return m, nil
}

func parseSerialization(raw json.RawMessage) (Serialization, error) {
	var s Serialization
	o, err := parseObject(raw, "serialization")
	if err != nil {
		return s, err
	}
	if err := o.get("method", "serialization", &s.Method); err != nil {
		return s, err
	}
	if err := o.get("hash_type", "serialization", &s.HashType); err != nil {
		return s, err
	}
	if s.HashType == "" || len(s.HashType) > 64 || strings.ContainsFunc(s.HashType, func(r rune) bool { return r <= ' ' || r == ':' || r > '~' }) {
		return s, malformed("serialization: hash_type %q is not a hash name", truncate(s.HashType))
	}
	if err := o.get("allow_symlinks", "serialization", &s.AllowSymlinks); err != nil {
		return s, err
	}
	switch s.Method {
	case MethodFiles:
	case MethodShards:
		var n json.Number
		if err := o.get("shard_size", "serialization", &n); err != nil {
			return s, err
		}
		if raw := o["shard_size"]; len(raw) == 0 || raw[0] == '"' {
			return s, malformed("serialization: shard_size is not a number")
		}
		f, err := strconv.ParseFloat(n.String(), 64)
		if err != nil || f != math.Trunc(f) || f < 1 || f > maxShardSize {
			return s, malformed("serialization: shard_size %s is not a whole number of bytes from 1 to 2^53", truncate(n.String()))
		}
		s.ShardSize = int64(f)
	default:
		return s, malformed("serialization method %q, want %q or %q", truncate(s.Method), MethodFiles, MethodShards)
	}
	if raw, ok := o["ignore_paths"]; ok {
		var paths []string
		if json.Unmarshal(raw, &paths) != nil {
			return s, malformed("serialization: ignore_paths is not a list of strings")
		}
		if len(paths) > MaxIgnorePaths {
			return s, fmt.Errorf("%w: %w: %d ignore paths, more than %d", ErrMalformed, ErrTooMany, len(paths), MaxIgnorePaths)
		}
		for _, p := range paths {
			if len(p) > MaxPathLength {
				return s, fmt.Errorf("%w: %w: ignore path of %d bytes, longer than %d", ErrMalformed, ErrTooMany, len(p), MaxPathLength)
			}
		}
		s.IgnorePaths = paths
	}
	return s, nil
}

// checkName checks a resource name against the serialization: a valid
// relative slash path (or "." for a single file), for shards followed by
// :start:end with 0 <= start < end and end-start at most the shard size.
func (s Serialization) checkName(name string) error {
	if len(name) > MaxPathLength+42 {
		return fmt.Errorf("%w: %w: resource name of %d bytes, longer than %d", ErrMalformed, ErrTooMany, len(name), MaxPathLength)
	}
	p := name
	if s.method() == MethodShards {
		rest, end, ok1 := cutLast(name, ":")
		path, start, ok2 := cutLast(rest, ":")
		a, err1 := strconv.ParseInt(start, 10, 64)
		b, err2 := strconv.ParseInt(end, 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || a < 0 || b <= a || b-a > s.ShardSize || strconv.FormatInt(a, 10) != start || strconv.FormatInt(b, 10) != end {
			return malformed("resource %q is not a shard path:start:end within shard_size %d", truncate(name), s.ShardSize)
		}
		p = path
	}
	if !validPath(p) {
		return malformed("resource %q is not a relative slash path inside the model", truncate(name))
	}
	return nil
}

// validPath reports whether p is "." or a relative slash path with no
// empty, "." or ".." elements, valid UTF-8 without NUL, of at most
// MaxPathLength bytes.
func validPath(p string) bool {
	return len(p) <= MaxPathLength && fs.ValidPath(p) && utf8.ValidString(p) && !strings.ContainsRune(p, 0)
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// truncate shortens untrusted text for an error message.
func truncate(s string) string {
	const n = 120
	if len(s) <= n {
		return s
	}
	for i := n; i > n-4; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i] + "..."
		}
	}
	return s[:n] + "..."
}

// parseV01 reads a v0.2 statement (PredicateTypeV01): each subject is a
// file with its sha256; the serialization is files, sha256, no symlinks.
func parseV01(subjects []json.RawMessage) (*Manifest, error) {
	if len(subjects) > MaxResources {
		return nil, fmt.Errorf("%w: %w: %d subjects, more than %d", ErrMalformed, ErrTooMany, len(subjects), MaxResources)
	}
	m := &Manifest{Name: "compat-undefined-not-present", Serialization: Serialization{Method: MethodFiles, HashType: HashSHA256}, legacy: true}
	names := make(map[string]bool, len(subjects))
	for i, raw := range subjects {
		what := "subject " + strconv.Itoa(i+1)
		o, err := parseObject(raw, what)
		if err != nil {
			return nil, err
		}
		var r Resource
		if err := o.get("name", what, &r.Name); err != nil {
			return nil, err
		}
		if err := m.Serialization.checkName(r.Name); err != nil {
			return nil, err
		}
		if names[r.Name] {
			return nil, malformed("subject %q is listed twice", truncate(r.Name))
		}
		names[r.Name] = true
		var d object
		var dhex string
		if err := o.get("digest", what, &d); err != nil {
			return nil, err
		}
		if err := d.get("sha256", what+" digest", &dhex); err != nil {
			return nil, err
		}
		if r.Digest, err = hex.DecodeString(dhex); err != nil || len(r.Digest) != 32 {
			return nil, malformed("subject %q: sha256 %q is not 64 hex digits", truncate(r.Name), truncate(dhex))
		}
		r.Algorithm = HashSHA256
		m.Resources = append(m.Resources, r)
	}
	return m, nil
}

// Legacy reports whether m comes from a v0.2 statement (PredicateTypeV01).
func (m *Manifest) Legacy() bool { return m.legacy }

// sortedUnique returns paths sorted and without repeats.
func sortedUnique(paths []string) []string {
	out := slices.Clone(paths)
	slices.SortFunc(out, ComparePaths)
	return slices.Compact(out)
}
