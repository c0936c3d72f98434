package storage

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// LogAccess is the access log's transparency log: leaf i is an AccessLeaf
// for the record with Seq i+1, appended in the same transaction as the
// record (and the prune records retention writes), so the leaves and the
// records have one order.
const LogAccess = "access"

// AccessLeaf is one leaf of the access log's transparency log. It commits
// to the whole record through Record, the SHA-256 of the record's JSON
// (AccessRecordJSON), so any field an AccessRecord has, now or later, is
// covered without a new leaf format. Seq and Time stay readable after
// retention removed the record itself: a leaf is never removed or
// changed, which keeps every proof valid and lets a verifier check that a
// record gone from the database was removed by a prune that covered it.
type AccessLeaf struct {
	Seq    uint64        `json:"seq"`
	Time   time.Time     `json:"time"`
	Record digest.Digest `json:"record"`
}

// AccessRecordJSON returns the bytes AccessLeaf.Record hashes: the compact
// JSON of r as stored (Seq, Prev and Hash set). Fields added to
// AccessRecord later must be omitempty, so that records written before
// them still hash to their leaves.
func AccessRecordJSON(r AccessRecord) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("storage: encode access record: " + err.Error()) // strings, numbers and a time
	}
	return b
}

// AccessLeafOf returns the leaf of r, a record as stored.
func AccessLeafOf(r AccessRecord) AccessLeaf {
	sum := sha256.Sum256(AccessRecordJSON(r))
	return AccessLeaf{Seq: r.Seq, Time: r.Time.UTC(), Record: digest.NewDigestFromBytes(digest.SHA256, sum[:])}
}

// StoredAccessLeaf returns the leaf of the record a store keeps as enc
// (EncodeAccessRecord) under hash: the leaf of the record as it will be
// read back, so that a field the encoding does not keep is in neither
// (and a field it keeps is in both).
func StoredAccessLeaf(enc []byte, hash string) ([]byte, error) {
	r, err := DecodeAccessRecord(enc)
	if err != nil {
		return nil, err
	}
	r.Hash = hash
	return EncodeAccessLeaf(AccessLeafOf(r)), nil
}

// EncodeAccessLeaf returns the bytes of leaf l: compact JSON.
func EncodeAccessLeaf(l AccessLeaf) []byte {
	b, err := json.Marshal(l)
	if err != nil {
		panic("storage: encode access leaf: " + err.Error())
	}
	return b
}

// ParseAccessLeaf parses a leaf of the access log; the bytes come from a
// registry or a database someone may have edited, so anything but
// EncodeAccessLeaf's output is ErrAccessRecordInvalid.
func ParseAccessLeaf(b []byte) (AccessLeaf, error) {
	var l AccessLeaf
	if len(b) > MaxLogEntrySize {
		return l, fmt.Errorf("%w: access leaf of %d bytes", ErrAccessRecordInvalid, len(b))
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("%w: access leaf: %v", ErrAccessRecordInvalid, err)
	}
	if string(EncodeAccessLeaf(l)) != string(b) || l.Record.Validate() != nil || l.Record.Algorithm() != digest.SHA256 {
		return AccessLeaf{}, fmt.Errorf("%w: access leaf %q is not canonical", ErrAccessRecordInvalid, b)
	}
	return l, nil
}

// Matches reports whether the leaf commits to r.
func (l AccessLeaf) Matches(r AccessRecord) bool {
	return l == AccessLeafOf(r)
}

// pruneDetail starts the Detail of a prune record; PruneCutoff parses it.
const pruneDetail = "retention removed %d records older than "

// PruneRecord returns the record a store appends after retention removed
// n records older than before, the last of them anchor: Reference is the
// anchor's seq, Digest its chain hash, and Detail states the cutoff with
// nanoseconds (PruneCutoff reads it back).
func PruneRecord(anchor ChainPoint, n int, before, now time.Time) AccessRecord {
	return AccessRecord{
		Time:      now,
		Principal: PrincipalSystem,
		Action:    ActionPrune,
		Reference: strconv.FormatUint(anchor.Seq, 10),
		Digest:    digest.Digest("sha256:" + anchor.Hex()),
		Result:    ResultOK,
		Detail:    fmt.Sprintf(pruneDetail, n) + before.UTC().Format(time.RFC3339Nano),
	}
}

// PruneCutoff returns the anchor seq and cutoff time a prune record
// states; ok is false for a record that is not one PruneRecord made.
func PruneCutoff(r AccessRecord) (anchor uint64, before time.Time, ok bool) {
	if r.Action != ActionPrune || r.Principal != PrincipalSystem {
		return 0, time.Time{}, false
	}
	anchor, err := strconv.ParseUint(r.Reference, 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	_, at, found := strings.Cut(r.Detail, " older than ")
	if !found {
		return 0, time.Time{}, false
	}
	before, err = time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return 0, time.Time{}, false
	}
	return anchor, before, true
}

// AccessLeaves writes, through add, the leaves of the records from seq
// from to seq to: for a database whose records are older than the access
// log's transparency log. A record retention already removed (get says
// not found) gets the leaf of a record with only its Seq: nothing is known
// of it but that it existed, and verifiers see a leaf whose record is gone.
func AccessLeaves(from, to uint64, get func(seq uint64) (AccessRecord, bool, error), add func(leaf []byte) error) error {
	for seq := from; seq <= to; seq++ {
		r, ok, err := get(seq)
		if err != nil {
			return fmt.Errorf("access record %d: %w", seq, err)
		}
		l := AccessLeaf{Seq: seq, Record: digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat("0", 64))}
		if ok {
			l = AccessLeafOf(r)
		}
		if err := add(EncodeAccessLeaf(l)); err != nil {
			return err
		}
	}
	return nil
}
