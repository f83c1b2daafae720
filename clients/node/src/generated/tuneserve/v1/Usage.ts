// Original file: ../../proto/tuneserve/v1/common.proto


/**
 * Token counts of one request.
 */
export interface Usage {
  'promptTokens'?: (number);
  'generatedTokens'?: (number);
  /**
   * Prompt tokens whose KV came from the prefix cache instead of being computed.
   */
  'cachedPromptTokens'?: (number);
}

/**
 * Token counts of one request.
 */
export interface Usage__Output {
  'promptTokens': (number);
  'generatedTokens': (number);
  /**
   * Prompt tokens whose KV came from the prefix cache instead of being computed.
   */
  'cachedPromptTokens': (number);
}
