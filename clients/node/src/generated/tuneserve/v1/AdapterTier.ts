// Original file: ../../proto/tuneserve/v1/adapters.proto

export const AdapterTier = {
  ADAPTER_TIER_UNSPECIFIED: 'ADAPTER_TIER_UNSPECIFIED',
  /**
   * Only on disk.
   */
  ADAPTER_TIER_DISK: 'ADAPTER_TIER_DISK',
  /**
   * In host memory, ready to be copied into a LoRA slot.
   */
  ADAPTER_TIER_HOST: 'ADAPTER_TIER_HOST',
  /**
   * In a LoRA slot of the batched engine.
   */
  ADAPTER_TIER_DEVICE: 'ADAPTER_TIER_DEVICE',
} as const;

export type AdapterTier =
  | 'ADAPTER_TIER_UNSPECIFIED'
  | 0
  /**
   * Only on disk.
   */
  | 'ADAPTER_TIER_DISK'
  | 1
  /**
   * In host memory, ready to be copied into a LoRA slot.
   */
  | 'ADAPTER_TIER_HOST'
  | 2
  /**
   * In a LoRA slot of the batched engine.
   */
  | 'ADAPTER_TIER_DEVICE'
  | 3

export type AdapterTier__Output = typeof AdapterTier[keyof typeof AdapterTier]
