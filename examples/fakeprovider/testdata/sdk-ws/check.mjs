// Drives the official SDKs' WebSocket and Bedrock clients against the fake
// provider at FAKE_URL and prints one JSON object of what they parsed, for
// sdk_test.go to check: openai's ResponsesWS and OpenAIRealtimeWS,
// @google/genai's Live session, and @aws-sdk/client-bedrock-runtime
// (requests SigV4-signed with the credentials in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, which the fake verifies).
import OpenAI from "openai";
import { ResponsesWS } from "openai/resources/responses/ws";
import { OpenAIRealtimeWS } from "openai/realtime/ws";
import { GoogleGenAI, Modality } from "@google/genai";
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const base = process.env.FAKE_URL;
const out = {};
const openai = new OpenAI({ apiKey: "sk-test", baseURL: `${base}/v1`, maxRetries: 0 });

// Waits for the first event of one of the types, collecting everything before.
function until(emitter, types) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const onEvent = (ev) => {
      seen.push(ev);
      if (types.includes(ev.type)) resolve(seen);
    };
    emitter.on("event", onEvent);
    emitter.on("error", reject);
  });
}

// Responses over WebSocket: two responses on one connection.
{
  const ws = new ResponsesWS(openai);
  const done = [];
  for (const input of ["hello there", "one two three"]) {
    const wait = until(ws, ["response.completed", "error"]);
    ws.send({ type: "response.create", model: "gpt-5", input, max_output_tokens: 2 });
    const evs = await wait;
    const last = evs[evs.length - 1];
    done.push({ type: last.type, id: last.response?.id, usage: last.response?.usage, deltas: evs.filter((e) => e.type === "response.output_text.delta").length });
  }
  ws.close({ code: 1000, reason: "done" });
  out.responsesWS = done;
}

// Realtime: text and audio responses, then an audio transcription.
{
  const rt = await OpenAIRealtimeWS.create(openai, { model: "gpt-realtime" });
  const created = until(rt, ["session.created"]);
  await new Promise((resolve, reject) => { rt.socket.on("open", resolve); rt.socket.on("error", reject); });
  await created;
  rt.send({ type: "session.update", session: { type: "realtime", instructions: "be brief", output_modalities: ["text"] } });
  rt.send({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text: "hello there" }] } });
  let wait = until(rt, ["response.done", "error"]);
  rt.send({ type: "response.create", response: { max_output_tokens: 3 } });
  let evs = await wait;
  const text = evs.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta).join("");
  out.realtime = { text: text, usage: evs[evs.length - 1].response?.usage };
  wait = until(rt, ["response.done", "error"]);
  rt.send({ type: "response.create", response: { output_modalities: ["audio"], max_output_tokens: 2 } });
  evs = await wait;
  out.realtimeAudio = {
    audioDeltas: evs.filter((e) => e.type === "response.output_audio.delta").length,
    transcript: evs.filter((e) => e.type === "response.output_audio_transcript.delta").map((e) => e.delta).join(""),
    usage: evs[evs.length - 1].response?.usage,
  };
  rt.close();
}

// Gemini Live: one text turn.
{
  const ai = new GoogleGenAI({ apiKey: "AIza-test", httpOptions: { baseUrl: base } });
  const messages = [];
  let turnDone;
  const turn = new Promise((resolve) => { turnDone = resolve; });
  const session = await ai.live.connect({
    model: "gemini-live-2.5-flash",
    config: { responseModalities: [Modality.TEXT], systemInstruction: "be brief" },
    callbacks: {
      onmessage: (m) => { messages.push(m); if (m.serverContent?.turnComplete) turnDone(); },
      onerror: (e) => { throw e.error ?? e; },
    },
  });
  session.sendClientContent({ turns: [{ role: "user", parts: [{ text: "hello there" }] }], turnComplete: true });
  await turn;
  session.close();
  const text = messages.map((m) => m.serverContent?.modelTurn?.parts?.map((p) => p.text).join("") ?? "").join("");
  out.live = { setup: messages.some((m) => m.setupComplete !== undefined), text, usage: messages[messages.length - 1].usageMetadata };
}

// Bedrock: InvokeModel, its stream, Converse and ConverseStream.
{
  const bedrock = new BedrockRuntimeClient({ region: "us-east-1", endpoint: base, maxAttempts: 1 });
  const modelId = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
  const body = JSON.stringify({ anthropic_version: "bedrock-2023-05-31", max_tokens: 3, messages: [{ role: "user", content: "hello there" }] });
  const inv = await bedrock.send(new InvokeModelCommand({ modelId, body, contentType: "application/json", accept: "application/json" }));
  const msg = JSON.parse(new TextDecoder().decode(inv.body));
  out.invoke = { model: msg.model, text: msg.content[0].text, usage: msg.usage };

  const stream = await bedrock.send(new InvokeModelWithResponseStreamCommand({ modelId, body, contentType: "application/json" }));
  const types = [];
  let metrics = null, text = "";
  for await (const ev of stream.body) {
    const e = JSON.parse(new TextDecoder().decode(ev.chunk.bytes));
    types.push(e.type);
    if (e.type === "content_block_delta") text += e.delta.text;
    if (e["amazon-bedrock-invocationMetrics"]) metrics = e["amazon-bedrock-invocationMetrics"];
  }
  out.invokeStream = { types, text, metrics };

  const conv = await bedrock.send(new ConverseCommand({
    modelId, messages: [{ role: "user", content: [{ text: "hello there" }] }], inferenceConfig: { maxTokens: 3 },
  }));
  out.converse = { text: conv.output.message.content[0].text, stopReason: conv.stopReason, usage: conv.usage };

  const cs = await bedrock.send(new ConverseStreamCommand({
    modelId, messages: [{ role: "user", content: [{ text: "hello there" }] }], inferenceConfig: { maxTokens: 3 },
  }));
  let ctext = "", cusage = null;
  for await (const ev of cs.stream) {
    if (ev.contentBlockDelta) ctext += ev.contentBlockDelta.delta.text;
    if (ev.metadata) cusage = ev.metadata.usage;
  }
  out.converseStream = { text: ctext, usage: cusage };
}

process.stdout.write(JSON.stringify(out));
