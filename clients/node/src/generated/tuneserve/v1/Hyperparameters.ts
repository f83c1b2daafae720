// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Unset fields take the trainer's documented defaults.
 */
export interface Hyperparameters {
  'rank'?: (number);
  'alpha'?: (number | string);
  'dropout'?: (number | string);
  'targetModules'?: (string)[];
  'learningRate'?: (number | string);
  'epochs'?: (number);
  'maxSteps'?: (number);
  'batchSize'?: (number);
  'gradientAccumulation'?: (number);
  'warmupRatio'?: (number | string);
  'weightDecay'?: (number | string);
  'maxSeqLen'?: (number);
  'seed'?: (number | string | Long);
  /**
   * Train on the 4-bit base (QLoRA).
   */
  'qlora'?: (boolean);
  /**
   * Scales the default learning rate (OpenAI's learning_rate_multiplier); not with learning_rate.
   */
  'learningRateMultiplier'?: (number | string);
  '_rank'?: "rank";
  '_alpha'?: "alpha";
  '_dropout'?: "dropout";
  '_learningRate'?: "learningRate";
  '_epochs'?: "epochs";
  '_maxSteps'?: "maxSteps";
  '_batchSize'?: "batchSize";
  '_gradientAccumulation'?: "gradientAccumulation";
  '_warmupRatio'?: "warmupRatio";
  '_weightDecay'?: "weightDecay";
  '_maxSeqLen'?: "maxSeqLen";
  '_seed'?: "seed";
  '_qlora'?: "qlora";
  '_learningRateMultiplier'?: "learningRateMultiplier";
}

/**
 * Unset fields take the trainer's documented defaults.
 */
export interface Hyperparameters__Output {
  'rank'?: (number);
  'alpha'?: (number);
  'dropout'?: (number);
  'targetModules': (string)[];
  'learningRate'?: (number);
  'epochs'?: (number);
  'maxSteps'?: (number);
  'batchSize'?: (number);
  'gradientAccumulation'?: (number);
  'warmupRatio'?: (number);
  'weightDecay'?: (number);
  'maxSeqLen'?: (number);
  'seed'?: (number);
  /**
   * Train on the 4-bit base (QLoRA).
   */
  'qlora'?: (boolean);
  /**
   * Scales the default learning rate (OpenAI's learning_rate_multiplier); not with learning_rate.
   */
  'learningRateMultiplier'?: (number);
  '_rank'?: "rank";
  '_alpha'?: "alpha";
  '_dropout'?: "dropout";
  '_learningRate'?: "learningRate";
  '_epochs'?: "epochs";
  '_maxSteps'?: "maxSteps";
  '_batchSize'?: "batchSize";
  '_gradientAccumulation'?: "gradientAccumulation";
  '_warmupRatio'?: "warmupRatio";
  '_weightDecay'?: "weightDecay";
  '_maxSeqLen'?: "maxSeqLen";
  '_seed'?: "seed";
  '_qlora'?: "qlora";
  '_learningRateMultiplier'?: "learningRateMultiplier";
}
