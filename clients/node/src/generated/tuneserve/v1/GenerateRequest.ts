// Original file: ../../proto/tuneserve/v1/inference.proto

import type { ChatMessage as _tuneserve_v1_ChatMessage, ChatMessage__Output as _tuneserve_v1_ChatMessage__Output } from '../../tuneserve/v1/ChatMessage';
import type { GenerationParameters as _tuneserve_v1_GenerationParameters, GenerationParameters__Output as _tuneserve_v1_GenerationParameters__Output } from '../../tuneserve/v1/GenerationParameters';
import type { FewShotPrompt as _tuneserve_v1_FewShotPrompt, FewShotPrompt__Output as _tuneserve_v1_FewShotPrompt__Output } from '../../tuneserve/v1/FewShotPrompt';
import type { Tool as _tuneserve_v1_Tool, Tool__Output as _tuneserve_v1_Tool__Output } from '../../tuneserve/v1/Tool';
import type { ToolChoice as _tuneserve_v1_ToolChoice, ToolChoice__Output as _tuneserve_v1_ToolChoice__Output } from '../../tuneserve/v1/ToolChoice';
import type { Struct as _google_protobuf_Struct, Struct__Output as _google_protobuf_Struct__Output } from '../../google/protobuf/Struct';

export interface GenerateRequest {
  /**
   * The input: exactly one of prompt (plain text, tokenized as is), prompt_token_ids, messages
   * (rendered with the model's chat template, followed by the assistant turn's header), and few_shot.
   */
  'prompt'?: (string);
  'messages'?: (_tuneserve_v1_ChatMessage)[];
  /**
   * "" = the base model, "name" = the adapter's current version, "name@3" = version 3.
   */
  'adapter'?: (string);
  'parameters'?: (_tuneserve_v1_GenerationParameters | null);
  /**
   * Caller's id for this request, echoed in the response and in server logs; the server makes
   * one when empty. At most 128 characters.
   */
  'requestId'?: (string);
  /**
   * An instruction, demonstrations and a query, rendered and trimmed to the token budget by the
   * server (in-context learning).
   */
  'fewShot'?: (_tuneserve_v1_FewShotPrompt | null);
  /**
   * Who or what the request is for (a user or session id): when the adapter's traffic is split
   * between versions, the same key always gets the same version. Empty: placed at random.
   */
  'routingKey'?: (string);
  /**
   * Functions the model may call (with messages only). They are described to the model in a
   * system turn; its calls come back in tool_calls. Cannot be combined with structured_output.
   */
  'tools'?: (_tuneserve_v1_Tool)[];
  'toolChoice'?: (_tuneserve_v1_ToolChoice | null);
  /**
   * Whether one answer may call several tools (a JSON list); unset: true.
   */
  'parallelToolCalls'?: (boolean);
  /**
   * The prompt as the base model's token ids, taken as they are (nothing added, as a caller that
   * tokenizes for itself, an evaluation harness, needs); each below the model's vocabulary size.
   */
  'promptTokenIds'?: (number)[];
  /**
   * With messages: variables for the model's chat template, as transformers' apply_chat_template
   * takes them (vLLM's chat_template_kwargs), e.g. {"enable_thinking": false} for Qwen3's. At most
   * 16, named as identifiers other than the template's own (messages, tools, add_generation_prompt,
   * the special tokens...); each a boolean, a number or a string of at most 1,000 characters.
   */
  'chatTemplateKwargs'?: (_google_protobuf_Struct | null);
  '_parallelToolCalls'?: "parallelToolCalls";
}

export interface GenerateRequest__Output {
  /**
   * The input: exactly one of prompt (plain text, tokenized as is), prompt_token_ids, messages
   * (rendered with the model's chat template, followed by the assistant turn's header), and few_shot.
   */
  'prompt': (string);
  'messages': (_tuneserve_v1_ChatMessage__Output)[];
  /**
   * "" = the base model, "name" = the adapter's current version, "name@3" = version 3.
   */
  'adapter': (string);
  'parameters': (_tuneserve_v1_GenerationParameters__Output | null);
  /**
   * Caller's id for this request, echoed in the response and in server logs; the server makes
   * one when empty. At most 128 characters.
   */
  'requestId': (string);
  /**
   * An instruction, demonstrations and a query, rendered and trimmed to the token budget by the
   * server (in-context learning).
   */
  'fewShot': (_tuneserve_v1_FewShotPrompt__Output | null);
  /**
   * Who or what the request is for (a user or session id): when the adapter's traffic is split
   * between versions, the same key always gets the same version. Empty: placed at random.
   */
  'routingKey': (string);
  /**
   * Functions the model may call (with messages only). They are described to the model in a
   * system turn; its calls come back in tool_calls. Cannot be combined with structured_output.
   */
  'tools': (_tuneserve_v1_Tool__Output)[];
  'toolChoice': (_tuneserve_v1_ToolChoice__Output | null);
  /**
   * Whether one answer may call several tools (a JSON list); unset: true.
   */
  'parallelToolCalls'?: (boolean);
  /**
   * The prompt as the base model's token ids, taken as they are (nothing added, as a caller that
   * tokenizes for itself, an evaluation harness, needs); each below the model's vocabulary size.
   */
  'promptTokenIds': (number)[];
  /**
   * With messages: variables for the model's chat template, as transformers' apply_chat_template
   * takes them (vLLM's chat_template_kwargs), e.g. {"enable_thinking": false} for Qwen3's. At most
   * 16, named as identifiers other than the template's own (messages, tools, add_generation_prompt,
   * the special tokens...); each a boolean, a number or a string of at most 1,000 characters.
   */
  'chatTemplateKwargs': (_google_protobuf_Struct__Output | null);
  '_parallelToolCalls'?: "parallelToolCalls";
}
