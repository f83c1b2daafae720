// Original file: ../../proto/tuneserve/v1/trainer.proto


/**
 * A line of the data that cannot be trained on.
 */
export interface InvalidLine {
  'line'?: (number);
  'reason'?: (string);
  /**
   * "" for the training data, "validation data" for a separate validation file.
   */
  'source'?: (string);
}

/**
 * A line of the data that cannot be trained on.
 */
export interface InvalidLine__Output {
  'line': (number);
  'reason': (string);
  /**
   * "" for the training data, "validation data" for a separate validation file.
   */
  'source': (string);
}
