// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface ClassifyBatchRequest {
  'task'?: (string);
  'inputs'?: (string)[];
  /**
   * As in ClassifyRequest; the whole batch goes to one arm.
   */
  'routingKey'?: (string);
}

export interface ClassifyBatchRequest__Output {
  'task': (string);
  'inputs': (string)[];
  /**
   * As in ClassifyRequest; the whole batch goes to one arm.
   */
  'routingKey': (string);
}
