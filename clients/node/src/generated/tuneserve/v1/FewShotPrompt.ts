// Original file: ../../proto/tuneserve/v1/inference.proto

import type { Demonstration as _tuneserve_v1_Demonstration, Demonstration__Output as _tuneserve_v1_Demonstration__Output } from '../../tuneserve/v1/Demonstration';
import type { DemonstrationSelection as _tuneserve_v1_DemonstrationSelection, DemonstrationSelection__Output as _tuneserve_v1_DemonstrationSelection__Output } from '../../tuneserve/v1/DemonstrationSelection';
import type { DemonstrationOrder as _tuneserve_v1_DemonstrationOrder, DemonstrationOrder__Output as _tuneserve_v1_DemonstrationOrder__Output } from '../../tuneserve/v1/DemonstrationOrder';
import type { Long } from '@grpc/proto-loader';

export interface FewShotPrompt {
  /**
   * What the model is asked to do (the system message with the chat template).
   */
  'instruction'?: (string);
  'demonstrations'?: (_tuneserve_v1_Demonstration)[];
  /**
   * The input to answer.
   */
  'query'?: (string);
  /**
   * "chat" (the model's chat template, the default) or "plain".
   */
  'template'?: (string);
  /**
   * How inputs are written into the prompt, with {input}; empty: the template's default
   * ("{input}" for chat, "Input: {input}\nOutput:" for plain).
   */
  'inputFormat'?: (string);
  'selection'?: (_tuneserve_v1_DemonstrationSelection);
  'order'?: (_tuneserve_v1_DemonstrationOrder);
  /**
   * Seed of the random selection.
   */
  'seed'?: (number | string | Long);
  /**
   * Most demonstrations to use; 0: as many as fit.
   */
  'maxDemonstrations'?: (number);
  /**
   * Token budget of the prompt; 0: the server's max_prompt_tokens, less room for the output.
   */
  'maxPromptTokens'?: (number);
}

export interface FewShotPrompt__Output {
  /**
   * What the model is asked to do (the system message with the chat template).
   */
  'instruction': (string);
  'demonstrations': (_tuneserve_v1_Demonstration__Output)[];
  /**
   * The input to answer.
   */
  'query': (string);
  /**
   * "chat" (the model's chat template, the default) or "plain".
   */
  'template': (string);
  /**
   * How inputs are written into the prompt, with {input}; empty: the template's default
   * ("{input}" for chat, "Input: {input}\nOutput:" for plain).
   */
  'inputFormat': (string);
  'selection': (_tuneserve_v1_DemonstrationSelection__Output);
  'order': (_tuneserve_v1_DemonstrationOrder__Output);
  /**
   * Seed of the random selection.
   */
  'seed': (number);
  /**
   * Most demonstrations to use; 0: as many as fit.
   */
  'maxDemonstrations': (number);
  /**
   * Token budget of the prompt; 0: the server's max_prompt_tokens, less room for the output.
   */
  'maxPromptTokens': (number);
}
