package lineage

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/verify/bundle"
)

// Predicate types whose dependencies are read.
const (
	PredicateSLSAProvenanceV1  = "https://slsa.dev/provenance/v1"
	PredicateSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
)

// MaxDependencies is the most dependencies read from one statement;
// further ones are ignored.
const MaxDependencies = 1000

// MaxBundleSize is the largest bundle FromBundle reads, as
// verify.MaxBundleSize.
const MaxBundleSize = bundle.MaxSize

// ErrNotProvenance is returned when a statement is well formed but is not
// SLSA provenance.
var ErrNotProvenance = errors.New("not SLSA provenance")

// Dependency is an OCI artifact a model was built from.
type Dependency struct {
	// Name is HOST/REPO, as the provenance wrote it.
	Name string `json:"name"`
	// Digest is the artifact's manifest digest.
	Digest digest.Digest `json:"digest"`
	// URI is the descriptor's uri, as written.
	URI string `json:"uri"`
	// Role is the descriptor's name field ("dataset", "base-model"...),
	// when the provenance gives one.
	Role string `json:"role,omitempty"`
}

// Reference returns the dependency as NAME@DIGEST.
func (d Dependency) Reference() string { return d.Name + "@" + d.Digest.String() }

type resourceDescriptor struct {
	URI    string            `json:"uri"`
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

type statement struct {
	PredicateType string `json:"predicateType"`
	Predicate     struct {
		BuildDefinition struct {
			ResolvedDependencies []resourceDescriptor `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		Materials []resourceDescriptor `json:"materials"` // v0.2
	} `json:"predicate"`
}

// FromStatement returns the OCI dependencies of an in-toto statement's
// SLSA provenance predicate, in the order written, without duplicates. A
// statement of another predicate type gives ErrNotProvenance.
func FromStatement(data []byte) ([]Dependency, error) {
	var st statement
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("statement: %w", err)
	}
	var rds []resourceDescriptor
	switch st.PredicateType {
	case PredicateSLSAProvenanceV1:
		rds = st.Predicate.BuildDefinition.ResolvedDependencies
	case PredicateSLSAProvenanceV02:
		rds = st.Predicate.Materials
	default:
		return nil, fmt.Errorf("predicate type %q: %w", st.PredicateType, ErrNotProvenance)
	}
	var out []Dependency
	seen := map[string]bool{}
	for i, rd := range rds {
		if i >= MaxDependencies {
			break
		}
		d, ok := parse(rd)
		if !ok || seen[d.Reference()] {
			continue
		}
		seen[d.Reference()] = true
		out = append(out, d)
	}
	return out, nil
}

// FromBundle returns the OCI dependencies of the statement inside a
// Sigstore bundle's DSSE envelope, without verifying its signature.
func FromBundle(data []byte) ([]Dependency, error) {
	if len(data) > MaxBundleSize {
		return nil, fmt.Errorf("bundle of %d bytes exceeds %d", len(data), MaxBundleSize)
	}
	var b struct {
		DSSEEnvelope *struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if b.DSSEEnvelope == nil {
		return nil, errors.New("bundle holds no DSSE envelope")
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return nil, fmt.Errorf("bundle payload: %w", err)
	}
	return FromStatement(payload)
}

// parse recognises an OCI artifact among resource descriptors.
func parse(rd resourceDescriptor) (Dependency, bool) {
	name, uriDigest, ok := ociName(rd.URI)
	if !ok {
		return Dependency{}, false
	}
	d := Dependency{Name: name, URI: rd.URI, Role: rd.Name}
	for _, alg := range []string{"sha256", "sha512"} {
		if hex, ok := rd.Digest[alg]; ok {
			d.Digest = digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
			break
		}
	}
	if d.Digest == "" {
		d.Digest = uriDigest
	}
	if d.Digest.Validate() != nil {
		return Dependency{}, false
	}
	if uriDigest != "" && uriDigest != d.Digest {
		return Dependency{}, false // the uri and the digest disagree: not a usable edge
	}
	return d, true
}

// ociName returns HOST/REPO and the digest, if any, of an OCI uri.
func ociName(uri string) (string, digest.Digest, bool) {
	var ref string
	switch {
	case strings.HasPrefix(uri, "oci://"):
		ref = strings.TrimPrefix(uri, "oci://")
	case strings.HasPrefix(uri, "pkg:oci/"):
		u, err := url.Parse(uri)
		if err != nil {
			return "", "", false
		}
		repo := u.Query().Get("repository_url")
		if repo == "" {
			return "", "", false
		}
		ref = repo
		if _, ver, ok := strings.Cut(u.Opaque, "@"); ok {
			ver, err = url.PathUnescape(ver)
			if err != nil {
				return "", "", false
			}
			ref += "@" + ver
		}
	case strings.Contains(uri, "://"), strings.HasPrefix(uri, "pkg:"), strings.HasPrefix(uri, "git+"):
		return "", "", false
	default:
		if !strings.Contains(uri, "@") {
			return "", "", false // a bare name is too ambiguous to be an OCI artifact
		}
		ref = uri
	}
	name, dg, _ := strings.Cut(ref, "@")
	// Drop a tag: the last ':' after the last '/'.
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	if name == "" || !strings.Contains(name, "/") || strings.ContainsAny(name, " \t\n") {
		return "", "", false
	}
	var d digest.Digest
	if dg != "" {
		d = digest.Digest(dg)
		if d.Validate() != nil {
			return "", "", false
		}
	}
	return name, d, true
}
