// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { ArmReport as _tuneserve_v1_ArmReport, ArmReport__Output as _tuneserve_v1_ArmReport__Output } from '../../tuneserve/v1/ArmReport';
import type { ExperimentEvent as _tuneserve_v1_ExperimentEvent, ExperimentEvent__Output as _tuneserve_v1_ExperimentEvent__Output } from '../../tuneserve/v1/ExperimentEvent';

export interface Experiment {
  'name'?: (string);
  /**
   * The rollout in force ("3=90 4=10 shadow=5"), empty for none.
   */
  'rollout'?: (string);
  /**
   * When it began (Unix seconds); the report counts requests from then on, or over the whole
   * retention window without a rollout.
   */
  'sinceUnixS'?: (number | string);
  'servingVersion'?: (number);
  'arms'?: (_tuneserve_v1_ArmReport)[];
  'events'?: (_tuneserve_v1_ExperimentEvent)[];
}

export interface Experiment__Output {
  'name': (string);
  /**
   * The rollout in force ("3=90 4=10 shadow=5"), empty for none.
   */
  'rollout': (string);
  /**
   * When it began (Unix seconds); the report counts requests from then on, or over the whole
   * retention window without a rollout.
   */
  'sinceUnixS': (number);
  'servingVersion': (number);
  'arms': (_tuneserve_v1_ArmReport__Output)[];
  'events': (_tuneserve_v1_ExperimentEvent__Output)[];
}
