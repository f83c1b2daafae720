// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { JobState as _tuneserve_v1_JobState, JobState__Output as _tuneserve_v1_JobState__Output } from '../../tuneserve/v1/JobState';
import type { Timestamp as _google_protobuf_Timestamp, Timestamp__Output as _google_protobuf_Timestamp__Output } from '../../google/protobuf/Timestamp';
import type { EvalReport as _tuneserve_v1_EvalReport, EvalReport__Output as _tuneserve_v1_EvalReport__Output } from '../../tuneserve/v1/EvalReport';
import type { InvalidLine as _tuneserve_v1_InvalidLine, InvalidLine__Output as _tuneserve_v1_InvalidLine__Output } from '../../tuneserve/v1/InvalidLine';

export interface Job {
  'id'?: (string);
  'adapterName'?: (string);
  'state'?: (_tuneserve_v1_JobState);
  /**
   * For failed jobs: "invalid_data", "invalid_config", "training_error", "internal".
   */
  'errorCode'?: (string);
  'errorMessage'?: (string);
  'created'?: (_google_protobuf_Timestamp | null);
  'started'?: (_google_protobuf_Timestamp | null);
  'finished'?: (_google_protobuf_Timestamp | null);
  'step'?: (number);
  'totalSteps'?: (number);
  'trainLoss'?: (number | string);
  'validationLoss'?: (number | string);
  'trainExamples'?: (number);
  'holdoutExamples'?: (number);
  /**
   * Lines dropped as over-long (over_length = drop).
   */
  'droppedLines'?: (number)[];
  'report'?: (_tuneserve_v1_EvalReport | null);
  /**
   * "name@version" once published; empty otherwise.
   */
  'publishedAdapter'?: (string);
  /**
   * Why the adapter was not published, when it was not.
   */
  'publishNote'?: (string);
  /**
   * The job's configuration with every default filled in, as JSON.
   */
  'configJson'?: (string);
  /**
   * For error_code "invalid_data": the bad lines, each with its number and reason, in file and
   * line order. At most 10,000 are listed here; invalid_line_count says how many there are, and
   * the trainer keeps them all in its work directory (jobs/<id>/invalid_lines.txt).
   */
  'invalidLines'?: (_tuneserve_v1_InvalidLine)[];
  'invalidLineCount'?: (number);
  /**
   * Where the job runs or last ran: the executor ("thread", "process", "kubernetes") and its
   * place there ("pid 4242", "Job NAMESPACE/tuneserve-train-job-..."); empty before it starts.
   */
  'executor'?: (string);
  'placement'?: (string);
  /**
   * Runs that died without an outcome (a killed process, a lost node); each resumed from the
   * last checkpoint, until the trainer's job_retries is spent.
   */
  'attempts'?: (number);
  '_trainLoss'?: "trainLoss";
  '_validationLoss'?: "validationLoss";
}

export interface Job__Output {
  'id': (string);
  'adapterName': (string);
  'state': (_tuneserve_v1_JobState__Output);
  /**
   * For failed jobs: "invalid_data", "invalid_config", "training_error", "internal".
   */
  'errorCode': (string);
  'errorMessage': (string);
  'created': (_google_protobuf_Timestamp__Output | null);
  'started': (_google_protobuf_Timestamp__Output | null);
  'finished': (_google_protobuf_Timestamp__Output | null);
  'step': (number);
  'totalSteps': (number);
  'trainLoss'?: (number);
  'validationLoss'?: (number);
  'trainExamples': (number);
  'holdoutExamples': (number);
  /**
   * Lines dropped as over-long (over_length = drop).
   */
  'droppedLines': (number)[];
  'report': (_tuneserve_v1_EvalReport__Output | null);
  /**
   * "name@version" once published; empty otherwise.
   */
  'publishedAdapter': (string);
  /**
   * Why the adapter was not published, when it was not.
   */
  'publishNote': (string);
  /**
   * The job's configuration with every default filled in, as JSON.
   */
  'configJson': (string);
  /**
   * For error_code "invalid_data": the bad lines, each with its number and reason, in file and
   * line order. At most 10,000 are listed here; invalid_line_count says how many there are, and
   * the trainer keeps them all in its work directory (jobs/<id>/invalid_lines.txt).
   */
  'invalidLines': (_tuneserve_v1_InvalidLine__Output)[];
  'invalidLineCount': (number);
  /**
   * Where the job runs or last ran: the executor ("thread", "process", "kubernetes") and its
   * place there ("pid 4242", "Job NAMESPACE/tuneserve-train-job-..."); empty before it starts.
   */
  'executor': (string);
  'placement': (string);
  /**
   * Runs that died without an outcome (a killed process, a lost node); each resumed from the
   * last checkpoint, until the trainer's job_retries is spent.
   */
  'attempts': (number);
  '_trainLoss'?: "trainLoss";
  '_validationLoss'?: "validationLoss";
}
