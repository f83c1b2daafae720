// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface LabelScore {
  'label'?: (string);
  /**
   * Normalised over the task's labels: the probabilities sum to 1.
   */
  'probability'?: (number | string);
  /**
   * Log-probability of the label's tokens (and end of turn) after the prompt.
   */
  'logprob'?: (number | string);
}

export interface LabelScore__Output {
  'label': (string);
  /**
   * Normalised over the task's labels: the probabilities sum to 1.
   */
  'probability': (number);
  /**
   * Log-probability of the label's tokens (and end of turn) after the prompt.
   */
  'logprob': (number);
}
