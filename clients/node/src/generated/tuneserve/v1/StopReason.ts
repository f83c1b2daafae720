// Original file: ../../proto/tuneserve/v1/common.proto

/**
 * Why a generation ended.
 */
export const StopReason = {
  STOP_REASON_UNSPECIFIED: 'STOP_REASON_UNSPECIFIED',
  /**
   * The model produced an end-of-sequence token.
   */
  STOP_REASON_END_OF_SEQUENCE: 'STOP_REASON_END_OF_SEQUENCE',
  /**
   * max_new_tokens tokens were generated.
   */
  STOP_REASON_MAX_TOKENS: 'STOP_REASON_MAX_TOKENS',
  /**
   * The output contained one of the stop strings.
   */
  STOP_REASON_STOP_SEQUENCE: 'STOP_REASON_STOP_SEQUENCE',
  /**
   * The request's time_limit_ms ran out.
   */
  STOP_REASON_TIME_LIMIT: 'STOP_REASON_TIME_LIMIT',
  /**
   * The server cancelled the generation (shutdown or unload).
   */
  STOP_REASON_CANCELLED: 'STOP_REASON_CANCELLED',
  /**
   * max_new_tokens (or the context window) ran out inside an unfinished structured output: the
   * text does not parse as the requested structure.
   */
  STOP_REASON_UNFINISHED_STRUCTURE: 'STOP_REASON_UNFINISHED_STRUCTURE',
} as const;

/**
 * Why a generation ended.
 */
export type StopReason =
  | 'STOP_REASON_UNSPECIFIED'
  | 0
  /**
   * The model produced an end-of-sequence token.
   */
  | 'STOP_REASON_END_OF_SEQUENCE'
  | 1
  /**
   * max_new_tokens tokens were generated.
   */
  | 'STOP_REASON_MAX_TOKENS'
  | 2
  /**
   * The output contained one of the stop strings.
   */
  | 'STOP_REASON_STOP_SEQUENCE'
  | 3
  /**
   * The request's time_limit_ms ran out.
   */
  | 'STOP_REASON_TIME_LIMIT'
  | 4
  /**
   * The server cancelled the generation (shutdown or unload).
   */
  | 'STOP_REASON_CANCELLED'
  | 5
  /**
   * max_new_tokens (or the context window) ran out inside an unfinished structured output: the
   * text does not parse as the requested structure.
   */
  | 'STOP_REASON_UNFINISHED_STRUCTURE'
  | 6

/**
 * Why a generation ended.
 */
export type StopReason__Output = typeof StopReason[keyof typeof StopReason]
