// Calls a live tuneserve server (started by tests/clients/test_node_client.py, which passes its
// address, a token with the inference scope and a classification task in the environment).

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { InvalidArgumentError, NotFoundError, PermissionDeniedError, TuneserveClient, UnauthenticatedError } from "../src/index.js";

const address = process.env.TUNESERVE_TEST_ADDRESS;
const token = process.env.TUNESERVE_TEST_TOKEN;
const task = process.env.TUNESERVE_TEST_TASK ?? "sentiment";
if (!address || !token) throw new Error("set TUNESERVE_TEST_ADDRESS and TUNESERVE_TEST_TOKEN (see tests/clients/test_node_client.py)");

const client = new TuneserveClient(address, { token, timeoutMs: 120_000 });
after(() => client.close());

test("generate answers a prompt with usage, timings and a stop reason", async () => {
  const reply = await client.generate({ prompt: "The capital of France is", parameters: { maxNewTokens: 4 } });
  assert.equal(typeof reply.text, "string");
  assert.ok(reply.usage.promptTokens > 0);
  assert.ok(reply.usage.generatedTokens >= 1 && reply.usage.generatedTokens <= 4);
  assert.ok(["STOP_REASON_MAX_TOKENS", "STOP_REASON_END_OF_SEQUENCE"].includes(reply.stopReason));
  assert.ok(reply.timings.totalMs > 0);
});

test("generateStream yields deltas that add up to the unary answer", async () => {
  const request = { messages: [{ role: "user", content: "Say hello." }], parameters: { maxNewTokens: 6 } };
  const unary = await client.generate(request);
  let text = "";
  let last;
  for await (const message of client.generateStream(request)) {
    text += message.text;
    last = message;
  }
  assert.equal(text, unary.text, "greedy decoding gives the same text streamed or not");
  assert.equal(last.stopReason, unary.stopReason);
  assert.equal(last.usage.generatedTokens, unary.usage.generatedTokens);
});

test("classify returns a label of the task with probabilities summing to 1", async () => {
  const reply = await client.classify(task, "An absolute masterpiece, I loved every minute.");
  assert.equal(reply.label, "positive");
  const total = reply.scores.reduce((sum, s) => sum + s.probability, 0);
  assert.ok(Math.abs(total - 1) < 1e-6, `probabilities sum to ${total}`);
  assert.deepEqual(new Set(reply.scores.map((s) => s.label)), new Set(["positive", "negative"]));
});

test("feedback reaches the server: answers of the base model are not recorded, ratings are checked", async () => {
  const reply = await client.classify(task, "Dull.", { routingKey: "user-1" });
  assert.equal(reply.rolloutArm, "", "no split: no arm");
  await assert.rejects(client.feedback(reply.requestId, { label: "negative" }), NotFoundError);
  await assert.rejects(client.feedback(reply.requestId, { rating: 9 }), (error) => {
    assert.ok(error instanceof InvalidArgumentError);
    assert.equal(error.field, "rating");
    return true;
  });
});

test("a bad request is an InvalidArgumentError naming the field", async () => {
  await assert.rejects(client.generate({ prompt: "Hi", parameters: { topP: 1.5 } }), (error) => {
    assert.ok(error instanceof InvalidArgumentError);
    assert.equal(error.field, "parameters.top_p");
    return true;
  });
});

test("calls without a token, or with a wrong one, are UnauthenticatedError", async () => {
  for (const options of [{}, { token: "not-a-real-token" }]) {
    const stranger = new TuneserveClient(address, { ...options, retries: 0 });
    try {
      await assert.rejects(stranger.generate({ prompt: "Hi" }), (error) => error instanceof UnauthenticatedError && !error.retryable);
      await assert.rejects(async () => {
        for await (const _ of stranger.generateStream({ prompt: "Hi" })) {
          /* nothing arrives */
        }
      }, UnauthenticatedError);
    } finally {
      stranger.close();
    }
  }
});

test("an inference token cannot administer adapters", async () => {
  await assert.rejects(client.listAdapters(), PermissionDeniedError);
});

test("health reports SERVING and generations carry log-probabilities", async () => {
  assert.equal(await client.health(), "SERVING");
  const reply = await client.generate({ prompt: "The capital of France is", parameters: { maxNewTokens: 3, logprobs: true, topLogprobs: 2 } });
  assert.equal(reply.logprobs.length, reply.tokenIds.length);
  assert.ok(reply.logprobs.every((entry) => entry.logprob <= 0 && entry.topLogprobs.length === 2));
});

test("tool calls come back parsed", async () => {
  const reply = await client.generate({
    messages: [{ role: "user", content: "What is the weather in Paris?" }],
    tools: [{ name: "get_weather", parameters: JSON.stringify({ type: "object", properties: { city: { type: "string", maxLength: 20 } }, required: ["city"] }) }],
    toolChoice: { mode: "TOOL_CHOICE_MODE_REQUIRED" },
    parameters: { maxNewTokens: 60, temperature: 0 },
  });
  assert.equal(reply.toolCalls[0].name, "get_weather");
  assert.equal(typeof JSON.parse(reply.toolCalls[0].arguments).city, "string");
});
