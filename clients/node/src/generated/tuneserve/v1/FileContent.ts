// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface FileContent {
  'content'?: (Buffer | Uint8Array | string);
}

export interface FileContent__Output {
  'content': (Buffer);
}
