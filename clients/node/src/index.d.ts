// Types of the tuneserve Node.js client. Field names are the proto's, in camelCase; enums are
// their proto names as strings; 64-bit integers are numbers.

import type * as grpc from "@grpc/grpc-js";

export { grpc };

/** The channels' service config: round robin over a target's addresses, retries on UNAVAILABLE. */
export const SERVICE_CONFIG: Record<string, unknown>;
/** Metadata key naming the adapter of a generation, for routers that hash on it. */
export const ADAPTER_HEADER: string;

export interface ClientOptions {
  /** Bearer token, sent as `authorization: Bearer <token>`. */
  token?: string;
  /** Use TLS (default: on when caFile or certFile is given). */
  tls?: boolean;
  /** PEM CA bundle that signed the server's certificate (default: system roots). */
  caFile?: string;
  /** Client certificate and key for servers that require mutual TLS. */
  certFile?: string;
  keyFile?: string;
  /** Deadline of each call in milliseconds (default 120000). */
  timeoutMs?: number;
  /** Retries of UNAVAILABLE with exponential backoff (default 3, from 250 ms). */
  retries?: number;
  backoffMs?: number;
  maxMessageBytes?: number;
}

export type StopReason =
  | "STOP_REASON_UNSPECIFIED"
  | "STOP_REASON_END_OF_SEQUENCE"
  | "STOP_REASON_MAX_TOKENS"
  | "STOP_REASON_STOP_SEQUENCE"
  | "STOP_REASON_TIME_LIMIT"
  | "STOP_REASON_CANCELLED";

export interface GenerationParameters {
  maxNewTokens?: number;
  minNewTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  repetitionPenalty?: number;
  stop?: string[];
  timeLimitMs?: number;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

export type DemonstrationSelection = "DEMONSTRATION_SELECTION_FIRST" | "DEMONSTRATION_SELECTION_RANDOM" | "DEMONSTRATION_SELECTION_SIMILAR";
export type DemonstrationOrder = "DEMONSTRATION_ORDER_AS_GIVEN" | "DEMONSTRATION_ORDER_MOST_SIMILAR_LAST";

export interface Demonstration {
  input: string;
  output: string;
}

export interface FewShotPrompt {
  instruction?: string;
  demonstrations?: Demonstration[];
  query: string;
  /** "" or "chat" (the model's chat template), or a plain template. */
  template?: string;
  inputFormat?: string;
  selection?: DemonstrationSelection;
  order?: DemonstrationOrder;
  seed?: number;
  maxDemonstrations?: number;
  maxPromptTokens?: number;
}

export interface GenerateRequest {
  prompt?: string;
  messages?: ChatMessage[];
  fewShot?: FewShotPrompt;
  adapter?: string;
  parameters?: GenerationParameters;
  requestId?: string;
}

export interface Usage {
  promptTokens: number;
  generatedTokens: number;
  cachedPromptTokens: number;
}

export interface Timings {
  queueMs: number;
  timeToFirstTokenMs: number;
  totalMs: number;
}

export interface PromptInfo {
  [field: string]: unknown;
}

export interface GenerateResponse {
  text: string;
  stopReason: StopReason;
  usage: Usage;
  timings: Timings;
  requestId: string;
  adapter: string;
  tokenIds: number[];
  stopSequence: string;
  promptInfo: PromptInfo | null;
}

export interface GenerateStreamResponse {
  text: string;
  tokenIds: number[];
  /** Set on the last message only. */
  stopReason: StopReason;
  usage: Usage | null;
  timings: Timings | null;
  requestId: string;
  adapter: string;
  stopSequence: string;
  promptInfo: PromptInfo | null;
}

export interface LabelScore {
  label: string;
  probability: number;
  logprob: number;
}

export interface ClassifyResponse {
  label: string;
  /** Every label, most likely first; probabilities sum to 1. */
  scores: LabelScore[];
  adapter: string;
  promptInfo: PromptInfo | null;
  usage: Usage;
  timings: Timings;
  requestId: string;
}

export interface CallOptions {
  timeoutMs?: number;
}

export class TuneserveError extends Error {
  /** gRPC status code (grpc.status). */
  code: number;
  /** The request field at fault, for invalid requests. */
  field: string;
  /** The server's id of the request, to find it in its log. */
  requestId: string;
  readonly retryable: boolean;
}
export class InvalidArgumentError extends TuneserveError {}
export class NotFoundError extends TuneserveError {}
export class AlreadyExistsError extends TuneserveError {}
export class FailedPreconditionError extends TuneserveError {}
export class ResourceExhaustedError extends TuneserveError {}
export class UnavailableError extends TuneserveError {}
export class DeadlineExceededError extends TuneserveError {}
export class CancelledError extends TuneserveError {}
export class UnauthenticatedError extends TuneserveError {}
export class PermissionDeniedError extends TuneserveError {}
export class InternalError extends TuneserveError {}

export function toTuneserveError(error: grpc.ServiceError): TuneserveError;
export function protoRoot(): string;

export class TuneserveClient {
  constructor(address?: string, options?: ClientOptions);
  close(): void;

  generate(request: GenerateRequest, options?: CallOptions): Promise<GenerateResponse>;
  generateStream(request: GenerateRequest, options?: CallOptions): AsyncIterable<GenerateStreamResponse>;
  tokenize(request: { text?: string; messages?: ChatMessage[] }): Promise<{ tokenIds: number[]; tokens: string[] } & Record<string, unknown>>;
  modelInfo(): Promise<Record<string, unknown>>;
  feedback(
    requestId: string,
    judgement: { label?: string; rating?: number; thumb?: "up" | "down" },
  ): Promise<{ requestId: string; adapter: string; rolloutArm: string; correct?: boolean }>;

  listTasks(): Promise<{ tasks: Record<string, unknown>[] } & Record<string, unknown>>;
  getTask(name: string): Promise<Record<string, unknown>>;
  classify(task: string, input: string, options?: CallOptions & { requestId?: string; routingKey?: string }): Promise<ClassifyResponse>;
  classifyBatch(task: string, inputs: string[], options?: CallOptions & { routingKey?: string }): Promise<{ results: ClassifyResponse[] }>;
  runTask(
    task: string,
    input: string,
    options?: CallOptions & { parameters?: GenerationParameters; requestId?: string; routingKey?: string },
  ): Promise<GenerateResponse>;
  runTaskStream(
    task: string,
    input: string,
    options?: CallOptions & { parameters?: GenerationParameters; requestId?: string; routingKey?: string },
  ): AsyncIterable<GenerateStreamResponse>;

  listAdapters(): Promise<{ adapters: Record<string, unknown>[] }>;
  loadAdapter(adapter: string): Promise<Record<string, unknown>>;
  unloadAdapter(adapter: string): Promise<Record<string, unknown>>;
  setCurrentVersion(name: string, version: number): Promise<Record<string, unknown>>;
  setRollout(
    name: string,
    weights?: Record<number, number>,
    options?: { shadow?: number; guard?: true | Record<string, number> },
  ): Promise<Record<string, unknown>>;
  clearRollout(name: string): Promise<Record<string, unknown>>;
  getExperiment(name: string): Promise<Record<string, unknown>>;

  getJob(id: string): Promise<Record<string, unknown>>;
  listJobs(request?: Record<string, unknown>): Promise<{ jobs: Record<string, unknown>[] }>;
  cancelJob(id: string): Promise<Record<string, unknown>>;
  watchJob(id: string, options?: CallOptions): AsyncIterable<Record<string, unknown>>;
}
