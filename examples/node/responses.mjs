// OpenAI Responses through Conduit, whole and streamed.
//
// In the dashboard: 2 calls tagged example:node-responses, provider openai,
// model gpt-4.1-mini, one of them streamed, both with input and output
// tokens (reasoning tokens too, for a reasoning model) and a cost. Responses
// streams always carry usage, in their response.completed event.
//
// Run, with `conduit proxy` running:
//   export OPENAI_BASE_URL=http://127.0.0.1:8080/openai/v1
//   export OPENAI_API_KEY=sk-...
//   npm install && node responses.mjs
import OpenAI from "openai";

const client = new OpenAI({ defaultHeaders: { "X-Conduit-Tag": "example:node-responses" } });
const model = process.env.OPENAI_MODEL ?? "gpt-4.1-mini";
const input = "Name three rivers in Finland.";

const response = await client.responses.create({ model, input, max_output_tokens: 32 });
console.log("response:", response.output_text);
console.log("  usage:", JSON.stringify(response.usage));

const stream = await client.responses.create({ model, input, max_output_tokens: 32, stream: true });
let text = "";
for await (const event of stream) {
  if (event.type === "response.output_text.delta") text += event.delta;
  if (event.type === "response.completed") console.log("  usage:", JSON.stringify(event.response.usage));
}
console.log("response, streamed:", text);
