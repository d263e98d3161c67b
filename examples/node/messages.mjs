// Anthropic Messages through Conduit, whole and streamed.
//
// In the dashboard: 2 calls tagged example:node-messages, provider
// anthropic, model claude-haiku-4-5, one of them streamed, both with input
// and output tokens and a cost (cache reads and writes, when the prompt is
// cached, in their own columns).
//
// Run, with `conduit proxy` running:
//   export ANTHROPIC_BASE_URL=http://127.0.0.1:8080/anthropic
//   export ANTHROPIC_API_KEY=sk-ant-...
//   npm install && node messages.mjs
import Anthropic from "@anthropic-ai/sdk";

// The SDK reads ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY from the
// environment.
const client = new Anthropic({ defaultHeaders: { "X-Conduit-Tag": "example:node-messages" } });
const model = process.env.ANTHROPIC_MODEL ?? "claude-haiku-4-5";
const messages = [{ role: "user", content: "Say hello in three words." }];

const message = await client.messages.create({ model, max_tokens: 32, messages });
console.log("message:", message.content[0].text);
console.log("  usage:", JSON.stringify(message.usage));

const stream = client.messages.stream({ model, max_tokens: 32, messages });
let text = "";
stream.on("text", (delta) => {
  text += delta;
});
const final = await stream.finalMessage();
console.log("message, streamed:", text);
console.log("  usage:", JSON.stringify(final.usage));
