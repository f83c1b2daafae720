// Original file: ../../proto/tuneserve/v1/inference.proto


export interface TokenizeResponse {
  'tokenIds'?: (number)[];
  /**
   * The token strings, in the tokenizer's own spelling.
   */
  'tokens'?: (string)[];
}

export interface TokenizeResponse__Output {
  'tokenIds': (number)[];
  /**
   * The token strings, in the tokenizer's own spelling.
   */
  'tokens': (string)[];
}
