// Original file: ../../proto/tuneserve/v1/common.proto

import type { ChoiceList as _tuneserve_v1_ChoiceList, ChoiceList__Output as _tuneserve_v1_ChoiceList__Output } from '../../tuneserve/v1/ChoiceList';

/**
 * The shape an answer must have; tokens that would break it are never sampled. When
 * max_new_tokens runs out first, the stop reason is STOP_REASON_UNFINISHED_STRUCTURE.
 */
export interface StructuredOutput {
  /**
   * A JSON schema (as JSON text); the answer is a JSON value that validates against it.
   */
  'jsonSchema'?: (string);
  /**
   * Any JSON object (OpenAI's response_format json_object).
   */
  'jsonObject'?: (boolean);
  /**
   * A regular expression (Rust regex syntax) the whole answer matches.
   */
  'regex'?: (string);
  /**
   * Exactly one of these strings.
   */
  'choice'?: (_tuneserve_v1_ChoiceList | null);
  /**
   * A Lark grammar (llguidance dialect) whose `start` rule the answer matches.
   */
  'larkGrammar'?: (string);
  'format'?: "jsonSchema"|"jsonObject"|"regex"|"choice"|"larkGrammar";
}

/**
 * The shape an answer must have; tokens that would break it are never sampled. When
 * max_new_tokens runs out first, the stop reason is STOP_REASON_UNFINISHED_STRUCTURE.
 */
export interface StructuredOutput__Output {
  /**
   * A JSON schema (as JSON text); the answer is a JSON value that validates against it.
   */
  'jsonSchema'?: (string);
  /**
   * Any JSON object (OpenAI's response_format json_object).
   */
  'jsonObject'?: (boolean);
  /**
   * A regular expression (Rust regex syntax) the whole answer matches.
   */
  'regex'?: (string);
  /**
   * Exactly one of these strings.
   */
  'choice'?: (_tuneserve_v1_ChoiceList__Output | null);
  /**
   * A Lark grammar (llguidance dialect) whose `start` rule the answer matches.
   */
  'larkGrammar'?: (string);
  'format'?: "jsonSchema"|"jsonObject"|"regex"|"choice"|"larkGrammar";
}
