// Original file: ../../proto/tuneserve/v1/trainer.proto


/**
 * The task the adapter is for; it is published with the adapter and used when serving it.
 */
export interface TaskConfig {
  /**
   * "classification", "generation", or "" to infer (classification for text+label data).
   */
  'kind'?: (string);
  'instruction'?: (string);
  /**
   * "chat" (the model's chat template, default) or "plain".
   */
  'template'?: (string);
  /**
   * How the input is written into the prompt; must contain {input}. Empty: the template's default.
   */
  'inputFormat'?: (string);
  /**
   * Labels of a classification task; empty: the distinct labels of the data.
   */
  'labels'?: (string)[];
  /**
   * Generation tasks: a JSON schema (as JSON text) every answer follows. It is written into the
   * training prompts, and the served task enforces it with structured output.
   */
  'outputSchema'?: (string);
}

/**
 * The task the adapter is for; it is published with the adapter and used when serving it.
 */
export interface TaskConfig__Output {
  /**
   * "classification", "generation", or "" to infer (classification for text+label data).
   */
  'kind': (string);
  'instruction': (string);
  /**
   * "chat" (the model's chat template, default) or "plain".
   */
  'template': (string);
  /**
   * How the input is written into the prompt; must contain {input}. Empty: the template's default.
   */
  'inputFormat': (string);
  /**
   * Labels of a classification task; empty: the distinct labels of the data.
   */
  'labels': (string)[];
  /**
   * Generation tasks: a JSON schema (as JSON text) every answer follows. It is written into the
   * training prompts, and the served task enforces it with structured output.
   */
  'outputSchema': (string);
}
