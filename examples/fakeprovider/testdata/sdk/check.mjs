// Drives the official SDKs against the fake provider at FAKE_URL and prints
// one JSON object of what they parsed, for sdk_test.go to check. Any SDK
// that rejects the fake's wire format makes this script fail.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
import { Ollama } from "ollama";

const base = process.env.FAKE_URL;
const out = {};

const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${base}/v1`, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: "sk-ant-test", baseURL: base, maxRetries: 0 });
const messages = [{ role: "user", content: "hello there world" }];

// Chat Completions, whole and streamed (with and without include_usage).
const chat = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 3 },
  { headers: { "X-Fake-Cached-Tokens": "2", "X-Fake-Reasoning-Tokens": "1" } });
out.chat = { id: chat.id, text: chat.choices[0].message.content, usage: chat.usage };

let text = "", usage = null, chunks = 0;
for await (const c of await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 3, stream: true, stream_options: { include_usage: true } })) {
  chunks++;
  if (c.choices.length > 0) text += c.choices[0].delta.content ?? "";
  if (c.usage) usage = c.usage;
}
out.chatStream = { text, usage, chunks };

const runner = openai.chat.completions.stream({ model: "gpt-4o-mini", messages, max_tokens: 2 },
  { headers: { "X-Fake-Gzip": "1", "X-Fake-Chunk": "1" } });
const final = await runner.finalChatCompletion();
out.chatHelper = { text: final.choices[0].message.content, finish: final.choices[0].finish_reason };

// Legacy Completions.
text = ""; usage = null;
for await (const c of await openai.completions.create({ model: "gpt-3.5-turbo-instruct", prompt: "say hi", max_tokens: 2, stream: true, stream_options: { include_usage: true } })) {
  if (c.choices.length > 0) text += c.choices[0].text;
  if (c.usage) usage = c.usage;
}
out.completionsStream = { text, usage };

// Responses, whole and streamed.
const resp = await openai.responses.create({ model: "gpt-4.1", input: "a b c", max_output_tokens: 2 });
out.responses = { id: resp.id, text: resp.output_text, usage: resp.usage };
const rstream = openai.responses.stream({ model: "gpt-4.1", input: "a b c", max_output_tokens: 2 });
const types = [];
rstream.on("event", (e) => types.push(e.type));
const rfinal = await rstream.finalResponse();
out.responsesStream = { text: rfinal.output_text, usage: rfinal.usage, types };

// Embeddings (the SDK asks for base64 and decodes it) and models.
const emb = await openai.embeddings.create({ model: "text-embedding-3-small", input: ["a b", "c"] });
out.embeddings = { count: emb.data.length, dims: emb.data[0].embedding.length, usage: emb.usage };
const models = [];
for await (const m of openai.models.list()) models.push(m.id);
out.models = models;

// Errors: a 429 in OpenAI's shape, and an error event mid-stream.
try {
  await openai.chat.completions.create({ model: "m", messages }, { headers: { "X-Fake-Status": "429" } });
  out.rateLimit = "no error";
} catch (e) {
  out.rateLimit = { status: e.status, code: e.code, name: e.constructor.name };
}

// Anthropic Messages, whole and streamed (the SDK accumulates usage).
const msg = await anthropic.messages.create({ model: "claude-fake-model", max_tokens: 3, messages },
  { headers: { "X-Fake-Cache-Write-5m": "4", "X-Fake-Cache-Write-1h": "5", "X-Fake-Cached-Tokens": "6" } });
out.messages = { id: msg.id, text: msg.content[0].text, usage: msg.usage };
const mstream = anthropic.messages.stream({ model: "claude-fake-model", max_tokens: 3, messages },
  { headers: { "X-Fake-Cache-Write-1h": "5", "X-Fake-Gzip": "1", "X-Fake-Chunk": "3" } });
const mfinal = await mstream.finalMessage();
out.messagesStream = { text: mfinal.content[0].text, usage: mfinal.usage, stop: mfinal.stop_reason };
const count = await anthropic.messages.countTokens({ model: "claude-fake-model", messages });
out.countTokens = count.input_tokens;
try {
  const s = anthropic.messages.stream({ model: "claude-fake-model", max_tokens: 3, messages }, { headers: { "X-Fake-Error-Event": "1" } });
  await s.finalMessage();
  out.anthropicErrorEvent = "no error";
} catch (e) {
  out.anthropicErrorEvent = { name: e.constructor.name, message: String(e.message).slice(0, 200) };
}

// Gemini through @google/genai (its streaming uses alt=sse).
const genai = new GoogleGenAI({ apiKey: "AIza-test", httpOptions: { baseUrl: base } });
const g = await genai.models.generateContent({ model: "gemini-2.0-flash", contents: "why is the sky blue", config: { maxOutputTokens: 3 } });
out.gemini = { text: g.text, usage: g.usageMetadata };
text = ""; usage = null;
for await (const c of await genai.models.generateContentStream({ model: "gemini-2.0-flash", contents: "why is the sky blue", config: { maxOutputTokens: 3 } })) {
  text += c.text ?? "";
  usage = c.usageMetadata ?? usage;
}
out.geminiStream = { text, usage };

// Ollama through its JS client (NDJSON).
const ollama = new Ollama({ host: base });
text = ""; let done = null;
for await (const part of await ollama.chat({ model: "llama3.2", messages, stream: true, options: { num_predict: 2 } })) {
  text += part.message.content;
  if (part.done) done = part;
}
out.ollama = { text, prompt_eval_count: done.prompt_eval_count, eval_count: done.eval_count };

console.log(JSON.stringify(out));
