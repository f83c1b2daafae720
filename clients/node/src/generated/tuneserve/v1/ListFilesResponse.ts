// Original file: ../../proto/tuneserve/v1/trainer.proto

import type { TrainingFile as _tuneserve_v1_TrainingFile, TrainingFile__Output as _tuneserve_v1_TrainingFile__Output } from '../../tuneserve/v1/TrainingFile';

export interface ListFilesResponse {
  'files'?: (_tuneserve_v1_TrainingFile)[];
  'hasMore'?: (boolean);
}

export interface ListFilesResponse__Output {
  'files': (_tuneserve_v1_TrainingFile__Output)[];
  'hasMore': (boolean);
}
