package storage

import (
	"time"

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
