// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface TaskProblem {
  /**
   * A task file that could not be used, and why; the file's last good version stays in use.
   */
  'source'?: (string);
  'error'?: (string);
}

export interface TaskProblem__Output {
  /**
   * A task file that could not be used, and why; the file's last good version stays in use.
   */
  'source': (string);
  'error': (string);
}
