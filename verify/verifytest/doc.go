// Package verifytest provides test doubles of the Sigstore services that
// cairn does not own: a Fulcio CA, a Rekor log and a timestamp authority,
// all in memory on top of sigstore-go's pkg/testing/ca VirtualSigstore, so
// that keyless signing and verification are tested offline with real
// certificates, log entries and timestamps. Only tests import it.
package verifytest
