// Forward (HTTPS_PROXY) mode with the OpenAI and Anthropic Node SDKs.
//
// The SDKs keep their default base URLs (the real API hosts), and this code
// knows nothing of Conduit. Node's fetch, which both SDKs use, ignores
// HTTPS_PROXY unless NODE_USE_ENV_PROXY=1 (Node 22.21+ or 24.5+);
// NODE_EXTRA_CA_CERTS makes it trust Conduit's CA. `conduit run` sets all
// three, and for an older Node it also loads Conduit's preload through
// NODE_OPTIONS, which makes fetch honour HTTPS_PROXY there too (conduit run
// says so when it does).
//
// In the dashboard: 2 calls tagged example:proxy-node, mode forward (the
// details view says "forward proxy (HTTPS_PROXY)"): provider openai, model
// gpt-4o-mini, streamed; provider anthropic, model claude-haiku-4-5, not
// streamed; both with tokens and a cost.
//
// Run, with `conduit proxy` running and a CA made once by `conduit ca init`:
//   npm install
//   OPENAI_API_KEY=sk-... ANTHROPIC_API_KEY=sk-ant-... conduit run -- node proxy-mode.mjs
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

if (!process.env.HTTPS_PROXY || !process.env.NODE_EXTRA_CA_CERTS) {
  console.error("HTTPS_PROXY and NODE_EXTRA_CA_CERTS are not set: run this as 'conduit run -- node proxy-mode.mjs'");
  process.exit(1);
}

const options = { defaultHeaders: { "X-Conduit-Tag": "example:proxy-node" } };

const messages = [{ role: "user", content: "Say hello in three words." }];

// baseURL is given only so that an OPENAI_BASE_URL / ANTHROPIC_BASE_URL left
// in the environment cannot turn this into a base-URL example.
const openai = new OpenAI({ ...options, baseURL: "https://api.openai.com/v1" });
let text = "";
for await (const chunk of await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 32, stream: true })) {
  text += chunk.choices[0]?.delta?.content ?? "";
}
console.log("openai, streamed:", text);

const anthropic = new Anthropic({ ...options, baseURL: "https://api.anthropic.com" });
const message = await anthropic.messages.create({ model: "claude-haiku-4-5", max_tokens: 32, messages });
console.log("anthropic:", message.content[0].text);
console.log("  usage:", JSON.stringify(message.usage));
