// Original file: ../../proto/tuneserve/v1/tasks.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ClassifyBatchRequest as _tuneserve_v1_ClassifyBatchRequest, ClassifyBatchRequest__Output as _tuneserve_v1_ClassifyBatchRequest__Output } from '../../tuneserve/v1/ClassifyBatchRequest';
import type { ClassifyBatchResponse as _tuneserve_v1_ClassifyBatchResponse, ClassifyBatchResponse__Output as _tuneserve_v1_ClassifyBatchResponse__Output } from '../../tuneserve/v1/ClassifyBatchResponse';
import type { ClassifyRequest as _tuneserve_v1_ClassifyRequest, ClassifyRequest__Output as _tuneserve_v1_ClassifyRequest__Output } from '../../tuneserve/v1/ClassifyRequest';
import type { ClassifyResponse as _tuneserve_v1_ClassifyResponse, ClassifyResponse__Output as _tuneserve_v1_ClassifyResponse__Output } from '../../tuneserve/v1/ClassifyResponse';
import type { GenerateResponse as _tuneserve_v1_GenerateResponse, GenerateResponse__Output as _tuneserve_v1_GenerateResponse__Output } from '../../tuneserve/v1/GenerateResponse';
import type { GenerateStreamResponse as _tuneserve_v1_GenerateStreamResponse, GenerateStreamResponse__Output as _tuneserve_v1_GenerateStreamResponse__Output } from '../../tuneserve/v1/GenerateStreamResponse';
import type { GetTaskRequest as _tuneserve_v1_GetTaskRequest, GetTaskRequest__Output as _tuneserve_v1_GetTaskRequest__Output } from '../../tuneserve/v1/GetTaskRequest';
import type { ListTasksRequest as _tuneserve_v1_ListTasksRequest, ListTasksRequest__Output as _tuneserve_v1_ListTasksRequest__Output } from '../../tuneserve/v1/ListTasksRequest';
import type { ListTasksResponse as _tuneserve_v1_ListTasksResponse, ListTasksResponse__Output as _tuneserve_v1_ListTasksResponse__Output } from '../../tuneserve/v1/ListTasksResponse';
import type { RunTaskRequest as _tuneserve_v1_RunTaskRequest, RunTaskRequest__Output as _tuneserve_v1_RunTaskRequest__Output } from '../../tuneserve/v1/RunTaskRequest';
import type { TaskInfo as _tuneserve_v1_TaskInfo, TaskInfo__Output as _tuneserve_v1_TaskInfo__Output } from '../../tuneserve/v1/TaskInfo';

export interface TasksClient extends grpc.Client {
  /**
   * The most likely label of a classification task and a probability for every label. Every
   * label's whole token sequence is scored after the prompt in one batched pass, so the answer
   * can only be a label.
   */
  Classify(argument: _tuneserve_v1_ClassifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _tuneserve_v1_ClassifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _tuneserve_v1_ClassifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  Classify(argument: _tuneserve_v1_ClassifyRequest, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The most likely label of a classification task and a probability for every label. Every
   * label's whole token sequence is scored after the prompt in one batched pass, so the answer
   * can only be a label.
   */
  classify(argument: _tuneserve_v1_ClassifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _tuneserve_v1_ClassifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _tuneserve_v1_ClassifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  classify(argument: _tuneserve_v1_ClassifyRequest, callback: grpc.requestCallback<_tuneserve_v1_ClassifyResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Classify for many inputs in one call; the inputs are scored together.
   */
  ClassifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  ClassifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  ClassifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  ClassifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Classify for many inputs in one call; the inputs are scored together.
   */
  classifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  classifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  classifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  classifyBatch(argument: _tuneserve_v1_ClassifyBatchRequest, callback: grpc.requestCallback<_tuneserve_v1_ClassifyBatchResponse__Output>): grpc.ClientUnaryCall;
  
  GetTask(argument: _tuneserve_v1_GetTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _tuneserve_v1_GetTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _tuneserve_v1_GetTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  GetTask(argument: _tuneserve_v1_GetTaskRequest, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  getTask(argument: _tuneserve_v1_GetTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  getTask(argument: _tuneserve_v1_GetTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  getTask(argument: _tuneserve_v1_GetTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  getTask(argument: _tuneserve_v1_GetTaskRequest, callback: grpc.requestCallback<_tuneserve_v1_TaskInfo__Output>): grpc.ClientUnaryCall;
  
  ListTasks(argument: _tuneserve_v1_ListTasksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _tuneserve_v1_ListTasksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _tuneserve_v1_ListTasksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  ListTasks(argument: _tuneserve_v1_ListTasksRequest, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _tuneserve_v1_ListTasksRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _tuneserve_v1_ListTasksRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _tuneserve_v1_ListTasksRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  listTasks(argument: _tuneserve_v1_ListTasksRequest, callback: grpc.requestCallback<_tuneserve_v1_ListTasksResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Runs a generation task on an input, with the task's default decoding parameters.
   */
  RunTask(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  RunTask(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  RunTask(argument: _tuneserve_v1_RunTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  RunTask(argument: _tuneserve_v1_RunTaskRequest, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Runs a generation task on an input, with the task's default decoding parameters.
   */
  runTask(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  runTask(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  runTask(argument: _tuneserve_v1_RunTaskRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  runTask(argument: _tuneserve_v1_RunTaskRequest, callback: grpc.requestCallback<_tuneserve_v1_GenerateResponse__Output>): grpc.ClientUnaryCall;
  
  RunTaskStream(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  RunTaskStream(argument: _tuneserve_v1_RunTaskRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  runTaskStream(argument: _tuneserve_v1_RunTaskRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  runTaskStream(argument: _tuneserve_v1_RunTaskRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_GenerateStreamResponse__Output>;
  
}

export interface TasksHandlers extends grpc.UntypedServiceImplementation {
  /**
   * The most likely label of a classification task and a probability for every label. Every
   * label's whole token sequence is scored after the prompt in one batched pass, so the answer
   * can only be a label.
   */
  Classify: grpc.handleUnaryCall<_tuneserve_v1_ClassifyRequest__Output, _tuneserve_v1_ClassifyResponse>;
  
  /**
   * Classify for many inputs in one call; the inputs are scored together.
   */
  ClassifyBatch: grpc.handleUnaryCall<_tuneserve_v1_ClassifyBatchRequest__Output, _tuneserve_v1_ClassifyBatchResponse>;
  
  GetTask: grpc.handleUnaryCall<_tuneserve_v1_GetTaskRequest__Output, _tuneserve_v1_TaskInfo>;
  
  ListTasks: grpc.handleUnaryCall<_tuneserve_v1_ListTasksRequest__Output, _tuneserve_v1_ListTasksResponse>;
  
  /**
   * Runs a generation task on an input, with the task's default decoding parameters.
   */
  RunTask: grpc.handleUnaryCall<_tuneserve_v1_RunTaskRequest__Output, _tuneserve_v1_GenerateResponse>;
  
  RunTaskStream: grpc.handleServerStreamingCall<_tuneserve_v1_RunTaskRequest__Output, _tuneserve_v1_GenerateStreamResponse>;
  
}

export interface TasksDefinition extends grpc.ServiceDefinition {
  Classify: MethodDefinition<_tuneserve_v1_ClassifyRequest, _tuneserve_v1_ClassifyResponse, _tuneserve_v1_ClassifyRequest__Output, _tuneserve_v1_ClassifyResponse__Output>
  ClassifyBatch: MethodDefinition<_tuneserve_v1_ClassifyBatchRequest, _tuneserve_v1_ClassifyBatchResponse, _tuneserve_v1_ClassifyBatchRequest__Output, _tuneserve_v1_ClassifyBatchResponse__Output>
  GetTask: MethodDefinition<_tuneserve_v1_GetTaskRequest, _tuneserve_v1_TaskInfo, _tuneserve_v1_GetTaskRequest__Output, _tuneserve_v1_TaskInfo__Output>
  ListTasks: MethodDefinition<_tuneserve_v1_ListTasksRequest, _tuneserve_v1_ListTasksResponse, _tuneserve_v1_ListTasksRequest__Output, _tuneserve_v1_ListTasksResponse__Output>
  RunTask: MethodDefinition<_tuneserve_v1_RunTaskRequest, _tuneserve_v1_GenerateResponse, _tuneserve_v1_RunTaskRequest__Output, _tuneserve_v1_GenerateResponse__Output>
  RunTaskStream: MethodDefinition<_tuneserve_v1_RunTaskRequest, _tuneserve_v1_GenerateStreamResponse, _tuneserve_v1_RunTaskRequest__Output, _tuneserve_v1_GenerateStreamResponse__Output>
}
