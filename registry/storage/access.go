package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// Actions recorded in the access log.
const (
	ActionPull       = "pull"    // a manifest fetched (GET)
	ActionPush       = "push"    // a manifest stored
	ActionDelete     = "delete"  // a manifest, tag or blob deleted
	ActionCatalog    = "catalog" // the repository list read
	ActionLogin      = "login"   // credentials exchanged for a token (ok or refused)
	ActionToken      = "token"   // an API token used, created or revoked
	ActionDenied     = "denied"  // a request refused for want of a permission
	ActionAdmin      = "admin"   // users, grants, quarantine changed
	ActionQuarantine = "quarantine"
	// ActionPrune is written by the store itself when retention removes
	// records: Reference is the new anchor's seq and Digest its hash as
	// "sha256:<hex>". AppendAccess refuses it from callers.
	ActionPrune = "prune"
	// ActionDropped is written by a recorder that could not keep up or could
	// not write: Detail says how many records were lost.
	ActionDropped = "dropped"
	// ActionDownload is a pull that fetched content: a layer GET that
	// followed a manifest GET (a "pull" record) of the same repository by
	// the same principal and address within accesslog.DownloadWindow, one
	// record per manifest GET. Pull counts count these only, so reading a
	// manifest (cairn tag, cairn inspect, a HEAD, cairn ls) is not a pull.
	ActionDownload = "download"
)

// Results recorded in the access log.
const (
	ResultOK      = "ok"
	ResultDenied  = "denied"  // authenticated or anonymous, but not allowed
	ResultRefused = "refused" // wrong credentials, throttled, quarantined, policy
	ResultFailed  = "failed"  // the request failed for another reason
)

// AccessRecord is one entry of the access log. The log is a hash chain:
// Hash is SHA-256 over Prev and the record's other fields, and Prev is
// the Hash of the record before (the anchor after retention pruned older
// records), so an edited or removed record breaks the chain from there on.
type AccessRecord struct {
	// Seq numbers records from 1 in the order appended; set by the store.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Principal is the user name, "token:<id>" for an API token, or
	// "anonymous".
	Principal string `json:"principal"`
	// Address is the client's IP address.
	Address    string        `json:"address"`
	Action     string        `json:"action"`
	Repository string        `json:"repository,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	// Reference is the tag or digest the request named, when it did.
	Reference string `json:"reference,omitempty"`
	Result    string `json:"result"`
	// Status is the HTTP status answered, when there was a request.
	Status int `json:"status,omitempty"`
	// Detail says more: why a request was refused, which scope was asked.
	Detail string `json:"detail,omitempty"`
	// Prev and Hash are hex SHA-256 values set by the store.
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// AccessFilter selects access records. Zero fields match everything.
type AccessFilter struct {
	Repository string
	Principal  string
	Action     string
	Result     string
	// Before, when not zero, returns only records with Seq < Before (for
	// paging newest first).
	Before uint64
	// Limit, when > 0, is the most records returned.
	Limit int
}

// PrincipalSystem is the principal of records the registry writes about
// itself (prune, dropped).
const PrincipalSystem = "cairn"

// AccessGenesis is the anchor of a log that was never pruned: the Prev of
// record 1.
const AccessGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxAccessField is the longest string field (in bytes) of an access
// record; stores refuse longer ones and recorders truncate.
const MaxAccessField = 4096

// accessMagic starts encoding version 1.
const accessMagic = "CAL1"

// ErrAccessRecordInvalid means a record cannot be stored: a field too long
// or not UTF-8, a time out of range, a reserved action, or (when decoding)
// bytes that are not an encoded record.
var ErrAccessRecordInvalid = errors.New("invalid access record")

// ErrAccessChainBroken means the access log's hash chain does not verify:
// a record was edited, removed, reordered or the anchor or head changed.
var ErrAccessChainBroken = errors.New("access log chain broken")

// AccessLog is the append-only audit log, a hash chain. Implemented by
// meta.DB (and later PostgreSQL); storagetest.TestAccessLog is its
// conformance suite.
type AccessLog interface {
	// AppendAccess appends recs in one transaction, in order, assigning
	// Seq, Prev and Hash (and Time, when zero); it returns them as stored.
	// A record it refuses (ErrAccessRecordInvalid) fails the whole call.
	AppendAccess(ctx context.Context, recs ...AccessRecord) ([]AccessRecord, error)
	// Access calls fn for the records f selects, newest first. fn is not
	// called inside a transaction; records appended meanwhile are not
	// shown. An error from fn stops the walk and is returned.
	Access(ctx context.Context, f AccessFilter, fn func(AccessRecord) error) error
	// VerifyAccess re-computes the chain from the anchor to the head and
	// reports the first break in the state (not as an error); the error is
	// for a log that could not be read.
	VerifyAccess(ctx context.Context) (AccessChainState, error)
	// PruneAccess removes the oldest records while their Time is before
	// before, keeping the chain verifiable: the last removed record becomes
	// the anchor, and a record with ActionPrune naming it is appended. It
	// refuses (ErrAccessChainBroken) to remove records that do not verify,
	// so retention never launders an edit. It returns how many it removed.
	PruneAccess(ctx context.Context, before time.Time) (int, error)
}

// AccessChainState is the result of verifying an access log.
type AccessChainState struct {
	// OK is true when the chain verified from the anchor to the head.
	OK bool `json:"ok"`
	// Records is the number of records checked (up to the break).
	Records int `json:"records"`
	// First and Last are the seqs of the oldest and newest record kept
	// (zero for an empty log).
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	// HeadSeq and Head are what the store's head key holds: the seq and
	// hash of the newest record ever appended. Export them: a copy kept
	// elsewhere is what proves a later rewrite of the whole log.
	HeadSeq uint64 `json:"headSeq"`
	Head    string `json:"head"`
	// AnchorSeq and Anchor are the seq and hash of the last record removed
	// by retention (0 and AccessGenesis when none was).
	AnchorSeq uint64 `json:"anchorSeq"`
	Anchor    string `json:"anchor"`
	// Break, when OK is false, is the first problem found.
	Break *AccessBreak `json:"break,omitempty"`
}

// AccessBreak is where and how an access log's chain is broken.
type AccessBreak struct {
	// Seq is the record the problem is found at: the edited record, the
	// first missing one, or the one whose Prev does not match.
	Seq uint64 `json:"seq"`
	// Problem says what is wrong, for people.
	Problem string `json:"problem"`
}

// Err returns nil for an intact chain and otherwise an error wrapping
// ErrAccessChainBroken that names the seq.
func (s AccessChainState) Err() error {
	if s.OK {
		return nil
	}
	if s.Break == nil {
		return ErrAccessChainBroken
	}
	return fmt.Errorf("%w at record %d: %s", ErrAccessChainBroken, s.Break.Seq, s.Break.Problem)
}

// Match reports whether r passes f's field filters (Before and Limit are
// not looked at).
func (f *AccessFilter) Match(r *AccessRecord) bool {
	return (f.Repository == "" || f.Repository == r.Repository) &&
		(f.Principal == "" || f.Principal == r.Principal) &&
		(f.Action == "" || f.Action == r.Action) &&
		(f.Result == "" || f.Result == r.Result)
}

// ValidateAccessRecord checks what EncodeAccessRecord needs except Prev:
// every string field valid UTF-8 of at most MaxAccessField bytes, Time in
// the years 1 to 9999 (what JSON can carry), Status from 0 to 999 and an
// Action.
func ValidateAccessRecord(r *AccessRecord) error {
	if r.Action == "" {
		return fmt.Errorf("%w: no action", ErrAccessRecordInvalid)
	}
	for _, f := range r.stringFields() {
		if len(f) > MaxAccessField {
			return fmt.Errorf("%w: a field of %d bytes (at most %d)", ErrAccessRecordInvalid, len(f), MaxAccessField)
		}
		if !utf8.ValidString(f) {
			return fmt.Errorf("%w: a field is not UTF-8", ErrAccessRecordInvalid)
		}
	}
	if y := r.Time.Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%w: time %v out of range", ErrAccessRecordInvalid, r.Time)
	}
	if r.Status < 0 || r.Status > 999 {
		return fmt.Errorf("%w: status %d", ErrAccessRecordInvalid, r.Status)
	}
	return nil
}

// stringFields are the string fields in the order of the encoding.
func (r *AccessRecord) stringFields() [8]string {
	return [8]string{r.Principal, r.Address, r.Action, r.Repository, string(r.Digest), r.Reference, r.Result, r.Detail}
}

// EncodeAccessRecord returns the canonical encoding (version 1) of r that
// the chain hashes: Hash = hex(SHA-256(encoding)). Every field but Hash is
// in it, Prev first:
//
//	"CAL1"                    4 bytes: magic and encoding version
//	Prev                      32 bytes (hex-decoded)
//	Seq                       uint64, big endian
//	Time.Unix()               int64, big endian (two's complement)
//	Time.Nanosecond()         uint64, big endian
//	Status                    uint64, big endian
//	Principal, Address, Action, Repository, Digest, Reference, Result, Detail
//	                          each: uint32 big-endian byte length, then the UTF-8 bytes
//
// The time is UTC with nanoseconds, exactly as the record's JSON carries
// it, so an auditor can recompute every hash from a JSON export.
func EncodeAccessRecord(r *AccessRecord) ([]byte, error) {
	if err := ValidateAccessRecord(r); err != nil {
		return nil, err
	}
	prev, err := hex.DecodeString(r.Prev)
	if err != nil || len(prev) != sha256.Size || strings.ToLower(r.Prev) != r.Prev {
		return nil, fmt.Errorf("%w: prev %q is not a lower-case hex SHA-256", ErrAccessRecordInvalid, r.Prev)
	}
	fields := r.stringFields()
	n := len(accessMagic) + sha256.Size + 4*8
	for _, f := range fields {
		n += 4 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, accessMagic...)
	b = append(b, prev...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.Nanosecond()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Status))
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// DecodeAccessRecord parses an encoding made by EncodeAccessRecord. Hash is
// left empty: it is the hex SHA-256 of b, which the caller compares with
// the hash it stored. It refuses anything else, trailing bytes included,
// with ErrAccessRecordInvalid: the bytes may come from a database someone
// edited.
func DecodeAccessRecord(b []byte) (AccessRecord, error) {
	var r AccessRecord
	bad := func(what string) (AccessRecord, error) {
		return AccessRecord{}, fmt.Errorf("%w: %s", ErrAccessRecordInvalid, what)
	}
	head := len(accessMagic) + sha256.Size + 4*8
	if len(b) < head || string(b[:len(accessMagic)]) != accessMagic {
		return bad("not an encoded record (version 1)")
	}
	p := b[len(accessMagic):]
	r.Prev = hex.EncodeToString(p[:sha256.Size])
	p = p[sha256.Size:]
	r.Seq = binary.BigEndian.Uint64(p)
	secs := int64(binary.BigEndian.Uint64(p[8:]))
	nanos := binary.BigEndian.Uint64(p[16:])
	status := binary.BigEndian.Uint64(p[24:])
	p = p[32:]
	if nanos >= 1e9 {
		return bad("nanoseconds out of range")
	}
	if status > 999 {
		return bad("status out of range")
	}
	r.Time = time.Unix(secs, int64(nanos)).UTC()
	r.Status = int(status)
	var fields [8]string
	for i := range fields {
		if len(p) < 4 {
			return bad("truncated")
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if n > MaxAccessField || int(n) > len(p) {
			return bad("field length out of range")
		}
		fields[i] = string(p[:n])
		p = p[n:]
	}
	if len(p) != 0 {
		return bad("trailing bytes")
	}
	r.Principal, r.Address, r.Action, r.Repository = fields[0], fields[1], fields[2], fields[3]
	r.Digest, r.Reference, r.Result, r.Detail = digest.Digest(fields[4]), fields[5], fields[6], fields[7]
	if err := ValidateAccessRecord(&r); err != nil {
		return AccessRecord{}, err
	}
	return r, nil
}

// ChainHash recomputes r's hash from its fields (Hash itself is ignored).
// A record read from any export verifies when ChainHash equals its Hash
// and its Prev equals the Hash of the record before.
func (r *AccessRecord) ChainHash() (string, error) {
	b, err := EncodeAccessRecord(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
