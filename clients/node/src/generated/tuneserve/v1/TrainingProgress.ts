// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Long } from '@grpc/proto-loader';

export interface TrainingProgress {
  'step'?: (number);
  'totalSteps'?: (number);
  'epoch'?: (number);
  'trainLoss'?: (number | string);
  'validationLoss'?: (number | string);
  'learningRate'?: (number | string);
  'tokensPerSecond'?: (number | string);
  /**
   * Training tokens (padding excluded) of this step.
   */
  'tokens'?: (number | string | Long);
  '_validationLoss'?: "validationLoss";
}

export interface TrainingProgress__Output {
  'step': (number);
  'totalSteps': (number);
  'epoch': (number);
  'trainLoss': (number);
  'validationLoss'?: (number);
  'learningRate': (number);
  'tokensPerSecond': (number);
  /**
   * Training tokens (padding excluded) of this step.
   */
  'tokens': (number);
  '_validationLoss'?: "validationLoss";
}
