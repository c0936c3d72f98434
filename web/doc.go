// Package web is the browser UI that cairn serve mounts at / beside the
// registry API at /v2/: repositories, versions and tag history, files,
// signatures, provenance, lineage, scan results and the access log. It is
// the only package that imports echo; New returns a *UI, an
// http.Handler, so that cmd/ never does.
//
// # Routes
//
//	GET  /                     repositories the visitor may read: latest version, size,
//	                           signature state, last push, pulls; ?q= searches names,
//	                           tags, digest prefixes and config architecture and format,
//	                           ?after=NAME pages (100 a page)
//	GET  /r/REPO               versions (25 a page, ?page=N, ?sort=time|time-asc|size|
//	                           size-asc|tag), with descriptor.version and a compare link;
//	                           one tag timeline merging every tag's moves, newest first
//	                           (?moves=all for more than 30), tags set once folded apart
//	GET  /r/NAMESPACE          the repositories under NAMESPACE/ (when it is no repository)
//	GET  /r/REPO@DIGEST        one version: its verdict, model card (README.md rendered),
//	                           files (archive layers with their members), ModelPack config,
//	                           signatures and attestations with their signers' key ids,
//	                           scan findings, the pull command (not for a refused or
//	                           quarantined version), the lineage graph
//	GET  /r/REPO@DIGEST/compare  what changed from the version before (or ?with=DIGEST):
//	                           files, config fields, annotations, by client.DiffManifests,
//	                           the code of cairn diff
//	GET  /r/REPO@DIGEST/raw/LAYER[/MEMBER]  a file's bytes as an attachment, only when a
//	                           pull of the version would be allowed (read permission,
//	                           pull gate, quarantine)
//	GET  /r/REPO:TAG           303 to /r/REPO@DIGEST of the tag's current digest
//	GET  /access               the access log newest first, filtered by ?repository=,
//	                           ?principal=, ?action= (what the request asked: a refused
//	                           pull is action pull, result denied), ?result=, paged by
//	                           ?before=SEQ (100 a page), anonymous 401 challenges folded
//	                           unless ?challenges=show; each refusal names its reason
//	                           (scope, credentials, policy, quarantine); bad parameters
//	                           get a 400 page saying which and why
//	GET  /login, POST /login   the login form (only with an Authorizer)
//	POST /logout
//	GET  /static/...           the stylesheet and icon, embedded
//
// # Verdicts
//
// Every version (its page, the repository's list, the index) shows one
// verdict: with a pull gate (Config.Gate, cairn serve --policy) the gate's
// own, asked of it and never recomputed here: allowed (naming the rule as
// rules[N] "MATCH" and its signers by key id or keyless identity),
// refused (with the gate's reason) or quarantined (with its reason); a
// refused or quarantined version shows no pull command. Without a gate:
// "signed by KEYID, not checked", "attested, not checked" or "unsigned".
// Bundles are read with attest.CollectBundles over the registry's own
// stores and, under a rule, verified against its trust only to name who
// signed each. Server file paths (the policy file, key files, trusted
// roots) are replaced in every message by what they name.
//
// Repository names cannot contain '@' or ':', so /r/REPO@DIGEST and
// /r/REPO:TAG are never taken for a repository whose name has more path
// elements.
//
// # Security defaults
//
//   - Pages are rendered only with html/template, so every name,
//     annotation, file path, config value, principal and access-log field
//     is escaped for its context (text, attribute, URL, SVG text). Pages
//     are rendered into a buffer first: a template error never sends half a
//     page.
//   - Every string a user chose (names, tags, file paths, annotations,
//     config values, provenance, signers, reasons, access-log fields) is
//     shown through one helper, visible, that writes bidirectional
//     controls, zero-width and other invisible characters, C0 and C1
//     controls and bytes that are not UTF-8 as escapes (\u202e), so that
//     a file's extension cannot be spoofed.
//   - Every response carries Content-Security-Policy: default-src 'none';
//     script-src 'self'; style-src 'self'; img-src 'self' data:;
//     form-action 'self'; frame-ancestors 'none'; base-uri 'none'. The one
//     script, static/copy.js, only adds a copy button to the pull command;
//     every page works without it (the command is focusable and selected
//     whole by a click through CSS user-select). No inline script, and no
//     script from a model card: cards are rendered by goldmark with raw
//     HTML dropped and sanitised again by bluemonday. Also
//     X-Content-Type-Options: nosniff,
//     Referrer-Policy: no-referrer, X-Frame-Options: DENY,
//     Cross-Origin-Opener-Policy and Cross-Origin-Resource-Policy:
//     same-origin, and Cache-Control: no-store on pages. Pages are gzipped
//     for clients that accept it; static files are cached for a day.
//   - Every form post (login and logout included) is checked against
//     cross-site request forgery by echo's CSRF middleware: a browser that
//     sends Sec-Fetch-Site must say same-origin (same-site and cross-site
//     posts are refused); other clients must send the _csrf form field
//     equal to the cairn_csrf cookie (HttpOnly, SameSite=Strict, Secure
//     under TLS). Form bodies are limited to 16 KiB.
//   - With an Authorizer (Config.Auth), anonymous visitors are redirected
//     to /login; a login sets the cairn_session cookie (HttpOnly,
//     SameSite=Lax, Secure under TLS) holding the secret of a session the
//     Authorizer keeps (registry/auth: a record in the metadata store,
//     lasting Config.SessionTTL, 12 hours by default). Logout ends the
//     session on every node and across restarts; so do a password or role
//     change and the user's removal. A login redirects only to a path of
//     this site.
//   - Repositories the visitor may not read appear nowhere: not in lists or
//     search, their pages answer 404 exactly as missing ones do, lineage
//     edges to them are drawn as "not visible" without name or digest, and
//     the access log shows non-admins only the records of repositories
//     they may read and their own.
//   - Errors are logged with their cause; the visitor sees only a public
//     message (an *Error's Msg), as tailscale's vizerror does.
//   - Work per request is bounded: files above Config.ScanMaxSize are not
//     scanned (but for safetensors and GGUF, whose headers alone are
//     read), at most 32 new scans run per page and two at a time, bundles
//     and configs are read up to verify's limits, the access log page reads
//     at most 200,000 records while filtering.
//
// # Pull counts
//
// A pull is counted when a manifest GET is followed by a GET of one of its
// layers by the same principal and address (the access log's "download"
// record, written once per manifest GET by registry/accesslog). Reading a
// manifest alone is not a pull: cairn tag reads the manifest to push it
// under the new tag, cairn inspect and diff read manifests and configs, a
// HEAD reads nothing, and cairn ls reads the versions endpoint, which is
// not recorded. A client that already holds every layer fetches none and
// is not counted either.
//
// # Caches
//
// Pages stay fast on large registries through in-memory caches, all
// bounded: a summary per repository for the index (dropped when Watch sees
// a push or delete, else kept SummaryTTL), verification verdicts by
// repository, digest and referrers, scan reports by blob digest, the
// lineage index (registry.LineageIndex, rebuilt after a provenance push or
// SummaryTTL), the search index (tags, digests, config fields; rebuilt
// in the background every SummaryTTL, so a search never waits for it but
// the first), rendered model cards and archive listings
// by blob digest, pull counts read incrementally from the access log, and
// the chain state (ChainTTL). Changes made by another node show within
// SummaryTTL.
package web
