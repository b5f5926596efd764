// Fault injection for crash tests, off unless POLICYC_CNI_FAULT is set in the daemon's
// environment, e.g. POLICYC_CNI_FAULT=after-host-wiring:10000 pauses every ADD for 10 s
// after the veth exists and before the pod side is configured, so a test can kill -9 the
// daemon at exactly that point.
export type FaultPoint = 'after-host-wiring';

const spec = process.env.POLICYC_CNI_FAULT?.match(/^([a-z-]+):(\d+)$/);

export async function faultPoint(point: FaultPoint): Promise<void> {
  if (spec?.[1] === point) await new Promise((r) => setTimeout(r, Number(spec[2])));
}
