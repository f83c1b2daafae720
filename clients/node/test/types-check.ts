// Compiled with `tsc --noEmit` by the tests: the client's declared types, over the generated
// messages, must hold for a caller's ordinary use (and fail to compile where they drifted).
import { TuneserveClient, type GenerateRequest, type GenerateResponse__Output, type Job__Output } from "../src/index.js";

async function use(client: TuneserveClient): Promise<void> {
  const request: GenerateRequest = {
    messages: [{ role: "user", content: "Weather in Paris?" }],
    tools: [{ name: "get_weather", parameters: '{"type": "object"}' }],
    toolChoice: { mode: "TOOL_CHOICE_MODE_REQUIRED" },
    parameters: { maxNewTokens: 8, logprobs: true, topLogprobs: 2, structuredOutput: undefined },
    routingKey: "user-1",
  };
  const answer: GenerateResponse__Output = await client.generate(request);
  const calls: string[] = answer.toolCalls.map((call) => call.name);
  const first: number = answer.logprobs[0]?.logprob ?? 0;
  const reason: string = answer.stopReason;
  for await (const chunk of client.generateStream(request)) {
    const text: string = chunk.text;
    void text;
  }
  const job: Job__Output = await client.createJob({ adapterName: "sentiment", trainingData: Buffer.from("{}\n") });
  const state: string = job.state;
  const status = await client.health();
  void [calls, first, reason, state, status];
}
void use;
