// `policyc status`: asks the node daemon (its unix socket, root only) what policy it enforces.
import { parseArgs } from 'node:util';
import { exitCodes, type Command } from '../command.js';
import { DEFAULT_SOCKET } from '../../dataplane/daemon/start.js';
import { daemonRequest } from '../../dataplane/policy/client.js';

function line(label: string, value: unknown): string {
  return `${`${label}:`.padEnd(14)}${value}\n`;
}

export function renderStatus(s: any): string {
  let out = '';
  out += line('ready', s.ready ? 'yes' : `no${s.requirePolicy ? ' (no policy loaded yet; pods wait)' : ''}`);
  out += line('netns', `${s.netns} (nft via ${s.nft})`);
  if (s.artifact) {
    out += line('artifact', `${s.artifact.hash.slice(0, 12)} from ${s.artifact.source ?? '?'}, loaded ${s.artifact.loadedAt}, table inet ${s.artifact.table}`);
    out += line('policy', `${s.counts.policies} policies, ${s.counts.rules} rules, ${s.counts.groups} groups, ${s.counts.identities} identities, ${s.counts.setElements} set elements (from ${s.elementsFrom})`);
    const scope = s.counts.scope;
    out += line('table', scope?.node ? `node-local: node ${scope.node}, decisions for ${scope.localPods ?? 0} local pods${scope.lingering ? ` and ${scope.lingering} lingering subject(s)` : ''}` : 'cluster-wide (no --node-name)');
  } else {
    out += line('artifact', 'none');
  }
  out += line('cluster', `${s.cluster.pushed ? '' : 'not pushed; '}${s.cluster.namespaces} namespaces, ${s.cluster.pods} pods, ${s.cluster.nodes} nodes; ${s.endpoints} local endpoints`);
  if (s.lastApply) out += line('last apply', `${s.lastApply.kind}, ${s.lastApply.elements} elements, ${Number(s.lastApply.durationMs).toFixed(1)} ms at ${s.lastApply.at}${s.lastApply.fallback ? ` (${s.lastApply.fallback})` : ''}`);
  out += line('applies', `${s.applies.full ?? 0} full, ${s.applies.diff ?? 0} diff`);
  if (Array.isArray(s.recentDrops) && s.recentDrops.length > 0) {
    const d = s.recentDrops[0];
    out += line('last drop', `${d.at ?? ''} ${d.ruleId ?? (d.isolated ? `isolated (${d.isolated})` : '?')}${d.src ? ` ${d.src} -> ${d.dst}${d.dport !== undefined ? `:${d.dport}` : ''}` : ''} (${s.recentDrops.length} recent samples)`);
  }
  out += line('last error', s.lastError ? `${s.lastError.at} ${s.lastError.reason}: ${s.lastError.message}` : 'none');
  return out;
}

export const command: Command = {
  name: 'status',
  summary: 'what policy the node daemon enforces (artifact, counts, readiness, last error)',
  usage: `policyc status [--socket PATH (default ${DEFAULT_SOCKET})] [-o text|json]`,
  async run(args, io) {
    let values;
    try {
      ({ values } = parseArgs({ args, options: { socket: { type: 'string', default: DEFAULT_SOCKET }, output: { type: 'string', short: 'o', default: 'text' } } }));
    } catch (err) {
      io.stderr.write(`policyc status: ${(err as Error).message}\nusage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    if (values.output !== 'text' && values.output !== 'json') {
      io.stderr.write(`usage: ${this.usage}\n`);
      return exitCodes.usage;
    }
    let s: any;
    try {
      s = await daemonRequest(values.socket!, { type: 'status' }, 10_000);
    } catch (err) {
      io.stderr.write(`policyc status: cannot reach the daemon at ${values.socket}: ${(err as Error).message}\n`);
      return exitCodes.failed;
    }
    if (s?.error) {
      io.stderr.write(`policyc status: ${s.error}${s.known ? ' (is the policy engine on? policyc daemon --policy on or --artifacts DIR)' : ''}\n`);
      return exitCodes.failed;
    }
    io.stdout.write(values.output === 'json' ? `${JSON.stringify(s, null, 2)}\n` : renderStatus(s));
    return s.ready ? exitCodes.ok : exitCodes.failed;
  },
};
