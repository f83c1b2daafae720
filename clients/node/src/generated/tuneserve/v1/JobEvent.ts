// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';
import type { Job as _tuneserve_v1_Job, Job__Output as _tuneserve_v1_Job__Output } from '../../tuneserve/v1/Job';
import type { TrainingProgress as _tuneserve_v1_TrainingProgress, TrainingProgress__Output as _tuneserve_v1_TrainingProgress__Output } from '../../tuneserve/v1/TrainingProgress';
import type { EvalReport as _tuneserve_v1_EvalReport, EvalReport__Output as _tuneserve_v1_EvalReport__Output } from '../../tuneserve/v1/EvalReport';
import type { Long } from '@grpc/proto-loader';

export interface JobEvent {
  'sequence'?: (number | string | Long);
  'jobId'?: (string);
  'time'?: (_google_protobuf_Timestamp | null);
  /**
   * The job moved to a new state (with the error for FAILED).
   */
  'stateChange'?: (_tuneserve_v1_Job | null);
  'progress'?: (_tuneserve_v1_TrainingProgress | null);
  'evaluation'?: (_tuneserve_v1_EvalReport | null);
  /**
   * A human-readable line: data summary, resumption, publication.
   */
  'message'?: (string);
  'event'?: "stateChange"|"progress"|"evaluation"|"message";
}

export interface JobEvent__Output {
  'sequence': (number);
  'jobId': (string);
  'time': (_google_protobuf_Timestamp__Output | null);
  /**
   * The job moved to a new state (with the error for FAILED).
   */
  'stateChange'?: (_tuneserve_v1_Job__Output | null);
  'progress'?: (_tuneserve_v1_TrainingProgress__Output | null);
  'evaluation'?: (_tuneserve_v1_EvalReport__Output | null);
  /**
   * A human-readable line: data summary, resumption, publication.
   */
  'message'?: (string);
  'event'?: "stateChange"|"progress"|"evaluation"|"message";
}
