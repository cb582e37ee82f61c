// The steps of the create-VM wizard, one file each.
export { BasicsStep } from "./BasicsStep";
export { DiskStep } from "./DiskStep";
export { SizeStep } from "./SizeStep";
export { NetworkStep } from "./NetworkStep";
export { CloudInitStep, ciSummary } from "./CloudInitStep";
export type { StepProps } from "./shared";
