// Original file: ../../proto/tuneserve/v1/trainer.proto


/**
 * What was dropped from the data before training.
 */
export interface DataNotes {
  'duplicatesDropped'?: (number);
  /**
   * The first few, e.g. "line 12 (repeats line 3)".
   */
  'duplicates'?: (string)[];
  /**
   * Holdout examples dropped because the same example is in the training data.
   */
  'holdoutOverlapDropped'?: (number);
  'holdoutOverlapLines'?: (number)[];
}

/**
 * What was dropped from the data before training.
 */
export interface DataNotes__Output {
  'duplicatesDropped': (number);
  /**
   * The first few, e.g. "line 12 (repeats line 3)".
   */
  'duplicates': (string)[];
  /**
   * Holdout examples dropped because the same example is in the training data.
   */
  'holdoutOverlapDropped': (number);
  'holdoutOverlapLines': (number)[];
}
