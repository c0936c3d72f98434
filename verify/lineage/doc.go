// Package lineage reads what a model was built from out of SLSA provenance:
// the resolvedDependencies of a provenance v1 predicate (and the materials
// of v0.2) that name OCI artifacts, such as the datasets and the base model
// of a fine-tune. Those edges, followed both ways, are the lineage graph
// that `cairn inspect` and the web UI draw.
//
// An OCI dependency is a resource descriptor whose uri is one of
//
//	oci://HOST/REPO[:TAG][@ALG:HEX]
//	pkg:oci/NAME[@ALG:HEX]?repository_url=HOST/REPO   (package URL)
//	HOST/REPO[:TAG]@ALG:HEX                           (docker-style)
//
// with its digest taken from the descriptor's digest map (sha256 or
// sha512) or, failing that, from the uri. Other dependencies (git
// commits, files) are not lineage and are left out.
//
// The package reads bytes and never verifies signatures: FromBundle is for
// indexing (the registry records edges when an attestation is pushed) and
// says nothing about who made the claim; callers that show lineage as
// trusted verify the bundle first (package verify) and use FromStatement
// on the verified statement. Inputs are bounded by MaxDependencies and
// MaxBundleSize.
package lineage
