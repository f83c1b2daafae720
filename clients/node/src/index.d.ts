// Types of the tuneserve Node.js client. The messages are generated from proto/ (src/generated,
// by `make proto`, checked current in CI), so they cannot drift from what the server speaks:
// field names in camelCase, enums as their proto names, 64-bit integers as numbers. A request
// type is what may be sent (every field optional); a response type (`__Output`) has every field.

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


import type { GenerateRequest, GenerateRequest__Output } from "./generated/tuneserve/v1/GenerateRequest";
import type { GenerateResponse, GenerateResponse__Output } from "./generated/tuneserve/v1/GenerateResponse";
import type { GenerateStreamResponse, GenerateStreamResponse__Output } from "./generated/tuneserve/v1/GenerateStreamResponse";
import type { GenerationParameters, GenerationParameters__Output } from "./generated/tuneserve/v1/GenerationParameters";
import type { ChatMessage, ChatMessage__Output } from "./generated/tuneserve/v1/ChatMessage";
import type { TokenizeRequest, TokenizeRequest__Output } from "./generated/tuneserve/v1/TokenizeRequest";
import type { TokenizeResponse, TokenizeResponse__Output } from "./generated/tuneserve/v1/TokenizeResponse";
import type { ModelInfoResponse, ModelInfoResponse__Output } from "./generated/tuneserve/v1/ModelInfoResponse";
import type { FeedbackResponse, FeedbackResponse__Output } from "./generated/tuneserve/v1/FeedbackResponse";
import type { ListTasksResponse, ListTasksResponse__Output } from "./generated/tuneserve/v1/ListTasksResponse";
import type { TaskInfo, TaskInfo__Output } from "./generated/tuneserve/v1/TaskInfo";
import type { ClassifyResponse, ClassifyResponse__Output } from "./generated/tuneserve/v1/ClassifyResponse";
import type { ClassifyBatchResponse, ClassifyBatchResponse__Output } from "./generated/tuneserve/v1/ClassifyBatchResponse";
import type { ListAdaptersResponse, ListAdaptersResponse__Output } from "./generated/tuneserve/v1/ListAdaptersResponse";
import type { AdapterInfo, AdapterInfo__Output } from "./generated/tuneserve/v1/AdapterInfo";
import type { ImportAdapterResponse, ImportAdapterResponse__Output } from "./generated/tuneserve/v1/ImportAdapterResponse";
import type { Experiment, Experiment__Output } from "./generated/tuneserve/v1/Experiment";
import type { GuardRule, GuardRule__Output } from "./generated/tuneserve/v1/GuardRule";
import type { CreateJobRequest, CreateJobRequest__Output } from "./generated/tuneserve/v1/CreateJobRequest";
import type { Job, Job__Output } from "./generated/tuneserve/v1/Job";
import type { ListJobsRequest, ListJobsRequest__Output } from "./generated/tuneserve/v1/ListJobsRequest";
import type { ListJobsResponse, ListJobsResponse__Output } from "./generated/tuneserve/v1/ListJobsResponse";
import type { JobEvent, JobEvent__Output } from "./generated/tuneserve/v1/JobEvent";
import type { JobReport, JobReport__Output } from "./generated/tuneserve/v1/JobReport";
import type { Review, Review__Output } from "./generated/tuneserve/v1/Review";
import type { ReviewSummary, ReviewSummary__Output } from "./generated/tuneserve/v1/ReviewSummary";
import type { StopReason as StopReasonValue, StopReason__Output as StopReason } from "./generated/tuneserve/v1/StopReason";
import type { Tool, Tool__Output } from "./generated/tuneserve/v1/Tool";
import type { ToolChoice, ToolChoice__Output } from "./generated/tuneserve/v1/ToolChoice";
import type { ToolCall, ToolCall__Output } from "./generated/tuneserve/v1/ToolCall";
import type { TokenLogprob, TokenLogprob__Output } from "./generated/tuneserve/v1/TokenLogprob";
import type { StructuredOutput, StructuredOutput__Output } from "./generated/tuneserve/v1/StructuredOutput";
import type { FewShotPrompt, FewShotPrompt__Output } from "./generated/tuneserve/v1/FewShotPrompt";
import type { Usage, Usage__Output } from "./generated/tuneserve/v1/Usage";
import type { Timings, Timings__Output } from "./generated/tuneserve/v1/Timings";
import type { PromptInfo, PromptInfo__Output } from "./generated/tuneserve/v1/PromptInfo";
import type { ListJobEventsResponse, ListJobEventsResponse__Output } from "./generated/tuneserve/v1/ListJobEventsResponse";
import type { TrainingFile, TrainingFile__Output } from "./generated/tuneserve/v1/TrainingFile";
import type { ListFilesResponse, ListFilesResponse__Output } from "./generated/tuneserve/v1/ListFilesResponse";
import type { HealthCheckResponse__Output } from "./generated/grpc/health/v1/HealthCheckResponse";

export type { GenerateRequest, GenerateRequest__Output };
export type { ListJobEventsResponse, ListJobEventsResponse__Output };
export type { TrainingFile, TrainingFile__Output };
export type { ListFilesResponse, ListFilesResponse__Output };
export type { GenerateResponse, GenerateResponse__Output };
export type { GenerateStreamResponse, GenerateStreamResponse__Output };
export type { GenerationParameters, GenerationParameters__Output };
export type { ChatMessage, ChatMessage__Output };
export type { TokenizeRequest, TokenizeRequest__Output };
export type { TokenizeResponse, TokenizeResponse__Output };
export type { ModelInfoResponse, ModelInfoResponse__Output };
export type { FeedbackResponse, FeedbackResponse__Output };
export type { ListTasksResponse, ListTasksResponse__Output };
export type { TaskInfo, TaskInfo__Output };
export type { ClassifyResponse, ClassifyResponse__Output };
export type { ClassifyBatchResponse, ClassifyBatchResponse__Output };
export type { ListAdaptersResponse, ListAdaptersResponse__Output };
export type { AdapterInfo, AdapterInfo__Output };
export type { ImportAdapterResponse, ImportAdapterResponse__Output };
export type { Experiment, Experiment__Output };
export type { GuardRule, GuardRule__Output };
export type { CreateJobRequest, CreateJobRequest__Output };
export type { Job, Job__Output };
export type { ListJobsRequest, ListJobsRequest__Output };
export type { ListJobsResponse, ListJobsResponse__Output };
export type { JobEvent, JobEvent__Output };
export type { JobReport, JobReport__Output };
export type { Review, Review__Output };
export type { ReviewSummary, ReviewSummary__Output };
export type { StopReason, StopReasonValue };
export type { Tool, Tool__Output };
export type { ToolChoice, ToolChoice__Output };
export type { ToolCall, ToolCall__Output };
export type { TokenLogprob, TokenLogprob__Output };
export type { StructuredOutput, StructuredOutput__Output };
export type { FewShotPrompt, FewShotPrompt__Output };
export type { Usage, Usage__Output };
export type { Timings, Timings__Output };
export type { PromptInfo, PromptInfo__Output };

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

  generate(request: GenerateRequest, options?: CallOptions): Promise<GenerateResponse__Output>;
  generateStream(request: GenerateRequest, options?: CallOptions): AsyncIterable<GenerateStreamResponse__Output>;
  tokenize(request: TokenizeRequest): Promise<TokenizeResponse__Output>;
  modelInfo(): Promise<ModelInfoResponse__Output>;
  feedback(requestId: string, judgement: { label?: string; rating?: number; thumb?: "up" | "down" }): Promise<FeedbackResponse__Output>;

  listTasks(): Promise<ListTasksResponse__Output>;
  getTask(name: string): Promise<TaskInfo__Output>;
  classify(task: string, input: string, options?: CallOptions & { requestId?: string; routingKey?: string }): Promise<ClassifyResponse__Output>;
  classifyBatch(task: string, inputs: string[], options?: CallOptions & { routingKey?: string }): Promise<ClassifyBatchResponse__Output>;
  runTask(
    task: string,
    input: string,
    options?: CallOptions & { parameters?: GenerationParameters; requestId?: string; routingKey?: string },
  ): Promise<GenerateResponse__Output>;
  runTaskStream(
    task: string,
    input: string,
    options?: CallOptions & { parameters?: GenerationParameters; requestId?: string; routingKey?: string },
  ): AsyncIterable<GenerateStreamResponse__Output>;

  listAdapters(): Promise<ListAdaptersResponse__Output>;
  getAdapter(name: string): Promise<AdapterInfo__Output>;
  importAdapter(
    directory: string,
    name: string,
    options?: CallOptions & { makeCurrent?: boolean; source?: string },
  ): Promise<ImportAdapterResponse__Output>;
  loadAdapter(adapter: string): Promise<AdapterInfo__Output>;
  unloadAdapter(adapter: string): Promise<AdapterInfo__Output>;
  setCurrentVersion(name: string, version: number): Promise<AdapterInfo__Output>;
  setRollout(
    name: string,
    weights?: Record<number, number>,
    options?: { shadow?: number; guard?: true | GuardRule },
  ): Promise<AdapterInfo__Output>;
  clearRollout(name: string): Promise<AdapterInfo__Output>;
  getExperiment(name: string): Promise<Experiment__Output>;

  createJob(request: CreateJobRequest, options?: CallOptions): Promise<Job__Output>;
  getJob(id: string): Promise<Job__Output>;
  listJobs(request?: ListJobsRequest): Promise<ListJobsResponse__Output>;
  cancelJob(id: string): Promise<Job__Output>;
  watchJob(id: string, options?: CallOptions): AsyncIterable<JobEvent__Output>;
  getJobReport(id: string): Promise<JobReport__Output>;
  reviewJob(id: string, reviews: Review[]): Promise<ReviewSummary__Output>;
  listJobEvents(id: string, options?: { afterSequence?: number; limit?: number }): Promise<ListJobEventsResponse__Output>;
  uploadFile(content: Buffer, options?: CallOptions & { filename?: string; purpose?: string }): Promise<TrainingFile__Output>;
  listFiles(options?: { purpose?: string; limit?: number; after?: string }): Promise<ListFilesResponse__Output>;
  getFile(id: string): Promise<TrainingFile__Output>;
  getFileContent(id: string): Promise<Buffer>;
  deleteFile(id: string): Promise<TrainingFile__Output>;

  health(service?: string): Promise<HealthCheckResponse__Output["status"]>;
}
