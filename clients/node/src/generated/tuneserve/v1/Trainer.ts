// Original file: ../../proto/tuneserve/v1/trainer.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CancelJobRequest as _tuneserve_v1_CancelJobRequest, CancelJobRequest__Output as _tuneserve_v1_CancelJobRequest__Output } from '../../tuneserve/v1/CancelJobRequest';
import type { CreateJobRequest as _tuneserve_v1_CreateJobRequest, CreateJobRequest__Output as _tuneserve_v1_CreateJobRequest__Output } from '../../tuneserve/v1/CreateJobRequest';
import type { GetJobReportRequest as _tuneserve_v1_GetJobReportRequest, GetJobReportRequest__Output as _tuneserve_v1_GetJobReportRequest__Output } from '../../tuneserve/v1/GetJobReportRequest';
import type { GetJobRequest as _tuneserve_v1_GetJobRequest, GetJobRequest__Output as _tuneserve_v1_GetJobRequest__Output } from '../../tuneserve/v1/GetJobRequest';
import type { Job as _tuneserve_v1_Job, Job__Output as _tuneserve_v1_Job__Output } from '../../tuneserve/v1/Job';
import type { JobEvent as _tuneserve_v1_JobEvent, JobEvent__Output as _tuneserve_v1_JobEvent__Output } from '../../tuneserve/v1/JobEvent';
import type { JobReport as _tuneserve_v1_JobReport, JobReport__Output as _tuneserve_v1_JobReport__Output } from '../../tuneserve/v1/JobReport';
import type { ListJobsRequest as _tuneserve_v1_ListJobsRequest, ListJobsRequest__Output as _tuneserve_v1_ListJobsRequest__Output } from '../../tuneserve/v1/ListJobsRequest';
import type { ListJobsResponse as _tuneserve_v1_ListJobsResponse, ListJobsResponse__Output as _tuneserve_v1_ListJobsResponse__Output } from '../../tuneserve/v1/ListJobsResponse';
import type { ReviewJobRequest as _tuneserve_v1_ReviewJobRequest, ReviewJobRequest__Output as _tuneserve_v1_ReviewJobRequest__Output } from '../../tuneserve/v1/ReviewJobRequest';
import type { ReviewSummary as _tuneserve_v1_ReviewSummary, ReviewSummary__Output as _tuneserve_v1_ReviewSummary__Output } from '../../tuneserve/v1/ReviewSummary';
import type { WatchJobRequest as _tuneserve_v1_WatchJobRequest, WatchJobRequest__Output as _tuneserve_v1_WatchJobRequest__Output } from '../../tuneserve/v1/WatchJobRequest';

export interface TrainerClient extends grpc.Client {
  /**
   * Stops a job within seconds; a cancelled job never publishes an adapter.
   */
  CancelJob(argument: _tuneserve_v1_CancelJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _tuneserve_v1_CancelJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _tuneserve_v1_CancelJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CancelJob(argument: _tuneserve_v1_CancelJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  /**
   * Stops a job within seconds; a cancelled job never publishes an adapter.
   */
  cancelJob(argument: _tuneserve_v1_CancelJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _tuneserve_v1_CancelJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _tuneserve_v1_CancelJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  cancelJob(argument: _tuneserve_v1_CancelJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  
  /**
   * Queues a training job. The data is checked first (state VALIDATING); a job whose data has
   * invalid lines fails with error_code "invalid_data" and every bad line in error_message.
   */
  CreateJob(argument: _tuneserve_v1_CreateJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CreateJob(argument: _tuneserve_v1_CreateJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CreateJob(argument: _tuneserve_v1_CreateJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  CreateJob(argument: _tuneserve_v1_CreateJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  /**
   * Queues a training job. The data is checked first (state VALIDATING); a job whose data has
   * invalid lines fails with error_code "invalid_data" and every bad line in error_message.
   */
  createJob(argument: _tuneserve_v1_CreateJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  createJob(argument: _tuneserve_v1_CreateJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  createJob(argument: _tuneserve_v1_CreateJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  createJob(argument: _tuneserve_v1_CreateJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  
  GetJob(argument: _tuneserve_v1_GetJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _tuneserve_v1_GetJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _tuneserve_v1_GetJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  GetJob(argument: _tuneserve_v1_GetJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _tuneserve_v1_GetJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _tuneserve_v1_GetJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _tuneserve_v1_GetJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  getJob(argument: _tuneserve_v1_GetJobRequest, callback: grpc.requestCallback<_tuneserve_v1_Job__Output>): grpc.ClientUnaryCall;
  
  /**
   * The job's report as one self-contained HTML page (summary, loss curve, metrics, confusion
   * matrices, error analysis); FAILED_PRECONDITION until the job has been evaluated.
   */
  GetJobReport(argument: _tuneserve_v1_GetJobReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  GetJobReport(argument: _tuneserve_v1_GetJobReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  GetJobReport(argument: _tuneserve_v1_GetJobReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  GetJobReport(argument: _tuneserve_v1_GetJobReportRequest, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  /**
   * The job's report as one self-contained HTML page (summary, loss curve, metrics, confusion
   * matrices, error analysis); FAILED_PRECONDITION until the job has been evaluated.
   */
  getJobReport(argument: _tuneserve_v1_GetJobReportRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  getJobReport(argument: _tuneserve_v1_GetJobReportRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  getJobReport(argument: _tuneserve_v1_GetJobReportRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  getJobReport(argument: _tuneserve_v1_GetJobReportRequest, callback: grpc.requestCallback<_tuneserve_v1_JobReport__Output>): grpc.ClientUnaryCall;
  
  /**
   * Jobs, newest first.
   */
  ListJobs(argument: _tuneserve_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _tuneserve_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _tuneserve_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  ListJobs(argument: _tuneserve_v1_ListJobsRequest, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Jobs, newest first.
   */
  listJobs(argument: _tuneserve_v1_ListJobsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _tuneserve_v1_ListJobsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _tuneserve_v1_ListJobsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  listJobs(argument: _tuneserve_v1_ListJobsRequest, callback: grpc.requestCallback<_tuneserve_v1_ListJobsResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * Records people's judgements of the report's sampled answers (adapter vs k-shot prompt, or a
   * 1-5 rating); returns the job's review summary, which the report shows.
   */
  ReviewJob(argument: _tuneserve_v1_ReviewJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  ReviewJob(argument: _tuneserve_v1_ReviewJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  ReviewJob(argument: _tuneserve_v1_ReviewJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  ReviewJob(argument: _tuneserve_v1_ReviewJobRequest, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  /**
   * Records people's judgements of the report's sampled answers (adapter vs k-shot prompt, or a
   * 1-5 rating); returns the job's review summary, which the report shows.
   */
  reviewJob(argument: _tuneserve_v1_ReviewJobRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  reviewJob(argument: _tuneserve_v1_ReviewJobRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  reviewJob(argument: _tuneserve_v1_ReviewJobRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  reviewJob(argument: _tuneserve_v1_ReviewJobRequest, callback: grpc.requestCallback<_tuneserve_v1_ReviewSummary__Output>): grpc.ClientUnaryCall;
  
  /**
   * The job's events since `after_sequence`, then live ones until the job ends.
   */
  WatchJob(argument: _tuneserve_v1_WatchJobRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_JobEvent__Output>;
  WatchJob(argument: _tuneserve_v1_WatchJobRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_JobEvent__Output>;
  /**
   * The job's events since `after_sequence`, then live ones until the job ends.
   */
  watchJob(argument: _tuneserve_v1_WatchJobRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_JobEvent__Output>;
  watchJob(argument: _tuneserve_v1_WatchJobRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_tuneserve_v1_JobEvent__Output>;
  
}

export interface TrainerHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Stops a job within seconds; a cancelled job never publishes an adapter.
   */
  CancelJob: grpc.handleUnaryCall<_tuneserve_v1_CancelJobRequest__Output, _tuneserve_v1_Job>;
  
  /**
   * Queues a training job. The data is checked first (state VALIDATING); a job whose data has
   * invalid lines fails with error_code "invalid_data" and every bad line in error_message.
   */
  CreateJob: grpc.handleUnaryCall<_tuneserve_v1_CreateJobRequest__Output, _tuneserve_v1_Job>;
  
  GetJob: grpc.handleUnaryCall<_tuneserve_v1_GetJobRequest__Output, _tuneserve_v1_Job>;
  
  /**
   * The job's report as one self-contained HTML page (summary, loss curve, metrics, confusion
   * matrices, error analysis); FAILED_PRECONDITION until the job has been evaluated.
   */
  GetJobReport: grpc.handleUnaryCall<_tuneserve_v1_GetJobReportRequest__Output, _tuneserve_v1_JobReport>;
  
  /**
   * Jobs, newest first.
   */
  ListJobs: grpc.handleUnaryCall<_tuneserve_v1_ListJobsRequest__Output, _tuneserve_v1_ListJobsResponse>;
  
  /**
   * Records people's judgements of the report's sampled answers (adapter vs k-shot prompt, or a
   * 1-5 rating); returns the job's review summary, which the report shows.
   */
  ReviewJob: grpc.handleUnaryCall<_tuneserve_v1_ReviewJobRequest__Output, _tuneserve_v1_ReviewSummary>;
  
  /**
   * The job's events since `after_sequence`, then live ones until the job ends.
   */
  WatchJob: grpc.handleServerStreamingCall<_tuneserve_v1_WatchJobRequest__Output, _tuneserve_v1_JobEvent>;
  
}

export interface TrainerDefinition extends grpc.ServiceDefinition {
  CancelJob: MethodDefinition<_tuneserve_v1_CancelJobRequest, _tuneserve_v1_Job, _tuneserve_v1_CancelJobRequest__Output, _tuneserve_v1_Job__Output>
  CreateJob: MethodDefinition<_tuneserve_v1_CreateJobRequest, _tuneserve_v1_Job, _tuneserve_v1_CreateJobRequest__Output, _tuneserve_v1_Job__Output>
  GetJob: MethodDefinition<_tuneserve_v1_GetJobRequest, _tuneserve_v1_Job, _tuneserve_v1_GetJobRequest__Output, _tuneserve_v1_Job__Output>
  GetJobReport: MethodDefinition<_tuneserve_v1_GetJobReportRequest, _tuneserve_v1_JobReport, _tuneserve_v1_GetJobReportRequest__Output, _tuneserve_v1_JobReport__Output>
  ListJobs: MethodDefinition<_tuneserve_v1_ListJobsRequest, _tuneserve_v1_ListJobsResponse, _tuneserve_v1_ListJobsRequest__Output, _tuneserve_v1_ListJobsResponse__Output>
  ReviewJob: MethodDefinition<_tuneserve_v1_ReviewJobRequest, _tuneserve_v1_ReviewSummary, _tuneserve_v1_ReviewJobRequest__Output, _tuneserve_v1_ReviewSummary__Output>
  WatchJob: MethodDefinition<_tuneserve_v1_WatchJobRequest, _tuneserve_v1_JobEvent, _tuneserve_v1_WatchJobRequest__Output, _tuneserve_v1_JobEvent__Output>
}
