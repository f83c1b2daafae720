// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { AdapterVersion as _tuneserve_v1_AdapterVersion, AdapterVersion__Output as _tuneserve_v1_AdapterVersion__Output } from '../../tuneserve/v1/AdapterVersion';

export interface AdapterInfo {
  'name'?: (string);
  'versions'?: (_tuneserve_v1_AdapterVersion)[];
  /**
   * The store's current version (0: none).
   */
  'currentVersion'?: (number);
  /**
   * The version requests for the bare name get now (0: none loaded yet). It differs from
   * current_version while a new current version loads, or when it was refused.
   */
  'servingVersion'?: (number);
  /**
   * The split of bare-name traffic (version -> percent) while one is set; empty otherwise.
   */
  'rolloutWeights'?: ({[key: number]: number});
  /**
   * The version that gets shadow copies of bare-name requests; 0: none.
   */
  'rolloutShadow'?: (number);
  /**
   * Whether a guard rule can end the split by itself.
   */
  'rolloutGuarded'?: (boolean);
}

export interface AdapterInfo__Output {
  'name': (string);
  'versions': (_tuneserve_v1_AdapterVersion__Output)[];
  /**
   * The store's current version (0: none).
   */
  'currentVersion': (number);
  /**
   * The version requests for the bare name get now (0: none loaded yet). It differs from
   * current_version while a new current version loads, or when it was refused.
   */
  'servingVersion': (number);
  /**
   * The split of bare-name traffic (version -> percent) while one is set; empty otherwise.
   */
  'rolloutWeights': ({[key: number]: number});
  /**
   * The version that gets shadow copies of bare-name requests; 0: none.
   */
  'rolloutShadow': (number);
  /**
   * Whether a guard rule can end the split by itself.
   */
  'rolloutGuarded': (boolean);
}
