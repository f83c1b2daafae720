// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface GetFileRequest {
  'id'?: (string);
}

export interface GetFileRequest__Output {
  'id': (string);
}
