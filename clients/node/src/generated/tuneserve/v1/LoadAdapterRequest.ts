// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface LoadAdapterRequest {
  /**
   * "name" or "name@version".
   */
  'adapter'?: (string);
}

export interface LoadAdapterRequest__Output {
  /**
   * "name" or "name@version".
   */
  'adapter': (string);
}
