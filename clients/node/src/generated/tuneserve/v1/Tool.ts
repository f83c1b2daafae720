// Original file: ../../proto/tuneserve/v1/common.proto


/**
 * A function the model may call.
 */
export interface Tool {
  /**
   * 1 to 64 letters, digits, '_' or '-', unique in the request.
   */
  'name'?: (string);
  'description'?: (string);
  /**
   * A JSON schema (as JSON text) of the arguments object; empty: any object.
   */
  'parameters'?: (string);
}

/**
 * A function the model may call.
 */
export interface Tool__Output {
  /**
   * 1 to 64 letters, digits, '_' or '-', unique in the request.
   */
  'name': (string);
  'description': (string);
  /**
   * A JSON schema (as JSON text) of the arguments object; empty: any object.
   */
  'parameters': (string);
}
