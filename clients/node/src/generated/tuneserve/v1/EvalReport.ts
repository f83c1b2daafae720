// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { ConditionResult as _tuneserve_v1_ConditionResult, ConditionResult__Output as _tuneserve_v1_ConditionResult__Output } from '../../tuneserve/v1/ConditionResult';
import type { ForgettingProbe as _tuneserve_v1_ForgettingProbe, ForgettingProbe__Output as _tuneserve_v1_ForgettingProbe__Output } from '../../tuneserve/v1/ForgettingProbe';
import type { ErrorExample as _tuneserve_v1_ErrorExample, ErrorExample__Output as _tuneserve_v1_ErrorExample__Output } from '../../tuneserve/v1/ErrorExample';
import type { DataNotes as _tuneserve_v1_DataNotes, DataNotes__Output as _tuneserve_v1_DataNotes__Output } from '../../tuneserve/v1/DataNotes';

export interface EvalReport {
  /**
   * "accuracy" or "exact_match".
   */
  'metric'?: (string);
  'holdoutExamples'?: (number);
  'baseZeroShot'?: (_tuneserve_v1_ConditionResult | null);
  'baseIcl'?: (_tuneserve_v1_ConditionResult | null);
  'adapter'?: (_tuneserve_v1_ConditionResult | null);
  'validationLoss'?: (number | string);
  'forgetting'?: (_tuneserve_v1_ForgettingProbe | null);
  'adapterBeatsIcl'?: (boolean);
  /**
   * Adapter minus k-shot baseline on the metric.
   */
  'margin'?: (number | string);
  /**
   * Classification: the labels, in the order of the confusion matrices.
   */
  'labels'?: (string)[];
  /**
   * A bounded sample of holdout examples with all three systems' answers.
   */
  'examples'?: (_tuneserve_v1_ErrorExample)[];
  'data'?: (_tuneserve_v1_DataNotes | null);
  '_validationLoss'?: "validationLoss";
}

export interface EvalReport__Output {
  /**
   * "accuracy" or "exact_match".
   */
  'metric': (string);
  'holdoutExamples': (number);
  'baseZeroShot': (_tuneserve_v1_ConditionResult__Output | null);
  'baseIcl': (_tuneserve_v1_ConditionResult__Output | null);
  'adapter': (_tuneserve_v1_ConditionResult__Output | null);
  'validationLoss'?: (number);
  'forgetting': (_tuneserve_v1_ForgettingProbe__Output | null);
  'adapterBeatsIcl': (boolean);
  /**
   * Adapter minus k-shot baseline on the metric.
   */
  'margin': (number);
  /**
   * Classification: the labels, in the order of the confusion matrices.
   */
  'labels': (string)[];
  /**
   * A bounded sample of holdout examples with all three systems' answers.
   */
  'examples': (_tuneserve_v1_ErrorExample__Output)[];
  'data': (_tuneserve_v1_DataNotes__Output | null);
  '_validationLoss'?: "validationLoss";
}
