// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface GetTaskRequest {
  'name'?: (string);
}

export interface GetTaskRequest__Output {
  'name': (string);
}
