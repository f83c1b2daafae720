// Original file: ../../proto/tuneserve/v1/inference.proto

import type { ChatMessage as _tuneserve_v1_ChatMessage, ChatMessage__Output as _tuneserve_v1_ChatMessage__Output } from '../../tuneserve/v1/ChatMessage';
import type { Struct as _google_protobuf_Struct, Struct__Output as _google_protobuf_Struct__Output } from '../../google/protobuf/Struct';

export interface TokenizeRequest {
  /**
   * Exactly one of text and messages, as in GenerateRequest.
   */
  'text'?: (string);
  'messages'?: (_tuneserve_v1_ChatMessage)[];
  /**
   * With messages: the chat template's variables, as in GenerateRequest, so the count matches
   * a generation that sets them.
   */
  'chatTemplateKwargs'?: (_google_protobuf_Struct | null);
}

export interface TokenizeRequest__Output {
  /**
   * Exactly one of text and messages, as in GenerateRequest.
   */
  'text': (string);
  'messages': (_tuneserve_v1_ChatMessage__Output)[];
  /**
   * With messages: the chat template's variables, as in GenerateRequest, so the count matches
   * a generation that sets them.
   */
  'chatTemplateKwargs': (_google_protobuf_Struct__Output | null);
}
