// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface ClassifyRequest {
  'task'?: (string);
  'input'?: (string);
  'requestId'?: (string);
  /**
   * A user or session id: when the task's adapter is under a split, the same key always gets the
   * same arm. Empty: placed at random.
   */
  'routingKey'?: (string);
}

export interface ClassifyRequest__Output {
  'task': (string);
  'input': (string);
  'requestId': (string);
  /**
   * A user or session id: when the task's adapter is under a split, the same key always gets the
   * same arm. Empty: placed at random.
   */
  'routingKey': (string);
}
