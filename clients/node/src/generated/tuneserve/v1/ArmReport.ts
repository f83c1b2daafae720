// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { Long } from '@grpc/proto-loader';

export interface ArmReport {
  'version'?: (number);
  /**
   * "control", "canary", "shadow", or "serving" when no split is in force.
   */
  'role'?: (string);
  'percent'?: (number);
  'requests'?: (number | string | Long);
  'errors'?: (number | string | Long);
  'latencyP50Ms'?: (number | string);
  'latencyP95Ms'?: (number | string);
  /**
   * The most frequent answers (for a classification task, the label distribution).
   */
  'answers'?: ({[key: string]: number | string | Long});
  /**
   * Answers with a correct label in feedback, and how many of them were right.
   */
  'labelled'?: (number | string | Long);
  'correct'?: (number | string | Long);
  'accuracy'?: (number | string);
  /**
   * 95% Wilson interval of the accuracy.
   */
  'accuracyLow'?: (number | string);
  'accuracyHigh'?: (number | string);
  /**
   * Two-sided two-proportion test of the accuracy against the control arm's.
   */
  'accuracyPValue'?: (number | string);
  'significant'?: (boolean);
  'thumbsUp'?: (number | string | Long);
  'thumbsDown'?: (number | string | Long);
  'ratings'?: (number | string | Long);
  'meanRating'?: (number | string);
  /**
   * Shadows: requests answered by both, the share with the same answer, and the mean word F1.
   */
  'compared'?: (number | string | Long);
  'agreement'?: (number | string);
  'meanTokenF1'?: (number | string);
}

export interface ArmReport__Output {
  'version': (number);
  /**
   * "control", "canary", "shadow", or "serving" when no split is in force.
   */
  'role': (string);
  'percent': (number);
  'requests': (number);
  'errors': (number);
  'latencyP50Ms': (number);
  'latencyP95Ms': (number);
  /**
   * The most frequent answers (for a classification task, the label distribution).
   */
  'answers': ({[key: string]: number});
  /**
   * Answers with a correct label in feedback, and how many of them were right.
   */
  'labelled': (number);
  'correct': (number);
  'accuracy': (number);
  /**
   * 95% Wilson interval of the accuracy.
   */
  'accuracyLow': (number);
  'accuracyHigh': (number);
  /**
   * Two-sided two-proportion test of the accuracy against the control arm's.
   */
  'accuracyPValue': (number);
  'significant': (boolean);
  'thumbsUp': (number);
  'thumbsDown': (number);
  'ratings': (number);
  'meanRating': (number);
  /**
   * Shadows: requests answered by both, the share with the same answer, and the mean word F1.
   */
  'compared': (number);
  'agreement': (number);
  'meanTokenF1': (number);
}
