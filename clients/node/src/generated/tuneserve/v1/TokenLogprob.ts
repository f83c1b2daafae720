// Original file: ../../proto/tuneserve/v1/common.proto

import type { TopLogprob as _tuneserve_v1_TopLogprob, TopLogprob__Output as _tuneserve_v1_TopLogprob__Output } from '../../tuneserve/v1/TopLogprob';

/**
 * A token with the model's log-probability of it at its place.
 */
export interface TokenLogprob {
  'tokenId'?: (number);
  /**
   * The token's text (a part of a multi-byte character shows as U+FFFD).
   */
  'token'?: (string);
  'logprob'?: (number | string);
  /**
   * The token's bytes (UTF-8 of the text, or the raw bytes of a part of a character).
   */
  'tokenBytes'?: (Buffer | Uint8Array | string);
  /**
   * The likeliest tokens at this place, likeliest first (top_logprobs of them).
   */
  'topLogprobs'?: (_tuneserve_v1_TopLogprob)[];
}

/**
 * A token with the model's log-probability of it at its place.
 */
export interface TokenLogprob__Output {
  'tokenId': (number);
  /**
   * The token's text (a part of a multi-byte character shows as U+FFFD).
   */
  'token': (string);
  'logprob': (number);
  /**
   * The token's bytes (UTF-8 of the text, or the raw bytes of a part of a character).
   */
  'tokenBytes': (Buffer);
  /**
   * The likeliest tokens at this place, likeliest first (top_logprobs of them).
   */
  'topLogprobs': (_tuneserve_v1_TopLogprob__Output)[];
}
