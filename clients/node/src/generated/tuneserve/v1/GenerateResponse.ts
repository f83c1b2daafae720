// Original file: ../../proto/tuneserve/v1/inference.proto

import type { StopReason as _tuneserve_v1_StopReason, StopReason__Output as _tuneserve_v1_StopReason__Output } from '../../tuneserve/v1/StopReason';
import type { Usage as _tuneserve_v1_Usage, Usage__Output as _tuneserve_v1_Usage__Output } from '../../tuneserve/v1/Usage';
import type { Timings as _tuneserve_v1_Timings, Timings__Output as _tuneserve_v1_Timings__Output } from '../../tuneserve/v1/Timings';
import type { PromptInfo as _tuneserve_v1_PromptInfo, PromptInfo__Output as _tuneserve_v1_PromptInfo__Output } from '../../tuneserve/v1/PromptInfo';
import type { TokenLogprob as _tuneserve_v1_TokenLogprob, TokenLogprob__Output as _tuneserve_v1_TokenLogprob__Output } from '../../tuneserve/v1/TokenLogprob';
import type { ToolCall as _tuneserve_v1_ToolCall, ToolCall__Output as _tuneserve_v1_ToolCall__Output } from '../../tuneserve/v1/ToolCall';

export interface GenerateResponse {
  /**
   * The generated text, without the stop string that ended it.
   */
  'text'?: (string);
  'stopReason'?: (_tuneserve_v1_StopReason);
  'usage'?: (_tuneserve_v1_Usage | null);
  'timings'?: (_tuneserve_v1_Timings | null);
  'requestId'?: (string);
  /**
   * The adapter that answered as "name@version"; empty for the base model.
   */
  'adapter'?: (string);
  /**
   * The generated token ids.
   */
  'tokenIds'?: (number)[];
  /**
   * The stop string that ended generation, when stop_reason is STOP_REASON_STOP_SEQUENCE.
   */
  'stopSequence'?: (string);
  /**
   * For few-shot requests and task calls: which demonstrations were used, and the prompt's size.
   */
  'promptInfo'?: (_tuneserve_v1_PromptInfo | null);
  /**
   * When the adapter's traffic is split between versions: the arm that answered, e.g.
   * "4 of 3=90 4=10" (version 4 of a 90/10 split between versions 3 and 4); otherwise empty.
   */
  'rolloutArm'?: (string);
  /**
   * With parameters.logprobs: one per generated token, in order.
   */
  'logprobs'?: (_tuneserve_v1_TokenLogprob)[];
  /**
   * With parameters.prompt_logprobs: one per prompt token after the first.
   */
  'promptLogprobs'?: (_tuneserve_v1_TokenLogprob)[];
  /**
   * With tools: the calls the answer made (then `text` is their JSON); empty for a text answer.
   */
  'toolCalls'?: (_tuneserve_v1_ToolCall)[];
}

export interface GenerateResponse__Output {
  /**
   * The generated text, without the stop string that ended it.
   */
  'text': (string);
  'stopReason': (_tuneserve_v1_StopReason__Output);
  'usage': (_tuneserve_v1_Usage__Output | null);
  'timings': (_tuneserve_v1_Timings__Output | null);
  'requestId': (string);
  /**
   * The adapter that answered as "name@version"; empty for the base model.
   */
  'adapter': (string);
  /**
   * The generated token ids.
   */
  'tokenIds': (number)[];
  /**
   * The stop string that ended generation, when stop_reason is STOP_REASON_STOP_SEQUENCE.
   */
  'stopSequence': (string);
  /**
   * For few-shot requests and task calls: which demonstrations were used, and the prompt's size.
   */
  'promptInfo': (_tuneserve_v1_PromptInfo__Output | null);
  /**
   * When the adapter's traffic is split between versions: the arm that answered, e.g.
   * "4 of 3=90 4=10" (version 4 of a 90/10 split between versions 3 and 4); otherwise empty.
   */
  'rolloutArm': (string);
  /**
   * With parameters.logprobs: one per generated token, in order.
   */
  'logprobs': (_tuneserve_v1_TokenLogprob__Output)[];
  /**
   * With parameters.prompt_logprobs: one per prompt token after the first.
   */
  'promptLogprobs': (_tuneserve_v1_TokenLogprob__Output)[];
  /**
   * With tools: the calls the answer made (then `text` is their JSON); empty for a text answer.
   */
  'toolCalls': (_tuneserve_v1_ToolCall__Output)[];
}
