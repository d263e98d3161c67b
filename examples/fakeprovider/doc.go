// Package fakeprovider is a local stand-in for the OpenAI, Anthropic,
// Gemini and Ollama HTTP APIs, their WebSocket APIs (Responses WebSocket
// mode, Realtime, Gemini Live) and the cloud platforms that serve them
// (Amazon Bedrock, Vertex AI, Azure OpenAI), speaking their wire formats
// exactly as the official SDKs and agent CLIs parse them, usage objects
// included. Every Conduit test, the
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
//   - Amazon Bedrock runtime: POST /model/{modelId}/invoke and
//     /invoke-with-response-stream with an Anthropic body
//     (anthropic_version "bedrock-2023-05-31", no model): the Messages
//     JSON naming the Anthropic model (claude-haiku-4-5-20251001 for
//     us.anthropic.claude-haiku-4-5-20251001-v1:0) with the
//     x-amzn-bedrock-*-token-count headers, or
//     application/vnd.amazon.eventstream messages whose chunk payloads
//     carry each Messages event base64 in "bytes", the last with
//     amazon-bedrock-invocationMetrics; POST …/converse (output,
//     stopReason, usage, metrics) and …/converse-stream (messageStart,
//     contentBlockDelta…, contentBlockStop, messageStop, metadata). Stream
//     errors are exception messages, request errors JSON {"message"} with
//     x-amzn-ErrorType. No credential is needed unless
//     Options.AWSCredentials asks for SigV4 (see SignV4).
//   - Vertex AI: POST …/publishers/anthropic/models/{model}@{date}:rawPredict
//     and :streamRawPredict (Anthropic bodies with anthropic_version
//     "vertex-2023-10-16"; no credential needed), and
//     …/publishers/google/models/{model}:generateContent and
//     :streamGenerateContent through the Gemini endpoints.
//   - Azure OpenAI: …/openai/deployments/{name}/… and /openai/v1/… with an
//     api-key header or api-version: responses name the model behind the
//     deployment (Options.Deployments, else DefaultAzureModel), carry
//     prompt_filter_results, and a stream starts with Azure's empty-choices
//     chunk.
//
// WebSocket endpoints (GET with Upgrade: websocket; RFC 6455 with
// permessage-deflate as the client offers, see HeaderWSDeflate):
//
//   - Responses WebSocket mode, …/responses: response.create messages, each
//     answered by the SSE stream's events as text messages, ending at
//     response.completed, response.incomplete or response.failed; several
//     per connection; generate:false is a prewarm; request errors are
//     in-band {"type":"error","status":…}.
//   - OpenAI Realtime, …/realtime?model=… (Azure: ?deployment=…):
//     session.created, then session.update, conversation.item.create,
//     input_audio_buffer.*, response.create → response.done with text and
//     audio token details, and input transcription usage.
//   - Gemini Live, …GenerativeService.BidiGenerateContent: setup →
//     setupComplete, clientContent or realtimeInput → serverContent per
//     word, turnComplete with usageMetadata (binary frames).
//
// Every client WebSocket message is recorded as a Seen with Method "WS";
// ExpectedWSUsage predicts each response's usage on a connection. Knobs
// apply per connection (upgrade headers, Options) and, on Responses and
// Realtime, per response through X-Fake-… entries of the request's
// metadata object.
//
// Errors use each provider's own shape: 404 for an unknown path, 401 when
// the request has no credential at all (Authorization, x-api-key, api-key,
// x-goog-api-key or a key= query parameter; any value is accepted; Ollama,
// Bedrock and Vertex's Anthropic endpoints need none), 400 for a body that
// is not a JSON object or a malformed knob, 413 past Options.MaxBodyBytes.
//
// # Deterministic usage
//
// A prompt's input tokens are PromptOverhead plus the words of its text (see
// ExpectedUsage for the exact rule, ExpectedWSUsage for conversations and
// audio); the output is one word-token per content event. Ids (chatcmpl-…, msg_…, resp_…, request ids) derive from
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
// vendor styles (OpenRouter cost, Groq, DeepSeek), incomplete responses,
// and WebSocket framing (extension choice, fragments, pings, refused
// upgrades).
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
