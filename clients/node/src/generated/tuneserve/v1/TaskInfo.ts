// Original file: ../../proto/tuneserve/v1/tasks.proto

import type { TaskBacking as _tuneserve_v1_TaskBacking, TaskBacking__Output as _tuneserve_v1_TaskBacking__Output } from '../../tuneserve/v1/TaskBacking';
import type { GenerationParameters as _tuneserve_v1_GenerationParameters, GenerationParameters__Output as _tuneserve_v1_GenerationParameters__Output } from '../../tuneserve/v1/GenerationParameters';

export interface TaskInfo {
  'name'?: (string);
  /**
   * "classification" or "generation".
   */
  'kind'?: (string);
  'labels'?: (string)[];
  'instruction'?: (string);
  /**
   * "chat" or "plain".
   */
  'template'?: (string);
  'inputFormat'?: (string);
  /**
   * How calls are answered now.
   */
  'backing'?: (_tuneserve_v1_TaskBacking);
  /**
   * The adapter answering (name@version) when backed by an adapter.
   */
  'adapter'?: (string);
  /**
   * Stored demonstrations.
   */
  'demonstrations'?: (number);
  /**
   * Where the task comes from: a task file, or an adapter's manifest.
   */
  'source'?: (string);
  'defaultParameters'?: (_tuneserve_v1_GenerationParameters | null);
  /**
   * Generation tasks with an output schema: the JSON schema (as JSON text) every answer
   * validates against; empty when the task has none.
   */
  'outputSchema'?: (string);
}

export interface TaskInfo__Output {
  'name': (string);
  /**
   * "classification" or "generation".
   */
  'kind': (string);
  'labels': (string)[];
  'instruction': (string);
  /**
   * "chat" or "plain".
   */
  'template': (string);
  'inputFormat': (string);
  /**
   * How calls are answered now.
   */
  'backing': (_tuneserve_v1_TaskBacking__Output);
  /**
   * The adapter answering (name@version) when backed by an adapter.
   */
  'adapter': (string);
  /**
   * Stored demonstrations.
   */
  'demonstrations': (number);
  /**
   * Where the task comes from: a task file, or an adapter's manifest.
   */
  'source': (string);
  'defaultParameters': (_tuneserve_v1_GenerationParameters__Output | null);
  /**
   * Generation tasks with an output schema: the JSON schema (as JSON text) every answer
   * validates against; empty when the task has none.
   */
  'outputSchema': (string);
}
