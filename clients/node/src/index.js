// Node.js client of tuneserve over @grpc/grpc-js, loading the same proto files as the server.
// Types are in index.d.ts; every failed call rejects with a TuneserveError subclass named after
// its gRPC status, carrying the field at fault and the request id the server logged.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const here = dirname(fileURLToPath(import.meta.url));

/** proto/ inside a packed package, else the repository's proto/ two levels up. */
export function protoRoot() {
  const packed = join(here, "..", "proto");
  return existsSync(packed) ? packed : join(here, "..", "..", "..", "proto");
}

const PROTO_FILES = [...["inference", "tasks", "adapters", "trainer"].map((name) => `tuneserve/v1/${name}.proto`), "grpc/health/v1/health.proto"];

// How a channel spreads calls over the replicas a target names (dns:///headless-service:50051,
// ipv4:a:p,b:p): round robin per call, and gRPC's own retries on UNAVAILABLE for the calls that are
// safe to repeat. The same config as the Python client's (tuneserve_client/routing.py, where the
// choices are explained; a test keeps the two equal). grpc-js skips the health-checking part:
// a draining replica answers UNAVAILABLE, which is retried on another.
export const SERVICE_CONFIG = {
  "loadBalancingConfig": [
    {
      "round_robin": {}
    }
  ],
  "healthCheckConfig": {
    "serviceName": ""
  },
  "methodConfig": [
    {
      "name": [
        {
          "service": "tuneserve.v1.Inference"
        },
        {
          "service": "tuneserve.v1.Tasks"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "ListAdapters"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "GetAdapter"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "LoadAdapter"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "UnloadAdapter"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "SetCurrentVersion"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "SetRollout"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "ClearRollout"
        },
        {
          "service": "tuneserve.v1.Adapters",
          "method": "GetExperiment"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "GetJob"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "ListJobs"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "CancelJob"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "WatchJob"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "GetJobReport"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "ReviewJob"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "ListJobEvents"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "ListFiles"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "GetFile"
        },
        {
          "service": "tuneserve.v1.Trainer",
          "method": "GetFileContent"
        },
        {
          "service": "grpc.health.v1.Health",
          "method": "Check"
        }
      ],
      "retryPolicy": {
        "maxAttempts": 4,
        "initialBackoff": "0.05s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": [
          "UNAVAILABLE"
        ]
      }
    }
  ]
};
// Header naming the adapter of a generation, for routers that hash on it.
export const ADAPTER_HEADER = "x-tuneserve-adapter";

let loaded;
function definitions() {
  if (!loaded) {
    const packageDefinition = protoLoader.loadSync(PROTO_FILES, {
      includeDirs: [protoRoot()],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const root = grpc.loadPackageDefinition(packageDefinition);
    loaded = { ...root.tuneserve.v1, Health: root.grpc.health.v1.Health };
  }
  return loaded;
}

// -- errors -----------------------------------------------------------------------------------

export class TuneserveError extends Error {
  constructor(message, { code = grpc.status.UNKNOWN, field = "", requestId = "" } = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
  }
  get retryable() {
    return this.code === grpc.status.UNAVAILABLE;
  }
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

const ERROR_BY_CODE = new Map([
  [grpc.status.INVALID_ARGUMENT, InvalidArgumentError],
  [grpc.status.OUT_OF_RANGE, InvalidArgumentError],
  [grpc.status.NOT_FOUND, NotFoundError],
  [grpc.status.ALREADY_EXISTS, AlreadyExistsError],
  [grpc.status.FAILED_PRECONDITION, FailedPreconditionError],
  [grpc.status.RESOURCE_EXHAUSTED, ResourceExhaustedError],
  [grpc.status.UNAVAILABLE, UnavailableError],
  [grpc.status.DEADLINE_EXCEEDED, DeadlineExceededError],
  [grpc.status.CANCELLED, CancelledError],
  [grpc.status.UNAUTHENTICATED, UnauthenticatedError],
  [grpc.status.PERMISSION_DENIED, PermissionDeniedError],
  [grpc.status.INTERNAL, InternalError],
]);

/** The typed error of a grpc-js ServiceError. */
export function toTuneserveError(error) {
  const metadata = error.metadata;
  const first = (key) => (metadata ? String(metadata.get(key)[0] ?? "") : "");
  const Class = ERROR_BY_CODE.get(error.code) ?? TuneserveError;
  return new Class(error.details || error.message, { code: error.code, field: first("tuneserve-field"), requestId: first("x-request-id") });
}

// -- client -----------------------------------------------------------------------------------

function credentials({ tls, caFile, certFile, keyFile }) {
  const secure = tls ?? Boolean(caFile || certFile);
  if (!secure) return grpc.credentials.createInsecure();
  const read = (path) => (path ? readFileSync(path) : null);
  return grpc.credentials.createSsl(read(caFile), read(keyFile), read(certFile));
}

const IMPORT_CHUNK_BYTES = 1 << 20; // under the default 4 MiB message limit
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class TuneserveClient {
  /**
   * @param {string} address host:port of the server (or of the trainer for trainer calls)
   * @param {import("./index.js").ClientOptions} [options]
   */
  constructor(address = "127.0.0.1:50051", options = {}) {
    const { token, timeoutMs = 120_000, retries = 3, backoffMs = 250, maxMessageBytes = 4 * 1024 * 1024 } = options;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.backoffMs = backoffMs;
    this.metadata = new grpc.Metadata();
    if (token) this.metadata.set("authorization", `Bearer ${token}`);
    const v1 = definitions();
    const channelOptions = {
      "grpc.max_receive_message_length": maxMessageBytes,
      "grpc.max_send_message_length": maxMessageBytes,
      "grpc.service_config": JSON.stringify(SERVICE_CONFIG),
      "grpc.enable_retries": 1,
      "grpc.initial_reconnect_backoff_ms": 500,
      "grpc.max_reconnect_backoff_ms": 5000,
      "grpc.dns_min_time_between_resolutions_ms": 5000,
    };
    const creds = credentials(options);
    this.inference = new v1.Inference(address, creds, channelOptions);
    const channelOverride = this.inference.getChannel();
    const share = { ...channelOptions, channelOverride };
    this.tasks = new v1.Tasks(address, creds, share);
    this.adapters = new v1.Adapters(address, creds, share);
    this.trainer = new v1.Trainer(address, creds, share);
    this.healthService = new v1.Health(address, creds, share);
  }

  close() {
    this.inference.close(); // the other stubs share its channel
  }

  _deadline(timeoutMs) {
    return new Date(Date.now() + (timeoutMs ?? this.timeoutMs));
  }

  /** The call's metadata: the client's, plus the adapter's name when the request names one. */
  _metadata(request) {
    const adapter = request?.adapter;
    if (!adapter || !/^[\x20-\x7e]+$/.test(adapter)) return this.metadata;
    const metadata = this.metadata.clone();
    metadata.set(ADAPTER_HEADER, adapter);
    return metadata;
  }

  /**
   * A unary call, retried with exponential backoff on UNAVAILABLE only, and only where a second
   * attempt cannot act twice (`retry` false for CreateJob and ImportAdapter).
   */
  async _unary(stub, method, request, timeoutMs, { retry = true } = {}) {
    const metadata = this._metadata(request);
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise((resolve, reject) => {
          stub[method](request, metadata, { deadline: this._deadline(timeoutMs) }, (error, response) =>
            error ? reject(toTuneserveError(error)) : resolve(response),
          );
        });
      } catch (error) {
        if (!retry || !error.retryable || attempt >= this.retries) throw error;
        await sleep(this.backoffMs * 2 ** attempt);
      }
    }
  }

  /** A server-streaming call as an async iterator; errors are thrown from the iteration. */
  async *_stream(stub, method, request, timeoutMs) {
    const call = stub[method](request, this._metadata(request), { deadline: this._deadline(timeoutMs) });
    try {
      for await (const message of call) yield message;
    } catch (error) {
      throw error.code !== undefined ? toTuneserveError(error) : error;
    } finally {
      call.cancel();
    }
  }

  // -- inference --

  /** Generate from a prompt, chat messages or a few-shot prompt; see GenerateRequest in inference.proto. */
  generate(request, { timeoutMs } = {}) {
    return this._unary(this.inference, "Generate", request, timeoutMs);
  }

  /** Token deltas as they are generated; the last message carries stopReason, usage and timings. */
  generateStream(request, { timeoutMs } = {}) {
    return this._stream(this.inference, "GenerateStream", request, timeoutMs);
  }

  tokenize(request) {
    return this._unary(this.inference, "Tokenize", request);
  }

  modelInfo() {
    return this._unary(this.inference, "ModelInfo", {});
  }

  // -- tasks --

  listTasks() {
    return this._unary(this.tasks, "ListTasks", {});
  }

  getTask(name) {
    return this._unary(this.tasks, "GetTask", { name });
  }

  /**
   * Judges an earlier answer by its request id: the correct `label`, a 1-5 `rating` and/or
   * `thumb` "up" or "down" (for the experiment report of the adapter that answered).
   */
  feedback(requestId, { label, rating, thumb } = {}) {
    const request = { requestId, label, rating, thumb: thumb ? `THUMB_${thumb.toUpperCase()}` : "THUMB_UNSPECIFIED" };
    return this._unary(this.inference, "Feedback", request);
  }

  /**
   * The best label of `input` for a classification task, with a probability for every label.
   * `routingKey` (a user or session id) keeps a caller on one arm of the task adapter's split.
   */
  classify(task, input, { requestId = "", routingKey = "", timeoutMs } = {}) {
    return this._unary(this.tasks, "Classify", { task, input, requestId, routingKey }, timeoutMs);
  }

  classifyBatch(task, inputs, { routingKey = "", timeoutMs } = {}) {
    return this._unary(this.tasks, "ClassifyBatch", { task, inputs, routingKey }, timeoutMs);
  }

  runTask(task, input, { parameters, requestId = "", routingKey = "", timeoutMs } = {}) {
    return this._unary(this.tasks, "RunTask", { task, input, parameters, requestId, routingKey }, timeoutMs);
  }

  runTaskStream(task, input, { parameters, requestId = "", routingKey = "", timeoutMs } = {}) {
    return this._stream(this.tasks, "RunTaskStream", { task, input, parameters, requestId, routingKey }, timeoutMs);
  }

  // -- adapters (admin scope) --

  listAdapters() {
    return this._unary(this.adapters, "ListAdapters", {});
  }

  getAdapter(name) {
    return this._unary(this.adapters, "GetAdapter", { name });
  }

  /**
   * Publishes a plain PEFT adapter directory (adapter_config.json, adapter_model.safetensors,
   * README.md if there) as the next version of `name`. Never retried: it would make two versions.
   */
  importAdapter(directory, name, { makeCurrent = true, source = "", timeoutMs } = {}) {
    const files = ["adapter_config.json", "adapter_model.safetensors", "README.md"].filter((file) => existsSync(join(directory, file)));
    return new Promise((resolve, reject) => {
      const call = this.adapters.ImportAdapter(this.metadata, { deadline: this._deadline(timeoutMs) }, (error, response) =>
        error ? reject(toTuneserveError(error)) : resolve(response),
      );
      call.write({ header: { name, makeCurrent, source } });
      for (const fileName of files) {
        const data = readFileSync(join(directory, fileName));
        let start = 0;
        do {
          call.write({ chunk: { fileName, data: data.subarray(start, start + IMPORT_CHUNK_BYTES) } });
          start += IMPORT_CHUNK_BYTES;
        } while (start < data.length);
      }
      call.end();
    });
  }

  loadAdapter(adapter) {
    return this._unary(this.adapters, "LoadAdapter", { adapter });
  }

  unloadAdapter(adapter) {
    return this._unary(this.adapters, "UnloadAdapter", { adapter });
  }

  setCurrentVersion(name, version) {
    return this._unary(this.adapters, "SetCurrentVersion", { name, version });
  }

  /** Splits `name`'s traffic, e.g. { 3: 90, 4: 10 } (0: the prompting arm); `shadow` gets copies; `guard` rolls back a bad canary. */
  setRollout(name, weights = {}, { shadow = 0, guard } = {}) {
    return this._unary(this.adapters, "SetRollout", { name, weights, shadow, guard: guard === true ? {} : guard });
  }

  clearRollout(name) {
    return this._unary(this.adapters, "ClearRollout", { name });
  }

  /** Per arm of `name`'s rollout: requests, errors, latency, answers, feedback, accuracy and its significance. */
  getExperiment(name) {
    return this._unary(this.adapters, "GetExperiment", { name });
  }

  // -- trainer (train scope; point the client at the trainer's address) --

  /**
   * Submits a training job (CreateJobRequest: adapterName, trainingData as a Buffer or
   * trainingFile, task, hyperparameters, ...). Never retried: it would make a second job.
   */
  createJob(request, { timeoutMs } = {}) {
    return this._unary(this.trainer, "CreateJob", request, timeoutMs, { retry: false });
  }

  /** The job's self-contained HTML report, once it has been evaluated. */
  getJobReport(id) {
    return this._unary(this.trainer, "GetJobReport", { id });
  }

  /** Records judgements ({ line, verdict, rating, reviewer, note }) of the job's sampled answers. */
  reviewJob(id, reviews) {
    return this._unary(this.trainer, "ReviewJob", { id, reviews });
  }

  /** The job's events after `afterSequence` (at most `limit`), without waiting for more. */
  listJobEvents(id, { afterSequence = 0, limit = 0 } = {}) {
    return this._unary(this.trainer, "ListJobEvents", { id, afterSequence, limit });
  }

  /** Keeps a JSONL file (a Buffer) in the trainer for jobs to name (trainingFileId). Never retried. */
  uploadFile(content, { filename = "upload.jsonl", purpose = "fine-tune", timeoutMs } = {}) {
    return this._unary(this.trainer, "UploadFile", { filename, purpose, content }, timeoutMs, { retry: false });
  }

  listFiles({ purpose = "", limit = 100, after = "" } = {}) {
    return this._unary(this.trainer, "ListFiles", { purpose, limit, after });
  }

  getFile(id) {
    return this._unary(this.trainer, "GetFile", { id });
  }

  /** The file's bytes (a Buffer). */
  async getFileContent(id) {
    return (await this._unary(this.trainer, "GetFileContent", { id })).content;
  }

  /** Forgets a file (never retried: a second attempt would answer NOT_FOUND). */
  deleteFile(id) {
    return this._unary(this.trainer, "DeleteFile", { id }, undefined, { retry: false });
  }

  getJob(id) {
    return this._unary(this.trainer, "GetJob", { id });
  }

  listJobs(request = {}) {
    return this._unary(this.trainer, "ListJobs", request);
  }

  cancelJob(id) {
    return this._unary(this.trainer, "CancelJob", { id });
  }

  watchJob(id, { timeoutMs } = {}) {
    return this._stream(this.trainer, "WatchJob", { id }, timeoutMs);
  }

  // -- health --

  /** "SERVING", "NOT_SERVING" ... of the server (service "") or one of its services. */
  async health(service = "") {
    return (await this._unary(this.healthService, "Check", { service })).status;
  }
}

export { grpc };
