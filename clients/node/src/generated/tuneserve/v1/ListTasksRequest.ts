// Original file: ../../proto/tuneserve/v1/tasks.proto


export interface ListTasksRequest {
}

export interface ListTasksRequest__Output {
}
