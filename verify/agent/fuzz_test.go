package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadDir feeds arbitrary records to what reads DIR/.cairn, which a
// directory's owner controls: no panic, and nothing read is trusted unless
// its digest matches (LoadDir computes the manifest's digest itself).
func FuzzLoadDir(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.model.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`),
		[]byte(`{}`), []byte(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}]}`))
	f.Add([]byte(`{`), []byte(``), []byte(`{"manifests":null}`))
	f.Fuzz(func(t *testing.T, manifest, config, referrers []byte) {
		dir := t.TempDir()
		meta := filepath.Join(dir, MetaDir)
		os.MkdirAll(filepath.Join(meta, referrersDir), 0o755)
		os.WriteFile(filepath.Join(meta, manifestFile), manifest, 0o644)
		os.WriteFile(filepath.Join(meta, configFile), config, 0o644)
		os.WriteFile(filepath.Join(meta, referrersFile), referrers, 0o644)
		os.WriteFile(filepath.Join(meta, referrersDir, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a.json"), config, 0o644)
		tg, _, err := LoadDir(t.Context(), dir)
		if err == nil && tg.Desc.Size != int64(len(manifest)) {
			t.Fatalf("manifest size %d, read %d bytes", tg.Desc.Size, len(manifest))
		}
		checkMeta(dir)
	})
}
