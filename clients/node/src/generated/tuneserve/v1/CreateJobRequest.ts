// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { TaskConfig as _tuneserve_v1_TaskConfig, TaskConfig__Output as _tuneserve_v1_TaskConfig__Output } from '../../tuneserve/v1/TaskConfig';
import type { Hyperparameters as _tuneserve_v1_Hyperparameters, Hyperparameters__Output as _tuneserve_v1_Hyperparameters__Output } from '../../tuneserve/v1/Hyperparameters';
import type { EvaluationConfig as _tuneserve_v1_EvaluationConfig, EvaluationConfig__Output as _tuneserve_v1_EvaluationConfig__Output } from '../../tuneserve/v1/EvaluationConfig';
import type { PublishPolicy as _tuneserve_v1_PublishPolicy, PublishPolicy__Output as _tuneserve_v1_PublishPolicy__Output } from '../../tuneserve/v1/PublishPolicy';
import type { OverLength as _tuneserve_v1_OverLength, OverLength__Output as _tuneserve_v1_OverLength__Output } from '../../tuneserve/v1/OverLength';
import type { Duplicates as _tuneserve_v1_Duplicates, Duplicates__Output as _tuneserve_v1_Duplicates__Output } from '../../tuneserve/v1/Duplicates';

export interface CreateJobRequest {
  /**
   * Name in the adapter store; the job publishes its next version.
   */
  'adapterName'?: (string);
  /**
   * JSONL, one example per line: {"prompt","completion"}, {"messages":[...]} or {"text","label"}.
   * Give the data inline or as a path on the trainer's filesystem (a shared volume).
   */
  'trainingData'?: (Buffer | Uint8Array | string);
  'trainingFile'?: (string);
  /**
   * Optional separate holdout data; otherwise validation_split of the data is held out.
   */
  'validationData'?: (Buffer | Uint8Array | string);
  'validationFile'?: (string);
  'validationSplit'?: (number | string);
  'task'?: (_tuneserve_v1_TaskConfig | null);
  'hyperparameters'?: (_tuneserve_v1_Hyperparameters | null);
  'evaluation'?: (_tuneserve_v1_EvaluationConfig | null);
  'publish'?: (_tuneserve_v1_PublishPolicy);
  'overLength'?: (_tuneserve_v1_OverLength);
  /**
   * Optimizer steps between checkpoints (default 50).
   */
  'checkpointEvery'?: (number);
  'duplicates'?: (_tuneserve_v1_Duplicates);
  /**
   * GPUs of the job's pod when the trainer runs jobs as Kubernetes Jobs (one training process per
   * GPU); unset: the trainer's job_gpus. Other executors ignore it.
   */
  'gpus'?: (number);
  /**
   * The data as files kept by UploadFile, instead of training_data / training_file.
   */
  'trainingFileId'?: (string);
  'validationFileId'?: (string);
  '_validationSplit'?: "validationSplit";
  '_checkpointEvery'?: "checkpointEvery";
  '_gpus'?: "gpus";
}

export interface CreateJobRequest__Output {
  /**
   * Name in the adapter store; the job publishes its next version.
   */
  'adapterName': (string);
  /**
   * JSONL, one example per line: {"prompt","completion"}, {"messages":[...]} or {"text","label"}.
   * Give the data inline or as a path on the trainer's filesystem (a shared volume).
   */
  'trainingData': (Buffer);
  'trainingFile': (string);
  /**
   * Optional separate holdout data; otherwise validation_split of the data is held out.
   */
  'validationData': (Buffer);
  'validationFile': (string);
  'validationSplit'?: (number);
  'task': (_tuneserve_v1_TaskConfig__Output | null);
  'hyperparameters': (_tuneserve_v1_Hyperparameters__Output | null);
  'evaluation': (_tuneserve_v1_EvaluationConfig__Output | null);
  'publish': (_tuneserve_v1_PublishPolicy__Output);
  'overLength': (_tuneserve_v1_OverLength__Output);
  /**
   * Optimizer steps between checkpoints (default 50).
   */
  'checkpointEvery'?: (number);
  'duplicates': (_tuneserve_v1_Duplicates__Output);
  /**
   * GPUs of the job's pod when the trainer runs jobs as Kubernetes Jobs (one training process per
   * GPU); unset: the trainer's job_gpus. Other executors ignore it.
   */
  'gpus'?: (number);
  /**
   * The data as files kept by UploadFile, instead of training_data / training_file.
   */
  'trainingFileId': (string);
  'validationFileId': (string);
  '_validationSplit'?: "validationSplit";
  '_checkpointEvery'?: "checkpointEvery";
  '_gpus'?: "gpus";
}
