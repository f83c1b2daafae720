// Original file: ../../proto/tuneserve/v1/inference.proto

import type { ChatMessage as _tuneserve_v1_ChatMessage, ChatMessage__Output as _tuneserve_v1_ChatMessage__Output } from '../../tuneserve/v1/ChatMessage';

export interface TokenizeRequest {
  /**
   * Exactly one of text and messages, as in GenerateRequest.
   */
  'text'?: (string);
  'messages'?: (_tuneserve_v1_ChatMessage)[];
}

export interface TokenizeRequest__Output {
  /**
   * Exactly one of text and messages, as in GenerateRequest.
   */
  'text': (string);
  'messages': (_tuneserve_v1_ChatMessage__Output)[];
}
