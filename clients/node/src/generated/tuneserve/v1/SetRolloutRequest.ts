// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { GuardRule as _tuneserve_v1_GuardRule, GuardRule__Output as _tuneserve_v1_GuardRule__Output } from '../../tuneserve/v1/GuardRule';

export interface SetRolloutRequest {
  'name'?: (string);
  /**
   * Version -> percent of requests; 2 to 8 versions, each 1-99, adding up to 100. Version 0 is the
   * prompting arm: the base model without an adapter (for a task, with its few-shot prompt).
   * Empty: no split (a shadow alone).
   */
  'weights'?: ({[key: number]: number});
  /**
   * A version that gets a copy of every bare-name request; 0: none.
   */
  'shadow'?: (number);
  /**
   * Ends the split by itself when a canary does worse than the control arm; unset: only by hand.
   */
  'guard'?: (_tuneserve_v1_GuardRule | null);
}

export interface SetRolloutRequest__Output {
  'name': (string);
  /**
   * Version -> percent of requests; 2 to 8 versions, each 1-99, adding up to 100. Version 0 is the
   * prompting arm: the base model without an adapter (for a task, with its few-shot prompt).
   * Empty: no split (a shadow alone).
   */
  'weights': ({[key: number]: number});
  /**
   * A version that gets a copy of every bare-name request; 0: none.
   */
  'shadow': (number);
  /**
   * Ends the split by itself when a canary does worse than the control arm; unset: only by hand.
   */
  'guard': (_tuneserve_v1_GuardRule__Output | null);
}
