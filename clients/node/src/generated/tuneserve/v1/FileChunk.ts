// Original file: ../../proto/tuneserve/v1/adapters.proto


export interface FileChunk {
  /**
   * adapter_config.json, adapter_model.safetensors or README.md.
   */
  'fileName'?: (string);
  'data'?: (Buffer | Uint8Array | string);
}

export interface FileChunk__Output {
  /**
   * adapter_config.json, adapter_model.safetensors or README.md.
   */
  'fileName': (string);
  'data': (Buffer);
}
