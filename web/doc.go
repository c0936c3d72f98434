// Package web is the browser UI that cairn serve mounts at / beside the
// registry API: repositories, versions and tag history, signatures,
// provenance and the access log. It is the only package that imports echo.
//
// The package is filled by the web UI issue; it exists now to fix the
// layout.
package web
