package registry_test

import (
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/registrytest"
)

// TestLineageIndex checks that the index the web UI keeps answers what
// the lineage endpoint answers, for every manifest.
func TestLineageIndex(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	host := srv.Host
	data := pushArtifact(t, srv, "datasets/chat", "v1", map[string][]byte{"train.jsonl": []byte("{}")}, nil)
	base := pushArtifact(t, srv, "models/base", "v1", map[string][]byte{"w.bin": []byte("base")}, nil)
	tuned := pushArtifact(t, srv, "models/tuned", "v1", map[string][]byte{"w.bin": []byte("tuned")}, nil)
	attachProvenance(t, srv, "models/base", base, host+"/datasets/chat@"+data.Digest.String())
	attachProvenance(t, srv, "models/tuned", tuned, host+"/models/base@"+base.Digest.String(), host+"/datasets/chat@"+data.Digest.String())
	attachProvenance(t, srv, "models/tuned", tuned)

	ix, err := registry.NewLineageIndex(t.Context(), srv.Meta)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Attestations != 2 {
		t.Errorf("%d attestations indexed, want 2", ix.Attestations)
	}
	for _, c := range []struct {
		repo string
		d    digest.Digest
	}{{"datasets/chat", data.Digest}, {"models/base", base.Digest}, {"models/tuned", tuned.Digest}} {
		_, want, body := getLineage(t, srv, c.repo, c.d.String())
		got := ix.Lineage(c.repo, c.d)
		for _, l := range []*registry.Lineage{&want, &got} {
			for _, es := range [][]registry.LineageEdge{l.BuiltFrom, l.BuiltInto} {
				for i := range es {
					es[i].Pushed = es[i].Pushed.UTC()
				}
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s@%s:\nindex    %+v\nendpoint %+v (%s)", c.repo, c.d, got, want, body)
		}
	}
}
