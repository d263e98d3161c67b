// OpenAI legacy Completions through Conduit, whole and streamed.
//
// In the dashboard: 2 calls tagged example:node-completions, provider
// openai, model gpt-3.5-turbo-instruct, one of them streamed, both with
// input and output tokens and a cost (Conduit asks for the streamed call's
// usage, as for chat).
//
// Run, with `conduit proxy` running:
//   export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
//   export OPENAI_API_KEY=sk-...
//   npm install && node completions.mjs
import OpenAI from "openai";

const client = new OpenAI({ defaultHeaders: { "X-Conduit-Tag": "example:node-completions" } });
const model = process.env.OPENAI_COMPLETIONS_MODEL ?? "gpt-3.5-turbo-instruct";
const prompt = "Write a haiku about proxies.";

const completion = await client.completions.create({ model, prompt, max_tokens: 32 });
console.log("completion:", completion.choices[0].text.trim());
console.log("  usage:", JSON.stringify(completion.usage));

const stream = await client.completions.create({ model, prompt, max_tokens: 32, stream: true });
let text = "";
for await (const chunk of stream) {
  text += chunk.choices[0]?.text ?? "";
}
console.log("completion, streamed:", text.trim());
