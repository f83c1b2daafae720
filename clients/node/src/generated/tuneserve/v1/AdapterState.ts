// Original file: ../../proto/tuneserve/v1/adapters.proto

export const AdapterState = {
  ADAPTER_STATE_UNSPECIFIED: 'ADAPTER_STATE_UNSPECIFIED',
  /**
   * In the store, not loaded.
   */
  ADAPTER_STATE_STORED: 'ADAPTER_STATE_STORED',
  ADAPTER_STATE_LOADING: 'ADAPTER_STATE_LOADING',
  /**
   * Checked and ready to serve.
   */
  ADAPTER_STATE_LOADED: 'ADAPTER_STATE_LOADED',
  /**
   * Failed a check; see refusal_reason and last_error. Never served.
   */
  ADAPTER_STATE_REFUSED: 'ADAPTER_STATE_REFUSED',
} as const;

export type AdapterState =
  | 'ADAPTER_STATE_UNSPECIFIED'
  | 0
  /**
   * In the store, not loaded.
   */
  | 'ADAPTER_STATE_STORED'
  | 1
  | 'ADAPTER_STATE_LOADING'
  | 2
  /**
   * Checked and ready to serve.
   */
  | 'ADAPTER_STATE_LOADED'
  | 3
  /**
   * Failed a check; see refusal_reason and last_error. Never served.
   */
  | 'ADAPTER_STATE_REFUSED'
  | 4

export type AdapterState__Output = typeof AdapterState[keyof typeof AdapterState]
