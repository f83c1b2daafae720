// Original file: ../../proto/tuneserve/v1/common.proto

import type { TaskBacking as _tuneserve_v1_TaskBacking, TaskBacking__Output as _tuneserve_v1_TaskBacking__Output } from '../../tuneserve/v1/TaskBacking';

/**
 * What went into the prompt of a few-shot request or a task call.
 */
export interface PromptInfo {
  /**
   * Indices (into the request's or task's demonstrations) of those in the prompt, in prompt order.
   */
  'demonstrationsUsed'?: (number)[];
  'promptTokens'?: (number);
  /**
   * Prompt tokens whose KV came from the prefix cache.
   */
  'cachedPromptTokens'?: (number);
  'backing'?: (_tuneserve_v1_TaskBacking);
}

/**
 * What went into the prompt of a few-shot request or a task call.
 */
export interface PromptInfo__Output {
  /**
   * Indices (into the request's or task's demonstrations) of those in the prompt, in prompt order.
   */
  'demonstrationsUsed': (number)[];
  'promptTokens': (number);
  /**
   * Prompt tokens whose KV came from the prefix cache.
   */
  'cachedPromptTokens': (number);
  'backing': (_tuneserve_v1_TaskBacking__Output);
}
