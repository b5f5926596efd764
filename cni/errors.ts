// CNI error codes (SPEC.md "Error codes") and the error value every handler returns.
// 0-99 are the spec's; 100+ are this plugin's own.

export const CniCode = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnvironment: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  pluginNotAvailable: 50,
  /** ADD for a (container id, ifname) that already has an attachment. */
  attachmentExists: 100,
  /** The kernel refused part of the wiring. */
  wiringFailed: 101,
  /** No free address, or a requested one is taken or outside the pod CIDR. */
  ipamFailed: 102,
  /** CHECK found the kernel state differs from prevResult. */
  checkFailed: 103,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    readonly msg: string,
    readonly details = '',
  ) {
    super(details ? `${msg}: ${details}` : msg);
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details: string } {
    return { cniVersion, code: this.code, msg: this.msg, details: this.details };
  }
}
