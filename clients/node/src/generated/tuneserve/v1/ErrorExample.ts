// Original file: ../../proto/tuneserve/v1/trainer.proto


/**
 * One holdout example with every system's answer, for error analysis.
 */
export interface ErrorExample {
  'line'?: (number);
  'input'?: (string);
  'reference'?: (string);
  'zeroShot'?: (string);
  'icl'?: (string);
  'adapter'?: (string);
  /**
   * "fixed" (adapter right, k-shot wrong), "broken" (the reverse), "wrong_all", "right_all", "other".
   */
  'category'?: (string);
  /**
   * Generation: "empty", "truncated", "verbose", "repetitive" (of the adapter's answer).
   */
  'tags'?: (string)[];
}

/**
 * One holdout example with every system's answer, for error analysis.
 */
export interface ErrorExample__Output {
  'line': (number);
  'input': (string);
  'reference': (string);
  'zeroShot': (string);
  'icl': (string);
  'adapter': (string);
  /**
   * "fixed" (adapter right, k-shot wrong), "broken" (the reverse), "wrong_all", "right_all", "other".
   */
  'category': (string);
  /**
   * Generation: "empty", "truncated", "verbose", "repetitive" (of the adapter's answer).
   */
  'tags': (string)[];
}
