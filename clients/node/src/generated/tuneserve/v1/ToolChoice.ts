// Original file: ../../proto/tuneserve/v1/common.proto

import type { ToolChoiceMode as _tuneserve_v1_ToolChoiceMode, ToolChoiceMode__Output as _tuneserve_v1_ToolChoiceMode__Output } from '../../tuneserve/v1/ToolChoiceMode';

/**
 * Whether and what the model calls when tools are given.
 */
export interface ToolChoice {
  'mode'?: (_tuneserve_v1_ToolChoiceMode);
  /**
   * With TOOL_CHOICE_MODE_FUNCTION: the tool to call.
   */
  'function'?: (string);
}

/**
 * Whether and what the model calls when tools are given.
 */
export interface ToolChoice__Output {
  'mode': (_tuneserve_v1_ToolChoiceMode__Output);
  /**
   * With TOOL_CHOICE_MODE_FUNCTION: the tool to call.
   */
  'function': (string);
}
