// Original file: ../../proto/tuneserve/v1/trainer.proto


export interface GetJobReportRequest {
  'id'?: (string);
}

export interface GetJobReportRequest__Output {
  'id': (string);
}
