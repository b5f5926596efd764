// What every CNI command handler works with. Built once per daemon by registerCni.
import type { EndpointRegistry } from '../../dataplane/daemon/endpoints.js';
import type { NetConf } from '../config.js';
import type { CniEnv } from '../env.js';
import type { PodIpam } from '../ipam/pod-ipam.js';
import type { KeyedLock } from '../keyed-lock.js';
import type { NetnsTarget } from '../wiring/netns.js';
import type { TeardownQueue } from '../wiring/teardown.js';
import type { Wirer } from '../wiring/veth.js';

export interface CniContext {
  endpoints: EndpointRegistry;
  ipam: PodIpam;
  /** The node's namespace: where host veth ends and host routes live. */
  host: NetnsTarget;
  teardown: TeardownQueue;
  /** how pods are wired: the netlink helper, or `ip -batch` */
  wirer: Wirer;
  /** Serializes all commands for one attachment (container id + ifname). */
  attachments: KeyedLock;
  /** The dataplane readiness the policy side reports; STATUS answers 50 when false. */
  isReady(): boolean;
  log(msg: string): void;
}

export interface CniCall {
  env: CniEnv;
  conf: NetConf;
  /** stdin as received, for delegated plugins */
  stdin: string;
}
