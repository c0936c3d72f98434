package model_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"cairn.dev/cairn/verify/model"
	"github.com/opencontainers/go-digest"
)

// Pack a directory: Scan, hash every entry, Build. Then read the manifest
// back as a puller does.
func Example() {
	dir, err := os.MkdirTemp("", "model")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for name, content := range map[string]string{
		"model.safetensors": "\x02\x00\x00\x00\x00\x00\x00\x00{}",
		"config.json":       `{"architectures":["BertModel"],"model_type":"bert","torch_dtype":"float32"}`,
		"README.md":         "# example\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	entries, err := model.Scan(dir, model.ScanOptions{})
	if err != nil {
		log.Fatal(err)
	}
	digests := make([]digest.Digest, len(entries))
	for i, e := range entries {
		rc, err := e.Open()
		if err != nil {
			log.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			log.Fatal(err)
		}
		rc.Close()
		digests[i] = digest.NewDigest(digest.SHA256, h)
	}
	config, manifest, err := model.Build(entries, digests, model.BuildOptions{Name: "example"})
	if err != nil {
		log.Fatal(err)
	}
	var cfg model.Config
	if err := json.Unmarshal(config, &cfg); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v %+v\n", cfg.Descriptor, cfg.Config)

	artifactType, files, err := model.Files(manifest)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(artifactType)
	for _, f := range files {
		fmt.Println(f.Path, f.Kind, f.Desc.MediaType)
	}
	// Output:
	// {Name:example Version: Family:bert} {Architecture:BertModel Format:safetensors ParamSize: Precision:float32 Quantization:}
	// application/vnd.cncf.model.manifest.v1+json
	// README.md doc application/vnd.cncf.model.doc.v1.raw
	// config.json weight.config application/vnd.cncf.model.weight.config.v1.raw
	// model.safetensors weight application/vnd.cncf.model.weight.v1.raw
}
