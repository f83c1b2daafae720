// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface Review {
  /**
   * The example's line, one of the report's error-analysis sample.
   */
  'line'?: (number);
  /**
   * The adapter's answer against the k-shot prompt's: "better", "worse", "same", or "" (none).
   */
  'verdict'?: (string);
  /**
   * 1-5 for the adapter's answer; 0: none. A review gives a verdict, a rating or both.
   */
  'rating'?: (number);
  /**
   * Who judged ("anonymous" when empty); judging an example again replaces that person's judgement.
   */
  'reviewer'?: (string);
  'note'?: (string);
}

export interface Review__Output {
  /**
   * The example's line, one of the report's error-analysis sample.
   */
  'line': (number);
  /**
   * The adapter's answer against the k-shot prompt's: "better", "worse", "same", or "" (none).
   */
  'verdict': (string);
  /**
   * 1-5 for the adapter's answer; 0: none. A review gives a verdict, a rating or both.
   */
  'rating': (number);
  /**
   * Who judged ("anonymous" when empty); judging an example again replaces that person's judgement.
   */
  'reviewer': (string);
  'note': (string);
}
