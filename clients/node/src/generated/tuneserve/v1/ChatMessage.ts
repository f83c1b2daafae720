// Original file: ../../proto/tuneserve/v1/common.proto

import type { ToolCall as _tuneserve_v1_ToolCall, ToolCall__Output as _tuneserve_v1_ToolCall__Output } from '../../tuneserve/v1/ToolCall';

/**
 * One turn of a chat, as in the OpenAI chat format.
 */
export interface ChatMessage {
  /**
   * "system", "developer" (rendered as system), "user", "assistant" or "tool" (a function's result).
   */
  'role'?: (string);
  /**
   * May be empty for an assistant turn that made tool calls.
   */
  'content'?: (string);
  /**
   * An assistant turn's calls of functions (earlier in the conversation).
   */
  'toolCalls'?: (_tuneserve_v1_ToolCall)[];
  /**
   * A tool turn: the id of the call whose result `content` is.
   */
  'toolCallId'?: (string);
}

/**
 * One turn of a chat, as in the OpenAI chat format.
 */
export interface ChatMessage__Output {
  /**
   * "system", "developer" (rendered as system), "user", "assistant" or "tool" (a function's result).
   */
  'role': (string);
  /**
   * May be empty for an assistant turn that made tool calls.
   */
  'content': (string);
  /**
   * An assistant turn's calls of functions (earlier in the conversation).
   */
  'toolCalls': (_tuneserve_v1_ToolCall__Output)[];
  /**
   * A tool turn: the id of the call whose result `content` is.
   */
  'toolCallId': (string);
}
