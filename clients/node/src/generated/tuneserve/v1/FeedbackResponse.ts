// Original file: ../../proto/tuneserve/v1/inference.proto


export interface FeedbackResponse {
  'requestId'?: (string);
  /**
   * The adapter version that answered ("name@3", or "name@0" for a split's prompting arm).
   */
  'adapter'?: (string);
  'rolloutArm'?: (string);
  /**
   * Whether the answer was the label given; unset without a label.
   */
  'correct'?: (boolean);
  '_correct'?: "correct";
}

export interface FeedbackResponse__Output {
  'requestId': (string);
  /**
   * The adapter version that answered ("name@3", or "name@0" for a split's prompting arm).
   */
  'adapter': (string);
  'rolloutArm': (string);
  /**
   * Whether the answer was the label given; unset without a label.
   */
  'correct'?: (boolean);
  '_correct'?: "correct";
}
