// Original file: ../../proto/tuneserve/v1/trainer.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { CancelJobRequest as _tuneserve_v1_CancelJobRequest, CancelJobRequest__Output as _tuneserve_v1_CancelJobRequest__Output } from '../../tuneserve/v1/CancelJobRequest';
import type { CreateJobRequest as _tuneserve_v1_CreateJobRequest, CreateJobRequest__Output as _tuneserve_v1_CreateJobRequest__Output } from '../../tuneserve/v1/CreateJobRequest';
import type { FileContent as _tuneserve_v1_FileContent, FileContent__Output as _tuneserve_v1_FileContent__Output } from '../../tuneserve/v1/FileContent';
import type { GetFileRequest as _tuneserve_v1_GetFileRequest, GetFileRequest__Output as _tuneserve_v1_GetFileRequest__Output } from '../../tuneserve/v1/GetFileRequest';
import type { GetJobReportRequest as _tuneserve_v1_GetJobReportRequest, GetJobReportRequest__Output as _tuneserve_v1_GetJobReportRequest__Output } from '../../tuneserve/v1/GetJobReportRequest';
import type { GetJobRequest as _tuneserve_v1_GetJobRequest, GetJobRequest__Output as _tuneserve_v1_GetJobRequest__Output } from '../../tuneserve/v1/GetJobRequest';
import type { Job as _tuneserve_v1_Job, Job__Output as _tuneserve_v1_Job__Output } from '../../tuneserve/v1/Job';
import type { JobEvent as _tuneserve_v1_JobEvent, JobEvent__Output as _tuneserve_v1_JobEvent__Output } from '../../tuneserve/v1/JobEvent';
import type { JobReport as _tuneserve_v1_JobReport, JobReport__Output as _tuneserve_v1_JobReport__Output } from '../../tuneserve/v1/JobReport';
import type { ListFilesRequest as _tuneserve_v1_ListFilesRequest, ListFilesRequest__Output as _tuneserve_v1_ListFilesRequest__Output } from '../../tuneserve/v1/ListFilesRequest';
import type { ListFilesResponse as _tuneserve_v1_ListFilesResponse, ListFilesResponse__Output as _tuneserve_v1_ListFilesResponse__Output } from '../../tuneserve/v1/ListFilesResponse';
import type { ListJobEventsRequest as _tuneserve_v1_ListJobEventsRequest, ListJobEventsRequest__Output as _tuneserve_v1_ListJobEventsRequest__Output } from '../../tuneserve/v1/ListJobEventsRequest';
import type { ListJobEventsResponse as _tuneserve_v1_ListJobEventsResponse, ListJobEventsResponse__Output as _tuneserve_v1_ListJobEventsResponse__Output } from '../../tuneserve/v1/ListJobEventsResponse';
import type { ListJobsRequest as _tuneserve_v1_ListJobsRequest, ListJobsRequest__Output as _tuneserve_v1_ListJobsRequest__Output } from '../../tuneserve/v1/ListJobsRequest';
import type { ListJobsResponse as _tuneserve_v1_ListJobsResponse, ListJobsResponse__Output as _tuneserve_v1_ListJobsResponse__Output } from '../../tuneserve/v1/ListJobsResponse';
import type { ReviewJobRequest as _tuneserve_v1_ReviewJobRequest, ReviewJobRequest__Output as _tuneserve_v1_ReviewJobRequest__Output } from '../../tuneserve/v1/ReviewJobRequest';
import type { ReviewSummary as _tuneserve_v1_ReviewSummary, ReviewSummary__Output as _tuneserve_v1_ReviewSummary__Output } from '../../tuneserve/v1/ReviewSummary';
import type { TrainingFile as _tuneserve_v1_TrainingFile, TrainingFile__Output as _tuneserve_v1_TrainingFile__Output } from '../../tuneserve/v1/TrainingFile';
import type { UploadFileRequest as _tuneserve_v1_UploadFileRequest, UploadFileRequest__Output as _tuneserve_v1_UploadFileRequest__Output } from '../../tuneserve/v1/UploadFileRequest';
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
  
  /**
   * Forgets a file; jobs made from it keep their own copy of the data.
   */
  DeleteFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  DeleteFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  DeleteFile(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  DeleteFile(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  /**
   * Forgets a file; jobs made from it keep their own copy of the data.
   */
  deleteFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  deleteFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  deleteFile(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  deleteFile(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  
  GetFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  GetFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  GetFile(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  GetFile(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  getFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  getFile(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  getFile(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  getFile(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  
  GetFileContent(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  GetFileContent(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  GetFileContent(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  GetFileContent(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  getFileContent(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  getFileContent(argument: _tuneserve_v1_GetFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  getFileContent(argument: _tuneserve_v1_GetFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  getFileContent(argument: _tuneserve_v1_GetFileRequest, callback: grpc.requestCallback<_tuneserve_v1_FileContent__Output>): grpc.ClientUnaryCall;
  
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
   * Files, newest first.
   */
  ListFiles(argument: _tuneserve_v1_ListFilesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  ListFiles(argument: _tuneserve_v1_ListFilesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  ListFiles(argument: _tuneserve_v1_ListFilesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  ListFiles(argument: _tuneserve_v1_ListFilesRequest, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Files, newest first.
   */
  listFiles(argument: _tuneserve_v1_ListFilesRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  listFiles(argument: _tuneserve_v1_ListFilesRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  listFiles(argument: _tuneserve_v1_ListFilesRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  listFiles(argument: _tuneserve_v1_ListFilesRequest, callback: grpc.requestCallback<_tuneserve_v1_ListFilesResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The job's events since `after_sequence`, at most `limit` of them, without waiting for more.
   */
  ListJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  ListJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  ListJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  ListJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  /**
   * The job's events since `after_sequence`, at most `limit` of them, without waiting for more.
   */
  listJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  listJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  listJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  listJobEvents(argument: _tuneserve_v1_ListJobEventsRequest, callback: grpc.requestCallback<_tuneserve_v1_ListJobEventsResponse__Output>): grpc.ClientUnaryCall;
  
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
   * Keeps a JSONL file of examples for jobs to name by id (training_file_id): checked to be
   * UTF-8 JSON lines, at most the trainer's max_data_bytes, in the trainer's database.
   */
  UploadFile(argument: _tuneserve_v1_UploadFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  UploadFile(argument: _tuneserve_v1_UploadFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  UploadFile(argument: _tuneserve_v1_UploadFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  UploadFile(argument: _tuneserve_v1_UploadFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  /**
   * Keeps a JSONL file of examples for jobs to name by id (training_file_id): checked to be
   * UTF-8 JSON lines, at most the trainer's max_data_bytes, in the trainer's database.
   */
  uploadFile(argument: _tuneserve_v1_UploadFileRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  uploadFile(argument: _tuneserve_v1_UploadFileRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  uploadFile(argument: _tuneserve_v1_UploadFileRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  uploadFile(argument: _tuneserve_v1_UploadFileRequest, callback: grpc.requestCallback<_tuneserve_v1_TrainingFile__Output>): grpc.ClientUnaryCall;
  
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
  
  /**
   * Forgets a file; jobs made from it keep their own copy of the data.
   */
  DeleteFile: grpc.handleUnaryCall<_tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_TrainingFile>;
  
  GetFile: grpc.handleUnaryCall<_tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_TrainingFile>;
  
  GetFileContent: grpc.handleUnaryCall<_tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_FileContent>;
  
  GetJob: grpc.handleUnaryCall<_tuneserve_v1_GetJobRequest__Output, _tuneserve_v1_Job>;
  
  /**
   * The job's report as one self-contained HTML page (summary, loss curve, metrics, confusion
   * matrices, error analysis); FAILED_PRECONDITION until the job has been evaluated.
   */
  GetJobReport: grpc.handleUnaryCall<_tuneserve_v1_GetJobReportRequest__Output, _tuneserve_v1_JobReport>;
  
  /**
   * Files, newest first.
   */
  ListFiles: grpc.handleUnaryCall<_tuneserve_v1_ListFilesRequest__Output, _tuneserve_v1_ListFilesResponse>;
  
  /**
   * The job's events since `after_sequence`, at most `limit` of them, without waiting for more.
   */
  ListJobEvents: grpc.handleUnaryCall<_tuneserve_v1_ListJobEventsRequest__Output, _tuneserve_v1_ListJobEventsResponse>;
  
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
   * Keeps a JSONL file of examples for jobs to name by id (training_file_id): checked to be
   * UTF-8 JSON lines, at most the trainer's max_data_bytes, in the trainer's database.
   */
  UploadFile: grpc.handleUnaryCall<_tuneserve_v1_UploadFileRequest__Output, _tuneserve_v1_TrainingFile>;
  
  /**
   * The job's events since `after_sequence`, then live ones until the job ends.
   */
  WatchJob: grpc.handleServerStreamingCall<_tuneserve_v1_WatchJobRequest__Output, _tuneserve_v1_JobEvent>;
  
}

export interface TrainerDefinition extends grpc.ServiceDefinition {
  CancelJob: MethodDefinition<_tuneserve_v1_CancelJobRequest, _tuneserve_v1_Job, _tuneserve_v1_CancelJobRequest__Output, _tuneserve_v1_Job__Output>
  CreateJob: MethodDefinition<_tuneserve_v1_CreateJobRequest, _tuneserve_v1_Job, _tuneserve_v1_CreateJobRequest__Output, _tuneserve_v1_Job__Output>
  DeleteFile: MethodDefinition<_tuneserve_v1_GetFileRequest, _tuneserve_v1_TrainingFile, _tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_TrainingFile__Output>
  GetFile: MethodDefinition<_tuneserve_v1_GetFileRequest, _tuneserve_v1_TrainingFile, _tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_TrainingFile__Output>
  GetFileContent: MethodDefinition<_tuneserve_v1_GetFileRequest, _tuneserve_v1_FileContent, _tuneserve_v1_GetFileRequest__Output, _tuneserve_v1_FileContent__Output>
  GetJob: MethodDefinition<_tuneserve_v1_GetJobRequest, _tuneserve_v1_Job, _tuneserve_v1_GetJobRequest__Output, _tuneserve_v1_Job__Output>
  GetJobReport: MethodDefinition<_tuneserve_v1_GetJobReportRequest, _tuneserve_v1_JobReport, _tuneserve_v1_GetJobReportRequest__Output, _tuneserve_v1_JobReport__Output>
  ListFiles: MethodDefinition<_tuneserve_v1_ListFilesRequest, _tuneserve_v1_ListFilesResponse, _tuneserve_v1_ListFilesRequest__Output, _tuneserve_v1_ListFilesResponse__Output>
  ListJobEvents: MethodDefinition<_tuneserve_v1_ListJobEventsRequest, _tuneserve_v1_ListJobEventsResponse, _tuneserve_v1_ListJobEventsRequest__Output, _tuneserve_v1_ListJobEventsResponse__Output>
  ListJobs: MethodDefinition<_tuneserve_v1_ListJobsRequest, _tuneserve_v1_ListJobsResponse, _tuneserve_v1_ListJobsRequest__Output, _tuneserve_v1_ListJobsResponse__Output>
  ReviewJob: MethodDefinition<_tuneserve_v1_ReviewJobRequest, _tuneserve_v1_ReviewSummary, _tuneserve_v1_ReviewJobRequest__Output, _tuneserve_v1_ReviewSummary__Output>
  UploadFile: MethodDefinition<_tuneserve_v1_UploadFileRequest, _tuneserve_v1_TrainingFile, _tuneserve_v1_UploadFileRequest__Output, _tuneserve_v1_TrainingFile__Output>
  WatchJob: MethodDefinition<_tuneserve_v1_WatchJobRequest, _tuneserve_v1_JobEvent, _tuneserve_v1_WatchJobRequest__Output, _tuneserve_v1_JobEvent__Output>
}
