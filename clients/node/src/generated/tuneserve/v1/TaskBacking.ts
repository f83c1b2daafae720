// Original file: ../../proto/tuneserve/v1/common.proto

/**
 * How a task is answered.
 */
export const TaskBacking = {
  TASK_BACKING_UNSPECIFIED: 'TASK_BACKING_UNSPECIFIED',
  /**
   * A fine-tuned adapter, with the prompt template it was trained with.
   */
  TASK_BACKING_ADAPTER: 'TASK_BACKING_ADAPTER',
  /**
   * The base model with demonstrations in the prompt (in-context learning).
   */
  TASK_BACKING_DEMONSTRATIONS: 'TASK_BACKING_DEMONSTRATIONS',
  /**
   * The base model with the instruction alone (zero-shot).
   */
  TASK_BACKING_BASE: 'TASK_BACKING_BASE',
} as const;

/**
 * How a task is answered.
 */
export type TaskBacking =
  | 'TASK_BACKING_UNSPECIFIED'
  | 0
  /**
   * A fine-tuned adapter, with the prompt template it was trained with.
   */
  | 'TASK_BACKING_ADAPTER'
  | 1
  /**
   * The base model with demonstrations in the prompt (in-context learning).
   */
  | 'TASK_BACKING_DEMONSTRATIONS'
  | 2
  /**
   * The base model with the instruction alone (zero-shot).
   */
  | 'TASK_BACKING_BASE'
  | 3

/**
 * How a task is answered.
 */
export type TaskBacking__Output = typeof TaskBacking[keyof typeof TaskBacking]
