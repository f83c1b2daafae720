// Original file: ../../proto/tuneserve/v1/tasks.proto

import type { LabelScore as _tuneserve_v1_LabelScore, LabelScore__Output as _tuneserve_v1_LabelScore__Output } from '../../tuneserve/v1/LabelScore';
import type { PromptInfo as _tuneserve_v1_PromptInfo, PromptInfo__Output as _tuneserve_v1_PromptInfo__Output } from '../../tuneserve/v1/PromptInfo';
import type { Usage as _tuneserve_v1_Usage, Usage__Output as _tuneserve_v1_Usage__Output } from '../../tuneserve/v1/Usage';
import type { Timings as _tuneserve_v1_Timings, Timings__Output as _tuneserve_v1_Timings__Output } from '../../tuneserve/v1/Timings';

export interface ClassifyResponse {
  'label'?: (string);
  /**
   * Every label, most likely first.
   */
  'scores'?: (_tuneserve_v1_LabelScore)[];
  'adapter'?: (string);
  'promptInfo'?: (_tuneserve_v1_PromptInfo | null);
  'usage'?: (_tuneserve_v1_Usage | null);
  'timings'?: (_tuneserve_v1_Timings | null);
  'requestId'?: (string);
  /**
   * The arm of the adapter's split that answered ("0 of 0=50 3=50"; 0 is the task's few-shot
   * prompt on the base model); empty outside a split.
   */
  'rolloutArm'?: (string);
}

export interface ClassifyResponse__Output {
  'label': (string);
  /**
   * Every label, most likely first.
   */
  'scores': (_tuneserve_v1_LabelScore__Output)[];
  'adapter': (string);
  'promptInfo': (_tuneserve_v1_PromptInfo__Output | null);
  'usage': (_tuneserve_v1_Usage__Output | null);
  'timings': (_tuneserve_v1_Timings__Output | null);
  'requestId': (string);
  /**
   * The arm of the adapter's split that answered ("0 of 0=50 3=50"; 0 is the task's few-shot
   * prompt on the base model); empty outside a split.
   */
  'rolloutArm': (string);
}
