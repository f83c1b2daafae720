// Original file: ../../proto/tuneserve/v1/inference.proto

import type { StopReason as _tuneserve_v1_StopReason, StopReason__Output as _tuneserve_v1_StopReason__Output } from '../../tuneserve/v1/StopReason';
import type { Usage as _tuneserve_v1_Usage, Usage__Output as _tuneserve_v1_Usage__Output } from '../../tuneserve/v1/Usage';
import type { Timings as _tuneserve_v1_Timings, Timings__Output as _tuneserve_v1_Timings__Output } from '../../tuneserve/v1/Timings';
import type { PromptInfo as _tuneserve_v1_PromptInfo, PromptInfo__Output as _tuneserve_v1_PromptInfo__Output } from '../../tuneserve/v1/PromptInfo';
import type { TokenLogprob as _tuneserve_v1_TokenLogprob, TokenLogprob__Output as _tuneserve_v1_TokenLogprob__Output } from '../../tuneserve/v1/TokenLogprob';
import type { ToolCall as _tuneserve_v1_ToolCall, ToolCall__Output as _tuneserve_v1_ToolCall__Output } from '../../tuneserve/v1/ToolCall';

export interface GenerateStreamResponse {
  /**
   * Text generated since the previous message. Text that could be the start of a stop string is
   * held back until it is known not to be one.
   */
  'text'?: (string);
  /**
   * Tokens generated since the previous message.
   */
  'tokenIds'?: (number)[];
  /**
   * The fields below are set on the last message of the stream only.
   */
  'stopReason'?: (_tuneserve_v1_StopReason);
  'usage'?: (_tuneserve_v1_Usage | null);
  'timings'?: (_tuneserve_v1_Timings | null);
  'requestId'?: (string);
  'adapter'?: (string);
  'stopSequence'?: (string);
  'promptInfo'?: (_tuneserve_v1_PromptInfo | null);
  'rolloutArm'?: (string);
  /**
   * With parameters.logprobs: one per token of token_ids.
   */
  'logprobs'?: (_tuneserve_v1_TokenLogprob)[];
  /**
   * With parameters.prompt_logprobs: on the first message, one per prompt token after the first.
   */
  'promptLogprobs'?: (_tuneserve_v1_TokenLogprob)[];
  /**
   * With tools, on the last message: the calls the answer made (the streamed text is their JSON).
   */
  'toolCalls'?: (_tuneserve_v1_ToolCall)[];
}

export interface GenerateStreamResponse__Output {
  /**
   * Text generated since the previous message. Text that could be the start of a stop string is
   * held back until it is known not to be one.
   */
  'text': (string);
  /**
   * Tokens generated since the previous message.
   */
  'tokenIds': (number)[];
  /**
   * The fields below are set on the last message of the stream only.
   */
  'stopReason': (_tuneserve_v1_StopReason__Output);
  'usage': (_tuneserve_v1_Usage__Output | null);
  'timings': (_tuneserve_v1_Timings__Output | null);
  'requestId': (string);
  'adapter': (string);
  'stopSequence': (string);
  'promptInfo': (_tuneserve_v1_PromptInfo__Output | null);
  'rolloutArm': (string);
  /**
   * With parameters.logprobs: one per token of token_ids.
   */
  'logprobs': (_tuneserve_v1_TokenLogprob__Output)[];
  /**
   * With parameters.prompt_logprobs: on the first message, one per prompt token after the first.
   */
  'promptLogprobs': (_tuneserve_v1_TokenLogprob__Output)[];
  /**
   * With tools, on the last message: the calls the answer made (the streamed text is their JSON).
   */
  'toolCalls': (_tuneserve_v1_ToolCall__Output)[];
}
