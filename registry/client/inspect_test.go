package client_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"cairn.dev/cairn/registry"
	"cairn.dev/cairn/registry/client"
	"cairn.dev/cairn/registry/registrytest"
	"cairn.dev/cairn/verify"
	"cairn.dev/cairn/verify/model"
)

// pushManifest pushes a manifest whose one layer has the given media type
// and annotations, and tags it.
func pushManifest(t *testing.T, repo *client.Repository, tag, layerType string, annotations map[string]string) {
	t.Helper()
	ctx := t.Context()
	layer := []byte("payload")
	ld := content.NewDescriptorFromBytes(layerType, layer)
	ld.Annotations = annotations
	config := []byte(`{}`)
	cd := content.NewDescriptorFromBytes(model.MediaTypeConfig, config)
	for _, b := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{ld, layer}, {cd, config}} {
		if err := repo.Repo.Push(ctx, b.d, strings.NewReader(string(b.b))); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, ArtifactType: model.ArtifactTypeModel,
		Config: cd, Layers: []ocispec.Descriptor{ld},
	})
	if _, err := oras.TagBytes(ctx, repo.Repo, ocispec.MediaTypeImageManifest, m, tag); err != nil {
		t.Fatal(err)
	}
}

// TestInspect_NotAModel checks that a manifest a model reader refuses (a
// layer whose path leaves the model, a layer type no model has) is a
// refusal for Inspect and Diff, naming the reference, and that a good
// model beside it still inspects.
func TestInspect_NotAModel(t *testing.T) {
	srv := registrytest.NewServer(t, registry.Config{})
	open := func(ref string) *client.Repository {
		r, err := client.Open(srv.Host+"/models/m:"+ref, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	pushManifest(t, open("escape"), "escape", model.MediaTypeWeightRaw, map[string]string{model.AnnotationFilepath: "../outside.bin"})
	pushManifest(t, open("foreign"), "foreign", "application/x-not-a-model-layer", map[string]string{ocispec.AnnotationTitle: "x"})
	pushManifest(t, open("good"), "good", model.MediaTypeWeightRaw, map[string]string{model.AnnotationFilepath: "weights.bin"})

	for _, tag := range []string{"escape", "foreign"} {
		t.Run(tag, func(t *testing.T) {
			_, err := client.Inspect(t.Context(), open(tag), client.InspectOptions{})
			var me *client.ModelError
			if !errors.As(err, &me) || !errors.Is(err, verify.ErrVerification) || !strings.HasPrefix(err.Error(), srv.Host+"/models/m:"+tag+": ") {
				t.Errorf("Inspect: %v, want a *ModelError naming the reference", err)
			}
			if _, err := client.Diff(t.Context(), open("good"), open(tag)); !errors.As(err, &me) {
				t.Errorf("Diff: %v, want a *ModelError", err)
			}
		})
	}
	res, err := client.Inspect(t.Context(), open("good"), client.InspectOptions{})
	if err != nil || len(res.Files) != 1 || res.Files[0].Path != "weights.bin" || res.Files[0].Digest != digest.FromString("payload") {
		t.Fatalf("Inspect of the good model: %+v, %v", res, err)
	}
}
