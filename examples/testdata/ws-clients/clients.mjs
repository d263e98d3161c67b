// A Realtime and a Live client through Conduit's base-URL mode, at
// CONDUIT_URL: OpenAI Realtime with `ws` (the WebSocket library the openai
// SDK uses, permessage-deflate on as it offers by default), Gemini Live with
// @google/genai's own session. Prints one JSON object with the usage each
// response reported, for ws_clients_test.go to find in the ledger.
import WebSocket from "ws";
import { GoogleGenAI, Modality } from "@google/genai";

const base = process.env.CONDUIT_URL;
const out = {};

// Realtime: two text responses on one connection.
{
  const url = base.replace(/^http/, "ws") + "/openai/v1/realtime?model=gpt-realtime";
  const ws = new WebSocket(url, { headers: { Authorization: "Bearer sk-test" } });
  const waiters = [];
  ws.on("message", (data) => {
    const ev = JSON.parse(data.toString());
    for (const w of waiters.splice(0)) w(ev) || waiters.push(w);
  });
  const next = (type) => new Promise((resolve, reject) => {
    ws.once("error", reject);
    waiters.push((ev) => {
      if (ev.type === "error") { reject(new Error(JSON.stringify(ev))); return true; }
      if (ev.type === type) { resolve(ev); return true; }
      return false;
    });
  });
  await next("session.created");
  ws.send(JSON.stringify({ type: "session.update", session: { type: "realtime", instructions: "be brief", output_modalities: ["text"] } }));
  await next("session.updated");
  out.realtime = [];
  for (const text of ["hello there", "and once more"]) {
    ws.send(JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } }));
    const done = next("response.done");
    ws.send(JSON.stringify({ type: "response.create", response: { max_output_tokens: 3 } }));
    out.realtime.push((await done).response.usage);
  }
  await new Promise((resolve) => { ws.once("close", resolve); ws.close(1000, "done"); });
}

// Gemini Live: two text turns on one session.
{
  const ai = new GoogleGenAI({ apiKey: "AIza-test", httpOptions: { baseUrl: base + "/gemini" } });
  let onTurn, last;
  const usages = [];
  const session = await ai.live.connect({
    model: "gemini-live-2.5-flash",
    config: { responseModalities: [Modality.TEXT] },
    callbacks: {
      onmessage: (m) => {
        if (m.usageMetadata) last = m.usageMetadata;
        if (m.serverContent?.turnComplete) { usages.push(last); onTurn(); }
      },
      onerror: (e) => { throw e.error ?? e; },
    },
  });
  for (const text of ["hello there", "tell me more"]) {
    const turn = new Promise((resolve) => { onTurn = resolve; });
    session.sendClientContent({ turns: [{ role: "user", parts: [{ text }] }], turnComplete: true });
    await turn;
  }
  session.close();
  out.live = usages;
}

process.stdout.write(JSON.stringify(out));
