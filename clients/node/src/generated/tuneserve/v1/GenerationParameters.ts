// Original file: ../../proto/tuneserve/v1/common.proto

import type { StructuredOutput as _tuneserve_v1_StructuredOutput, StructuredOutput__Output as _tuneserve_v1_StructuredOutput__Output } from '../../tuneserve/v1/StructuredOutput';
import type { Long } from '@grpc/proto-loader';

/**
 * Decoding parameters. An unset field takes the task's default (task endpoints), then the
 * server's default. Ranges are checked by the server; a value out of range is INVALID_ARGUMENT.
 */
export interface GenerationParameters {
  /**
   * Most tokens to generate, >= 1. Unset: the server's default_max_new_tokens, capped so that
   * prompt + output fit in the context window.
   */
  'maxNewTokens'?: (number);
  /**
   * End-of-sequence and stop tokens are suppressed until this many tokens were generated.
   */
  'minNewTokens'?: (number);
  /**
   * 0 decodes greedily (the server default); > 0 samples from softmax(logits / temperature).
   */
  'temperature'?: (number | string);
  /**
   * Nucleus sampling: sample from the smallest set of tokens whose probability reaches top_p.
   * In [0, 1]; 1 disables it, 0 keeps only the most likely token.
   */
  'topP'?: (number | string);
  /**
   * Sample only among the top_k most likely tokens; 0 disables it.
   */
  'topK'?: (number);
  /**
   * Seed of this request's sampler: the same request with the same seed gives the same output,
   * whatever else the server is running.
   */
  'seed'?: (number | string | Long);
  /**
   * > 1 discourages tokens already in the prompt or output (the CTRL rule used by
   * transformers); 1 disables it.
   */
  'repetitionPenalty'?: (number | string);
  /**
   * Generation ends when the output contains one of these strings; the stop string itself is
   * not part of the returned text.
   */
  'stop'?: (string)[];
  /**
   * Wall-clock budget for the request in milliseconds, queueing included. When it runs out the
   * text generated so far is returned with STOP_REASON_TIME_LIMIT. 0 or unset: no limit (the
   * gRPC deadline still applies and ends the call with DEADLINE_EXCEEDED).
   */
  'timeLimitMs'?: (number);
  /**
   * Constrains the answer to a structure (JSON schema, regular expression, choice list, Lark
   * grammar). Unset: free text. Cannot be combined with min_new_tokens.
   */
  'structuredOutput'?: (_tuneserve_v1_StructuredOutput | null);
  /**
   * Report each generated token's log-probability: the model's log_softmax (after the adapter,
   * before repetition penalty, grammar mask, temperature, top-k and top-p). Costs one log_softmax
   * over the vocabulary per token.
   */
  'logprobs'?: (boolean);
  /**
   * With logprobs: also the top_logprobs likeliest tokens at each place, 0 to 20.
   */
  'topLogprobs'?: (number);
  /**
   * Also report the prompt tokens' log-probabilities (the first token has none). The prompt is
   * then computed in full, never taken from the prefix cache, with one logits row per token.
   */
  'promptLogprobs'?: (boolean);
  /**
   * OpenAI's penalties on the output so far, -2 to 2: each token's logit is lowered by
   * frequency_penalty times the times it was generated, and by presence_penalty once if it was
   * (negative values encourage repeats). 0 disables them. The prompt is not counted.
   */
  'frequencyPenalty'?: (number | string);
  'presencePenalty'?: (number | string);
  /**
   * Added to the logits of these token ids (the base model's) before sampling, -100 to 100 (OpenAI's
   * logit_bias): -100 in effect bans a token, 100 all but forces it. At most 1024 entries; a
   * structured output's grammar still decides which tokens may follow.
   */
  'logitBias'?: ({[key: number]: number | string});
  /**
   * Generate max_new_tokens tokens: end-of-sequence tokens are never sampled (llama.cpp's and
   * vLLM's ignore_eos, which load tests send). Stop strings still end the answer. Cannot be
   * combined with structured_output.
   */
  'ignoreEos'?: (boolean);
  /**
   * Generation also ends at these token ids (the base model's), as at its own end-of-sequence
   * tokens (STOP_REASON_END_OF_SEQUENCE, the token not in the text): vLLM's stop_token_ids. At most
   * 64; min_new_tokens and ignore_eos hold them back too.
   */
  'stopTokenIds'?: (number)[];
  /**
   * Keep the stop string that ended the answer at the end of its text (vLLM's
   * include_stop_str_in_output); unset or false: the text ends before it.
   */
  'includeStopStrInOutput'?: (boolean);
  '_maxNewTokens'?: "maxNewTokens";
  '_minNewTokens'?: "minNewTokens";
  '_temperature'?: "temperature";
  '_topP'?: "topP";
  '_topK'?: "topK";
  '_seed'?: "seed";
  '_repetitionPenalty'?: "repetitionPenalty";
  '_timeLimitMs'?: "timeLimitMs";
  '_logprobs'?: "logprobs";
  '_topLogprobs'?: "topLogprobs";
  '_promptLogprobs'?: "promptLogprobs";
  '_frequencyPenalty'?: "frequencyPenalty";
  '_presencePenalty'?: "presencePenalty";
  '_ignoreEos'?: "ignoreEos";
  '_includeStopStrInOutput'?: "includeStopStrInOutput";
}

/**
 * Decoding parameters. An unset field takes the task's default (task endpoints), then the
 * server's default. Ranges are checked by the server; a value out of range is INVALID_ARGUMENT.
 */
export interface GenerationParameters__Output {
  /**
   * Most tokens to generate, >= 1. Unset: the server's default_max_new_tokens, capped so that
   * prompt + output fit in the context window.
   */
  'maxNewTokens'?: (number);
  /**
   * End-of-sequence and stop tokens are suppressed until this many tokens were generated.
   */
  'minNewTokens'?: (number);
  /**
   * 0 decodes greedily (the server default); > 0 samples from softmax(logits / temperature).
   */
  'temperature'?: (number);
  /**
   * Nucleus sampling: sample from the smallest set of tokens whose probability reaches top_p.
   * In [0, 1]; 1 disables it, 0 keeps only the most likely token.
   */
  'topP'?: (number);
  /**
   * Sample only among the top_k most likely tokens; 0 disables it.
   */
  'topK'?: (number);
  /**
   * Seed of this request's sampler: the same request with the same seed gives the same output,
   * whatever else the server is running.
   */
  'seed'?: (number);
  /**
   * > 1 discourages tokens already in the prompt or output (the CTRL rule used by
   * transformers); 1 disables it.
   */
  'repetitionPenalty'?: (number);
  /**
   * Generation ends when the output contains one of these strings; the stop string itself is
   * not part of the returned text.
   */
  'stop': (string)[];
  /**
   * Wall-clock budget for the request in milliseconds, queueing included. When it runs out the
   * text generated so far is returned with STOP_REASON_TIME_LIMIT. 0 or unset: no limit (the
   * gRPC deadline still applies and ends the call with DEADLINE_EXCEEDED).
   */
  'timeLimitMs'?: (number);
  /**
   * Constrains the answer to a structure (JSON schema, regular expression, choice list, Lark
   * grammar). Unset: free text. Cannot be combined with min_new_tokens.
   */
  'structuredOutput': (_tuneserve_v1_StructuredOutput__Output | null);
  /**
   * Report each generated token's log-probability: the model's log_softmax (after the adapter,
   * before repetition penalty, grammar mask, temperature, top-k and top-p). Costs one log_softmax
   * over the vocabulary per token.
   */
  'logprobs'?: (boolean);
  /**
   * With logprobs: also the top_logprobs likeliest tokens at each place, 0 to 20.
   */
  'topLogprobs'?: (number);
  /**
   * Also report the prompt tokens' log-probabilities (the first token has none). The prompt is
   * then computed in full, never taken from the prefix cache, with one logits row per token.
   */
  'promptLogprobs'?: (boolean);
  /**
   * OpenAI's penalties on the output so far, -2 to 2: each token's logit is lowered by
   * frequency_penalty times the times it was generated, and by presence_penalty once if it was
   * (negative values encourage repeats). 0 disables them. The prompt is not counted.
   */
  'frequencyPenalty'?: (number);
  'presencePenalty'?: (number);
  /**
   * Added to the logits of these token ids (the base model's) before sampling, -100 to 100 (OpenAI's
   * logit_bias): -100 in effect bans a token, 100 all but forces it. At most 1024 entries; a
   * structured output's grammar still decides which tokens may follow.
   */
  'logitBias': ({[key: number]: number});
  /**
   * Generate max_new_tokens tokens: end-of-sequence tokens are never sampled (llama.cpp's and
   * vLLM's ignore_eos, which load tests send). Stop strings still end the answer. Cannot be
   * combined with structured_output.
   */
  'ignoreEos'?: (boolean);
  /**
   * Generation also ends at these token ids (the base model's), as at its own end-of-sequence
   * tokens (STOP_REASON_END_OF_SEQUENCE, the token not in the text): vLLM's stop_token_ids. At most
   * 64; min_new_tokens and ignore_eos hold them back too.
   */
  'stopTokenIds': (number)[];
  /**
   * Keep the stop string that ended the answer at the end of its text (vLLM's
   * include_stop_str_in_output); unset or false: the text ends before it.
   */
  'includeStopStrInOutput'?: (boolean);
  '_maxNewTokens'?: "maxNewTokens";
  '_minNewTokens'?: "minNewTokens";
  '_temperature'?: "temperature";
  '_topP'?: "topP";
  '_topK'?: "topK";
  '_seed'?: "seed";
  '_repetitionPenalty'?: "repetitionPenalty";
  '_timeLimitMs'?: "timeLimitMs";
  '_logprobs'?: "logprobs";
  '_topLogprobs'?: "topLogprobs";
  '_promptLogprobs'?: "promptLogprobs";
  '_frequencyPenalty'?: "frequencyPenalty";
  '_presencePenalty'?: "presencePenalty";
  '_ignoreEos'?: "ignoreEos";
  '_includeStopStrInOutput'?: "includeStopStrInOutput";
}
