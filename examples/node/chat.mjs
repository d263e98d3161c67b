// OpenAI Chat Completions through Conduit, whole and streamed.
//
// In the dashboard: 2 calls tagged example:node-chat, provider openai,
// model gpt-4o-mini (or the dated snapshot the API reports), one of them
// streamed, both with input and output tokens and a cost. The streamed call
// has tokens although this script never asks for usage: Conduit adds
// stream_options.include_usage upstream and hides the extra chunk from the
// SDK.
//
// Run, with `conduit proxy` running:
//   export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
//   export OPENAI_API_KEY=sk-...
//   npm install && node chat.mjs
import OpenAI from "openai";

// The SDK reads OPENAI_BASE_URL and OPENAI_API_KEY from the environment.
// X-Conduit-Tag is Conduit's own header: it tags the calls in the ledger
// and is removed before the request goes to OpenAI.
const client = new OpenAI({ defaultHeaders: { "X-Conduit-Tag": "example:node-chat" } });
const model = process.env.OPENAI_MODEL ?? "gpt-4o-mini";
const messages = [{ role: "user", content: "Say hello in three words." }];

const completion = await client.chat.completions.create({ model, messages, max_tokens: 32 });
console.log("chat:", completion.choices[0].message.content);
console.log("  usage:", JSON.stringify(completion.usage));

const stream = await client.chat.completions.create({ model, messages, max_tokens: 32, stream: true });
let text = "";
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? "";
}
console.log("chat, streamed:", text);
