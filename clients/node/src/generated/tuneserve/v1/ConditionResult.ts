// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { LabelMetrics as _tuneserve_v1_LabelMetrics, LabelMetrics__Output as _tuneserve_v1_LabelMetrics__Output } from '../../tuneserve/v1/LabelMetrics';
import type { ConfusionRow as _tuneserve_v1_ConfusionRow, ConfusionRow__Output as _tuneserve_v1_ConfusionRow__Output } from '../../tuneserve/v1/ConfusionRow';

export interface ConditionResult {
  /**
   * Classification: share of holdout examples whose most likely label is the right one.
   */
  'accuracy'?: (number | string);
  /**
   * Generation: share of exact (normalised) matches, and mean token-overlap F1.
   */
  'exactMatch'?: (number | string);
  'tokenF1'?: (number | string);
  /**
   * Demonstrations in the prompt.
   */
  'shots'?: (number);
  /**
   * Classification: mean F1 over the labels present, per-label metrics, the confusion matrix
   * (rows: true label, columns: answered label, in EvalReport.labels order) and the expected
   * calibration error of the answered label's probability.
   */
  'macroF1'?: (number | string);
  'perLabel'?: (_tuneserve_v1_LabelMetrics)[];
  'confusion'?: (_tuneserve_v1_ConfusionRow)[];
  'calibrationError'?: (number | string);
  /**
   * Generation: mean words per reference word (verbosity), mean share of repeated word 3-grams,
   * and the shares of empty answers and of answers cut by the length limit.
   */
  'lengthRatio'?: (number | string);
  'repetitionRate'?: (number | string);
  'empty'?: (number | string);
  'truncated'?: (number | string);
  '_accuracy'?: "accuracy";
  '_exactMatch'?: "exactMatch";
  '_tokenF1'?: "tokenF1";
  '_macroF1'?: "macroF1";
  '_calibrationError'?: "calibrationError";
  '_lengthRatio'?: "lengthRatio";
  '_repetitionRate'?: "repetitionRate";
  '_empty'?: "empty";
  '_truncated'?: "truncated";
}

export interface ConditionResult__Output {
  /**
   * Classification: share of holdout examples whose most likely label is the right one.
   */
  'accuracy'?: (number);
  /**
   * Generation: share of exact (normalised) matches, and mean token-overlap F1.
   */
  'exactMatch'?: (number);
  'tokenF1'?: (number);
  /**
   * Demonstrations in the prompt.
   */
  'shots': (number);
  /**
   * Classification: mean F1 over the labels present, per-label metrics, the confusion matrix
   * (rows: true label, columns: answered label, in EvalReport.labels order) and the expected
   * calibration error of the answered label's probability.
   */
  'macroF1'?: (number);
  'perLabel': (_tuneserve_v1_LabelMetrics__Output)[];
  'confusion': (_tuneserve_v1_ConfusionRow__Output)[];
  'calibrationError'?: (number);
  /**
   * Generation: mean words per reference word (verbosity), mean share of repeated word 3-grams,
   * and the shares of empty answers and of answers cut by the length limit.
   */
  'lengthRatio'?: (number);
  'repetitionRate'?: (number);
  'empty'?: (number);
  'truncated'?: (number);
  '_accuracy'?: "accuracy";
  '_exactMatch'?: "exactMatch";
  '_tokenF1'?: "tokenF1";
  '_macroF1'?: "macroF1";
  '_calibrationError'?: "calibrationError";
  '_lengthRatio'?: "lengthRatio";
  '_repetitionRate'?: "repetitionRate";
  '_empty'?: "empty";
  '_truncated'?: "truncated";
}
