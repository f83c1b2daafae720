// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { AdapterInfo as _tuneserve_v1_AdapterInfo, AdapterInfo__Output as _tuneserve_v1_AdapterInfo__Output } from '../../tuneserve/v1/AdapterInfo';

export interface ListAdaptersResponse {
  'adapters'?: (_tuneserve_v1_AdapterInfo)[];
}

export interface ListAdaptersResponse__Output {
  'adapters': (_tuneserve_v1_AdapterInfo__Output)[];
}
