// Drives the official OpenAI and Anthropic SDKs, with their default base
// URLs (the real API hosts), through Conduit as an HTTPS proxy via undici's
// ProxyAgent, trusting Conduit's CA through NODE_EXTRA_CA_CERTS. Prints one
// JSON object of what the SDKs parsed, for forward_clients_test.go.
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ProxyAgent, fetch as undiciFetch } from "undici";

const dispatcher = new ProxyAgent(process.env.HTTPS_PROXY);
const fetch = (url, init) => undiciFetch(url, { ...init, dispatcher });
const openai = new OpenAI({ apiKey: "sk-test", fetch, maxRetries: 0 });
const anthropic = new Anthropic({ apiKey: "sk-ant-test", fetch, maxRetries: 0 });
const messages = [{ role: "user", content: "hello there world" }];
const out = {};

const chat = await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 3 });
out.chat = { text: chat.choices[0].message.content, usage: chat.usage };

// No stream_options: Conduit adds include_usage upstream and hides the
// extra chunk, so the SDK must see only content chunks.
let text = "", sawUsage = false, emptyChoices = 0;
for await (const c of await openai.chat.completions.create({ model: "gpt-4o-mini", messages, max_tokens: 3, stream: true })) {
  if (c.choices.length === 0) emptyChoices++;
  else text += c.choices[0].delta.content ?? "";
  if (c.usage) sawUsage = true;
}
out.chatStream = { text, sawUsage, emptyChoices };

const rstream = openai.responses.stream({ model: "gpt-4.1", input: "a b c", max_output_tokens: 2 });
const rfinal = await rstream.finalResponse();
out.responsesStream = { text: rfinal.output_text, usage: rfinal.usage };

const mstream = anthropic.messages.stream({ model: "claude-fake-model", max_tokens: 3, messages });
const mfinal = await mstream.finalMessage();
out.messagesStream = { text: mfinal.content[0].text, usage: mfinal.usage };

process.stdout.write(JSON.stringify(out));
