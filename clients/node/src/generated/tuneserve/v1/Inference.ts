// Original file: ../../proto/tuneserve/v1/inference.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FeedbackRequest as _tuneserve_v1_FeedbackRequest, FeedbackRequest__Output as _tuneserve_v1_FeedbackRequest__Output } from '../../tuneserve/v1/FeedbackRequest';
import type { FeedbackResponse as _tuneserve_v1_FeedbackResponse, FeedbackResponse__Output as _tuneserve_v1_FeedbackResponse__Output } from '../../tuneserve/v1/FeedbackResponse';
import type { GenerateRequest as _tuneserve_v1_GenerateRequest, GenerateRequest__Output as _tuneserve_v1_GenerateRequest__Output } from '../../tuneserve/v1/GenerateRequest';
import type { GenerateResponse as _tuneserve_v1_GenerateResponse, GenerateResponse__Output as _tuneserve_v1_GenerateResponse__Output } from '../../tuneserve/v1/GenerateResponse';
import type { GenerateStreamResponse as _tuneserve_v1_GenerateStreamResponse, GenerateStreamResponse__Output as _tuneserve_v1_GenerateStreamResponse__Output } from '../../tuneserve/v1/GenerateStreamResponse';
import type { ModelInfoRequest as _tuneserve_v1_ModelInfoRequest, ModelInfoRequest__Output as _tuneserve_v1_ModelInfoRequest__Output } from '../../tuneserve/v1/ModelInfoRequest';
import type { ModelInfoResponse as _tuneserve_v1_ModelInfoResponse, ModelInfoResponse__Output as _tuneserve_v1_ModelInfoResponse__Output } from '../../tuneserve/v1/ModelInfoResponse';
import type { TokenizeRequest as _tuneserve_v1_TokenizeRequest, TokenizeRequest__Output as _tuneserve_v1_TokenizeRequest__Output } from '../../tuneserve/v1/TokenizeRequest';
import type { TokenizeResponse as _tuneserve_v1_TokenizeResponse, TokenizeResponse__Output as _tuneserve_v1_TokenizeResponse__Output } from '../../tuneserve/v1/TokenizeResponse';

export interface InferenceClient extends grpc.Client {
  /**
   * Records a judgement of an answer given to a request for an adapter name (the correct label,
   * a 1-5 rating, thumbs up or down), by its request id, for the experiment report. Feedback
   * again on the same request replaces the fields it sets.
   */
  Feedback(argument: _tuneserve_v1_FeedbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  Feedback(argument: _tuneserve_v1_FeedbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  Feedback(argument: _tuneserve_v1_FeedbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  Feedback(argument: _tuneserve_v1_FeedbackRequest, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Records a judgement of an answer given to a request for an adapter name (the correct label,
   * a 1-5 rating, thumbs up or down), by its request id, for the experiment report. Feedback
   * again on the same request replaces the fields it sets.
   */
  feedback(argument: _tuneserve_v1_FeedbackRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  feedback(argument: _tuneserve_v1_FeedbackRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  feedback(argument: _tuneserve_v1_FeedbackRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  feedback(argument: _tuneserve_v1_FeedbackRequest, callback: grpc.requestCallback<_tuneserve_v1_FeedbackResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Generates a completion and returns it whole.
   */
  Generate(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _tuneserve_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  Generate(argument: _tuneserve_v1_GenerateRequest, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Generates a completion and returns it whole.
   */
  generate(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _tuneserve_v1_GenerateRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  generate(argument: _tuneserve_v1_GenerateRequest, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Generates a completion and streams it as text deltas; the last message carries the stop
   * reason, usage and timings.
   */
  GenerateStream(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  GenerateStream(argument: _tuneserve_v1_GenerateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  /**
   * Generates a completion and streams it as text deltas; the last message carries the stop
   * reason, usage and timings.
   */
  generateStream(argument: _tuneserve_v1_GenerateRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  generateStream(argument: _tuneserve_v1_GenerateRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  
  /**
   * Describes the loaded base model and the server's limits.
   */
  ModelInfo(argument: _tuneserve_v1_ModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  ModelInfo(argument: _tuneserve_v1_ModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  ModelInfo(argument: _tuneserve_v1_ModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  ModelInfo(argument: _tuneserve_v1_ModelInfoRequest, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Describes the loaded base model and the server's limits.
   */
  modelInfo(argument: _tuneserve_v1_ModelInfoRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  modelInfo(argument: _tuneserve_v1_ModelInfoRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  modelInfo(argument: _tuneserve_v1_ModelInfoRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  modelInfo(argument: _tuneserve_v1_ModelInfoRequest, callback: grpc.requestCallback<_tuneserve_v1_ModelInfoResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Tokenizes text or chat messages the way Generate would.
   */
  Tokenize(argument: _tuneserve_v1_TokenizeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  Tokenize(argument: _tuneserve_v1_TokenizeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  Tokenize(argument: _tuneserve_v1_TokenizeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  Tokenize(argument: _tuneserve_v1_TokenizeRequest, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Tokenizes text or chat messages the way Generate would.
   */
  tokenize(argument: _tuneserve_v1_TokenizeRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  tokenize(argument: _tuneserve_v1_TokenizeRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  tokenize(argument: _tuneserve_v1_TokenizeRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  tokenize(argument: _tuneserve_v1_TokenizeRequest, callback: grpc.requestCallback<_tuneserve_v1_TokenizeResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface InferenceHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Records a judgement of an answer given to a request for an adapter name (the correct label,
   * a 1-5 rating, thumbs up or down), by its request id, for the experiment report. Feedback
   * again on the same request replaces the fields it sets.
   */
  Feedback: grpc.handleUnaryCall<_tuneserve_v1_FeedbackRequest__Output, _tuneserve_v1_FeedbackResponse>;
  
  /**
   * Generates a completion and returns it whole.
   */
  Generate: grpc.handleUnaryCall<_tuneserve_v1_GenerateRequest__Output, _tuneserve_v1_GenerateResponse>;
  
  /**
   * Generates a completion and streams it as text deltas; the last message carries the stop
   * reason, usage and timings.
   */
  GenerateStream: grpc.handleServerStreamingCall<_tuneserve_v1_GenerateRequest__Output, _tuneserve_v1_GenerateStreamResponse>;
  
  /**
   * Describes the loaded base model and the server's limits.
   */
  ModelInfo: grpc.handleUnaryCall<_tuneserve_v1_ModelInfoRequest__Output, _tuneserve_v1_ModelInfoResponse>;
  
  /**
   * Tokenizes text or chat messages the way Generate would.
   */
  Tokenize: grpc.handleUnaryCall<_tuneserve_v1_TokenizeRequest__Output, _tuneserve_v1_TokenizeResponse>;
  
}

export interface InferenceDefinition extends grpc.ServiceDefinition {
  Feedback: MethodDefinition<_tuneserve_v1_FeedbackRequest, _tuneserve_v1_FeedbackResponse, _tuneserve_v1_FeedbackRequest__Output, _tuneserve_v1_FeedbackResponse__Output>
  Generate: MethodDefinition<_tuneserve_v1_GenerateRequest, _tuneserve_v1_GenerateResponse, _tuneserve_v1_GenerateRequest__Output, _tuneserve_v1_GenerateResponse__Output>
  GenerateStream: MethodDefinition<_tuneserve_v1_GenerateRequest, _tuneserve_v1_GenerateStreamResponse, _tuneserve_v1_GenerateRequest__Output, _tuneserve_v1_GenerateStreamResponse__Output>
  ModelInfo: MethodDefinition<_tuneserve_v1_ModelInfoRequest, _tuneserve_v1_ModelInfoResponse, _tuneserve_v1_ModelInfoRequest__Output, _tuneserve_v1_ModelInfoResponse__Output>
  Tokenize: MethodDefinition<_tuneserve_v1_TokenizeRequest, _tuneserve_v1_TokenizeResponse, _tuneserve_v1_TokenizeRequest__Output, _tuneserve_v1_TokenizeResponse__Output>
}
