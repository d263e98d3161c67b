// Package valohai sends the ledger's call records to Valohai LLM, which
// links them to Valohai runs (through the calls' x-vh-* headers) for cost
// analysis.
//
// It speaks the Rust Conduit's protocol unchanged, so that Valohai's side
// needs nothing new: POST {url}/api/ingest/transits/ with
// "Authorization: Bearer <api key>" and a JSON array of at most BatchSize
// records (see Transit for the fields); any 2xx status means the whole
// batch was accepted, anything else that it will be sent again later.
//
// What is sent, and when, is decided by the ledger: eligible calls (usage
// and at least one x-vh-* header) whose synced_at marker is unset, oldest
// first. A batch is marked only after Valohai LLM accepted it, so delivery
// is at least once and survives restarts: a crash between the POST and the
// mark sends the batch again, never loses it.
//
// Client.Send sends everything eligible now (conduit sync). A Sender does
// it in the background of conduit proxy: as soon as a full batch has been
// written, otherwise every few seconds, backing off exponentially with
// jitter while Valohai LLM fails and honouring its Retry-After. It never
// runs on the request path nor holds up the ledger's writer.
//
// The Valohai API key goes only into the Authorization header of these
// requests: it is removed from every error text this package produces, so
// it reaches neither logs nor the ledger. Provider credentials are never
// sent: only x-vh-* headers leave the machine, and a record has no other
// field that could carry one.
package valohai
