// Original file: ../../proto/tuneserve/v1/inference.proto


export interface ModelInfoResponse {
  /**
   * Model name from its config (or the file name).
   */
  'model'?: (string);
  /**
   * Where the weights came from: "embedded:<file>", a directory or a GGUF path.
   */
  'source'?: (string);
  /**
   * The architecture, e.g. "LlamaForCausalLM".
   */
  'architecture'?: (string);
  /**
   * Hash of the architecture config and the weights' source; adapters must carry the same.
   */
  'fingerprint'?: (string);
  /**
   * "nf4" or "int8" (bitsandbytes), "int4" (4-bit weights for few-row steps, CPU or CUDA) or "none".
   */
  'quantization'?: (string);
  /**
   * Dtype of activations and unquantized weights, e.g. "float32".
   */
  'dtype'?: (string);
  /**
   * e.g. "cpu" or "cuda:0".
   */
  'device'?: (string);
  /**
   * Most tokens of prompt plus output.
   */
  'contextWindow'?: (number);
  'vocabSize'?: (number);
  /**
   * Most requests decoded together in one batch.
   */
  'maxBatchSize'?: (number);
  /**
   * Most prompt tokens accepted.
   */
  'maxPromptTokens'?: (number);
  /**
   * Highest max_new_tokens accepted.
   */
  'maxNewTokensLimit'?: (number);
  /**
   * Whether chat messages are rendered with the model's own template.
   */
  'hasChatTemplate'?: (boolean);
  /**
   * The tuneserve version.
   */
  'serverVersion'?: (string);
  /**
   * Why this dtype and quantization: chosen for the hardware ('auto') or as set.
   */
  'precisionReason'?: (string);
  /**
   * Dtype of the KV cache and the attention over it (float32 on the CPU, whatever the weights).
   */
  'kvCacheDtype'?: (string);
  /**
   * How decode steps run: compiled (torch.compile, CPU) or CUDA graphs, for which row counts and how
   * long building them took at start-up, or eager and why (compile_decode off, no C++ compiler, ...).
   */
  'decodeStep'?: (string);
}

export interface ModelInfoResponse__Output {
  /**
   * Model name from its config (or the file name).
   */
  'model': (string);
  /**
   * Where the weights came from: "embedded:<file>", a directory or a GGUF path.
   */
  'source': (string);
  /**
   * The architecture, e.g. "LlamaForCausalLM".
   */
  'architecture': (string);
  /**
   * Hash of the architecture config and the weights' source; adapters must carry the same.
   */
  'fingerprint': (string);
  /**
   * "nf4" or "int8" (bitsandbytes), "int4" (4-bit weights for few-row steps, CPU or CUDA) or "none".
   */
  'quantization': (string);
  /**
   * Dtype of activations and unquantized weights, e.g. "float32".
   */
  'dtype': (string);
  /**
   * e.g. "cpu" or "cuda:0".
   */
  'device': (string);
  /**
   * Most tokens of prompt plus output.
   */
  'contextWindow': (number);
  'vocabSize': (number);
  /**
   * Most requests decoded together in one batch.
   */
  'maxBatchSize': (number);
  /**
   * Most prompt tokens accepted.
   */
  'maxPromptTokens': (number);
  /**
   * Highest max_new_tokens accepted.
   */
  'maxNewTokensLimit': (number);
  /**
   * Whether chat messages are rendered with the model's own template.
   */
  'hasChatTemplate': (boolean);
  /**
   * The tuneserve version.
   */
  'serverVersion': (string);
  /**
   * Why this dtype and quantization: chosen for the hardware ('auto') or as set.
   */
  'precisionReason': (string);
  /**
   * Dtype of the KV cache and the attention over it (float32 on the CPU, whatever the weights).
   */
  'kvCacheDtype': (string);
  /**
   * How decode steps run: compiled (torch.compile, CPU) or CUDA graphs, for which row counts and how
   * long building them took at start-up, or eager and why (compile_decode off, no C++ compiler, ...).
   */
  'decodeStep': (string);
}
