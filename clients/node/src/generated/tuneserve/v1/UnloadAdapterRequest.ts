// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface UnloadAdapterRequest {
  /**
   * "name" or "name@version".
   */
  'adapter'?: (string);
}

export interface UnloadAdapterRequest__Output {
  /**
   * "name" or "name@version".
   */
  'adapter': (string);
}
