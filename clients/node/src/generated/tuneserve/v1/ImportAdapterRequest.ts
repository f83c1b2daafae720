// Original file: ../../proto/tuneserve/v1/adapters.proto

import type { ImportHeader as _tuneserve_v1_ImportHeader, ImportHeader__Output as _tuneserve_v1_ImportHeader__Output } from '../../tuneserve/v1/ImportHeader';
import type { FileChunk as _tuneserve_v1_FileChunk, FileChunk__Output as _tuneserve_v1_FileChunk__Output } from '../../tuneserve/v1/FileChunk';

export interface ImportAdapterRequest {
  'header'?: (_tuneserve_v1_ImportHeader | null);
  'chunk'?: (_tuneserve_v1_FileChunk | null);
  'part'?: "header"|"chunk";
}

export interface ImportAdapterRequest__Output {
  'header'?: (_tuneserve_v1_ImportHeader__Output | null);
  'chunk'?: (_tuneserve_v1_FileChunk__Output | null);
  'part'?: "header"|"chunk";
}
