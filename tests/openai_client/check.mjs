// The official OpenAI client (npm `openai`) against a Greylane agent's HTTP
// data plane: non-streamed and streamed chat, a completion, embeddings and
// the model list must all come back as the client expects them, unchanged.
// Usage: node check.mjs http://127.0.0.1:PORT/v1
// Prints one JSON line of what it saw; exits 1 on the first thing wrong.
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: "not-needed", maxRetries: 0, timeout: 20000 });
const seen = {};
const fail = (why) => {
  console.log(JSON.stringify({ ok: false, why, seen }));
  process.exit(1);
};

try {
  const chat = await client.chat.completions.create({
    model: "lm",
    messages: [{ role: "user", content: "This License" }],
    max_tokens: 12,
    user: "client-check",
  });
  seen.chat = chat.choices[0].message.content;
  if (chat.object !== "chat.completion" || typeof seen.chat !== "string" || !chat.usage)
    fail("chat answer malformed");

  const stream = await client.chat.completions.create({
    model: "lm",
    messages: [{ role: "user", content: "Permission is hereby granted" }],
    max_tokens: 12,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "", chunks = 0, usage = null, finish = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (choice) {
      text += choice.delta?.content ?? "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  seen.stream = { text, chunks, usage, finish };
  if (!usage || usage.completion_tokens !== text.length || !finish) fail("stream incomplete");

  const completion = await client.completions.create({ model: "lm", prompt: "The", max_tokens: 6 });
  seen.completion = completion.choices[0].text;
  if (completion.object !== "text_completion") fail("completion malformed");

  const embedding = await client.embeddings.create({ model: "lm", input: ["a", "b c"] });
  seen.embeddings = embedding.data.map((d) => d.embedding.length);
  if (embedding.data.length !== 2 || !(seen.embeddings[0] > 0)) fail("embeddings malformed");

  const models = await client.models.list();
  seen.models = models.data.map((m) => m.id);
  if (!seen.models.includes("lm")) fail("model list without lm");

  // An error the client must surface as its own APIError with the status.
  try {
    await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] });
    fail("unknown model accepted");
  } catch (e) {
    seen.error_status = e.status;
    if (e.status !== 404) fail("unknown model gave " + e.status);
  }
} catch (e) {
  fail(String(e && e.stack ? e.stack : e));
}
console.log(JSON.stringify({ ok: true, seen }));
