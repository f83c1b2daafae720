// Original file: ../../proto/tuneserve/v1/tasks.proto

import type { TaskInfo as _tuneserve_v1_TaskInfo, TaskInfo__Output as _tuneserve_v1_TaskInfo__Output } from '../../tuneserve/v1/TaskInfo';
import type { TaskProblem as _tuneserve_v1_TaskProblem, TaskProblem__Output as _tuneserve_v1_TaskProblem__Output } from '../../tuneserve/v1/TaskProblem';

export interface ListTasksResponse {
  'tasks'?: (_tuneserve_v1_TaskInfo)[];
  'problems'?: (_tuneserve_v1_TaskProblem)[];
}

export interface ListTasksResponse__Output {
  'tasks': (_tuneserve_v1_TaskInfo__Output)[];
  'problems': (_tuneserve_v1_TaskProblem__Output)[];
}
