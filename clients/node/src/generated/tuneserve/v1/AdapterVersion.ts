// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { AdapterState as _tuneserve_v1_AdapterState, AdapterState__Output as _tuneserve_v1_AdapterState__Output } from '../../tuneserve/v1/AdapterState';
import type { AdapterTier as _tuneserve_v1_AdapterTier, AdapterTier__Output as _tuneserve_v1_AdapterTier__Output } from '../../tuneserve/v1/AdapterTier';

export interface AdapterVersion {
  'version'?: (number);
  'state'?: (_tuneserve_v1_AdapterState);
  'tier'?: (_tuneserve_v1_AdapterTier);
  /**
   * Why the version was refused, in words.
   */
  'lastError'?: (string);
  /**
   * Which check refused it: manifest, wrong_base, config, unsupported, target_modules, rank,
   * checksum, pickle, weights, missing.
   */
  'refusalReason'?: (string);
  /**
   * Requests queued or running on this version.
   */
  'activeRequests'?: (number);
  /**
   * Hash of the version's files; caches keyed by adapter use it.
   */
  'contentHash'?: (string);
  'rank'?: (number);
}

export interface AdapterVersion__Output {
  'version': (number);
  'state': (_tuneserve_v1_AdapterState__Output);
  'tier': (_tuneserve_v1_AdapterTier__Output);
  /**
   * Why the version was refused, in words.
   */
  'lastError': (string);
  /**
   * Which check refused it: manifest, wrong_base, config, unsupported, target_modules, rank,
   * checksum, pickle, weights, missing.
   */
  'refusalReason': (string);
  /**
   * Requests queued or running on this version.
   */
  'activeRequests': (number);
  /**
   * Hash of the version's files; caches keyed by adapter use it.
   */
  'contentHash': (string);
  'rank': (number);
}
