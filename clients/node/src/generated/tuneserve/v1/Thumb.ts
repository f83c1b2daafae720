// Original file: ../../proto/tuneserve/v1/inference.proto

export const Thumb = {
  THUMB_UNSPECIFIED: 'THUMB_UNSPECIFIED',
  THUMB_UP: 'THUMB_UP',
  THUMB_DOWN: 'THUMB_DOWN',
} as const;

export type Thumb =
  | 'THUMB_UNSPECIFIED'
  | 0
  | 'THUMB_UP'
  | 1
  | 'THUMB_DOWN'
  | 2

export type Thumb__Output = typeof Thumb[keyof typeof Thumb]
