package registry

import (
	"context"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry/storage"
)

// LineageIndex is the lineage of every manifest of a metadata store, read
// once from the provenance dependencies indexed at push
// (storage.Manifest.DependsOn): what GET /v2/<name>/_cairn/lineage answers
// for one digest, for all of them at once. The web UI keeps one and
// rebuilds it when manifests change. A LineageIndex is read-only once
// built and safe for concurrent use.
type LineageIndex struct {
	// from: "repo@digest" of a subject -> edges to what it was built from.
	from map[string][]LineageEdge
	// into: a dependency's digest -> edges to the models built from it.
	into map[digest.Digest][]LineageEdge
	// Attestations is the number of provenance referrers indexed.
	Attestations int
}

// NewLineageIndex reads every manifest of meta that carries dependencies.
func NewLineageIndex(ctx context.Context, meta storage.Metadata) (*LineageIndex, error) {
	ix := &LineageIndex{from: map[string][]LineageEdge{}, into: map[digest.Digest][]LineageEdge{}}
	err := meta.Manifests(ctx, func(m *storage.Manifest) error {
		ix.add(m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ix.sort()
	return ix, nil
}

// add indexes the dependencies of m, a provenance referrer: the edges the
// lineage endpoint derives from it, in both directions.
func (ix *LineageIndex) add(m *storage.Manifest) {
	if len(m.DependsOn) == 0 || m.Subject == "" {
		return
	}
	ix.Attestations++
	key := m.Repository + "@" + string(m.Subject)
	for _, dep := range m.DependsOn {
		ix.from[key] = append(ix.from[key], LineageEdge{Repository: dep.Name, Digest: dep.Digest, Role: dep.Role,
			Attestation: m.Digest, AttestationRepository: m.Repository, Pushed: m.Pushed})
		ix.into[dep.Digest] = append(ix.into[dep.Digest], LineageEdge{Repository: m.Repository, Digest: m.Subject, Role: dep.Role,
			Attestation: m.Digest, AttestationRepository: m.Repository, Pushed: m.Pushed})
	}
}

func (ix *LineageIndex) sort() {
	byTime := func(a, b LineageEdge) int {
		if c := a.Pushed.Compare(b.Pushed); c != 0 {
			return c
		}
		return strings.Compare(a.Repository+string(a.Digest), b.Repository+string(b.Digest))
	}
	for _, es := range ix.from {
		slices.SortFunc(es, byTime)
	}
	for _, es := range ix.into {
		slices.SortFunc(es, byTime)
	}
}

// Lineage returns what repo@d was built from and what was built from it,
// as the lineage endpoint does. The slices are copies.
func (ix *LineageIndex) Lineage(repo string, d digest.Digest) Lineage {
	return Lineage{
		Digest:    d,
		BuiltFrom: append([]LineageEdge{}, ix.from[repo+"@"+string(d)]...),
		BuiltInto: append([]LineageEdge{}, ix.into[d]...),
	}
}
