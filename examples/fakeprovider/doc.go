// Package fakeprovider is a local stand-in for the OpenAI, Anthropic,
// Gemini and Ollama HTTP APIs, speaking their wire formats exactly as the
// official SDKs parse them, usage objects included. Every Conduit test, the
// demo and the benchmarks use it, so that no test ever touches the real
// network and every token count is known in advance.
//
// # Endpoints
//
// Paths are matched on their suffix, so any prefix (/v1, /openai/v1, …)
// works. Bodies are JSON objects.
//
//   - OpenAI: POST …/chat/completions and …/completions (SSE data-only
//     chunks ending in "data: [DONE]"; with stream_options.include_usage
//     every chunk has "usage":null and a "choices":[] usage chunk precedes
//     [DONE], without it no chunk has a usage key), POST …/responses (SSE
//     with event: lines and sequence_number, response.created …
//     response.completed), POST …/embeddings (float or base64 vectors),
//     GET …/models. Header x-request-id.
//   - Anthropic: POST …/messages (message_start with the full usage
//     including cache_creation, content_block_start, ping,
//     content_block_delta…, content_block_stop, message_delta with
//     cumulative usage, message_stop), POST …/messages/count_tokens.
//     Header request-id.
//   - Gemini: POST …/models/{model}:generateContent,
//     :streamGenerateContent (with ?alt=sse: CRLF-framed events with
//     running usageMetadata totals; without: one JSON array streamed and
//     flushed per element), :countTokens.
//   - Ollama: POST …/api/chat and …/api/generate (NDJSON by default,
//     one object with "stream": false; the done:true object has
//     prompt_eval_count, eval_count and the *_duration fields).
//
// Errors use each provider's own shape: 404 for an unknown path, 401 when
// the request has no credential at all (Authorization, x-api-key, api-key,
// x-goog-api-key or a key= query parameter; any value is accepted; Ollama
// needs none, as the real one), 400 for a body that is not a JSON object
// or a malformed knob, 413 past Options.MaxBodyBytes.
//
// # Deterministic usage
//
// A prompt's input tokens are PromptOverhead plus the words of its text (see
// ExpectedUsage for the exact rule); the output is one word-token per
// content event. Ids (chatcmpl-…, msg_…, resp_…, request ids) derive from
// the endpoint and the body, and times from Options.Clock (the fixed Epoch
// by default), so equal requests get byte-identical responses: a test can
// compare a direct call with one made through Conduit byte for byte.
//
// # Knobs
//
// Request headers (the Header… constants) tune one response; Options sets
// server-wide defaults for each. They cover the number and size of events,
// delays, chunked writes, gzip, mid-stream cuts and error events, cache and
// reasoning tokens, the reported model, error statuses, hanging requests,
// and vendor styles (OpenRouter cost, Groq, DeepSeek).
//
// Typical use in a test:
//
//	fake := fakeprovider.New(fakeprovider.Options{})
//	ts := httptest.NewServer(fake)
//	t.Cleanup(ts.Close)
//	t.Cleanup(fake.Close) // runs first: releases hung requests
//
// The fake cuts connections by panicking with http.ErrAbortHandler, so serve
// it through an http.Server (httptest.NewServer), not a ResponseRecorder.
package fakeprovider
