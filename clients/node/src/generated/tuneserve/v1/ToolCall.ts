// Original file: ../../proto/tuneserve/v1/common.proto


/**
 * A call of a function, made by the model.
 */
export interface ToolCall {
  /**
   * "call_" and 24 hex digits, made by the server; a tool turn answers it by this id.
   */
  'id'?: (string);
  'name'?: (string);
  /**
   * The arguments as a JSON object (text), valid against the function's parameters schema.
   */
  'arguments'?: (string);
}

/**
 * A call of a function, made by the model.
 */
export interface ToolCall__Output {
  /**
   * "call_" and 24 hex digits, made by the server; a tool turn answers it by this id.
   */
  'id': (string);
  'name': (string);
  /**
   * The arguments as a JSON object (text), valid against the function's parameters schema.
   */
  'arguments': (string);
}
