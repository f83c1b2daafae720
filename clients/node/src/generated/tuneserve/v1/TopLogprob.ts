// Original file: ../../proto/tuneserve/v1/common.proto


export interface TopLogprob {
  'tokenId'?: (number);
  'token'?: (string);
  'logprob'?: (number | string);
  'tokenBytes'?: (Buffer | Uint8Array | string);
}

export interface TopLogprob__Output {
  'tokenId': (number);
  'token': (string);
  'logprob': (number);
  'tokenBytes': (Buffer);
}
