// `policyc lab <up|apply|probe|exec|delete|down|status>`: a local cluster made of network
// namespaces (dataplane/lab/). Every subcommand takes --name (default "default").
import { parseArgs } from 'node:util';
import type { Protocol } from '../../compiler/model/k8s-types.js';
import { LabError, labApply, labDelete, labDown, labExec, labProbe, labStatus, labUp } from '../../dataplane/lab/lab.js';
import { DEFAULT_LAB } from '../../dataplane/lab/names.js';
import { exitCodes, type Command, type Io } from '../command.js';
import { readInputs } from '../read-inputs.js';
import { renderReachText } from '../render-reach-text.js';
import { renderDiagnostics } from '../render-diagnostics.js';
import { splitFileArgs } from '../load.js';
import { SourceSet } from '../../compiler/syntax/source.js';

const USAGE = [
  'policyc lab up -f <snapshot>... [--name N] [--nodes K] [--dataplane nft]',
  '       policyc lab apply -f <files>... [--name N] [--prune]',
  '       policyc lab probe --port <number|name> [--protocol TCP|UDP|SCTP] [--family 4|6] [-o text|json] [--timeout-ms MS] [--name N]',
  '       policyc lab exec [--name N] <namespace/pod> -- <command> [args...]',
  '       policyc lab delete [--name N] pod|namespace|networkpolicy <name | namespace/name> [-n namespace]',
  '       policyc lab down [--name N]',
  '       policyc lab status [--name N] [-o text|json]',
].join('\n');

function readSources(paths: string[], io: Io) {
  const read = readInputs(paths, io.cwd);
  if (read.diagnostics.length) {
    const sources = new SourceSet();
    for (const f of read.files) sources.add(f);
    io.stderr.write(`${renderDiagnostics(read.diagnostics, sources, 'text')}\n`);
    return undefined;
  }
  return read.files;
}

function ms(timings: Record<string, number>): string {
  return Object.entries(timings)
    .map(([k, v]) => `${k} ${v} ms`)
    .join(', ');
}

async function up(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { file: { type: 'string', short: 'f', multiple: true }, name: { type: 'string', default: DEFAULT_LAB }, nodes: { type: 'string' }, dataplane: { type: 'string', default: 'nft' } },
  });
  const files = [...splitFileArgs(values.file), ...positionals];
  if (files.length === 0 || (values.nodes !== undefined && !/^\d+$/.test(values.nodes))) return usage(io);
  const sources = readSources(files, io);
  if (!sources) return exitCodes.failed;
  const r = await labUp({ name: values.name!, sources, nodes: values.nodes ? Number(values.nodes) : undefined, dataplane: values.dataplane });
  const s = r.state;
  io.stdout.write(`lab '${s.name}' is up: ${s.nodes.length} nodes (${s.nodes.map((n) => `${n.name} ${[n.podCidr, n.podCidr6].filter(Boolean).join(' ')}`).join(', ')}), ${Object.keys(s.pods).length} pods, ${Object.keys(s.objects.policies).length} policies (${r.delivered.how})\n`);
  io.stderr.write(`policyc lab: ${ms(r.timings)}\n`);
  return exitCodes.ok;
}

async function apply(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { file: { type: 'string', short: 'f', multiple: true }, name: { type: 'string', default: DEFAULT_LAB }, prune: { type: 'boolean', default: false } },
  });
  const files = [...splitFileArgs(values.file), ...positionals];
  if (files.length === 0) return usage(io);
  const sources = readSources(files, io);
  if (!sources) return exitCodes.failed;
  const r = await labApply({ name: values.name!, sources, prune: values.prune });
  const parts = [
    r.policies.added.length && `${r.policies.added.length} policies added`,
    r.policies.updated.length && `${r.policies.updated.length} updated`,
    r.policies.removed.length && `${r.policies.removed.length} removed`,
    r.created.length && `pods created: ${r.created.join(', ')}`,
    r.recreated.length && `pods re-created: ${r.recreated.join(', ')}`,
    r.updatedPods.length && `pods updated: ${r.updatedPods.join(', ')}`,
  ].filter(Boolean);
  io.stdout.write(`applied to lab '${values.name}' (${r.delivered.how}): ${parts.join('; ') || 'no changes'}\n`);
  io.stderr.write(`policyc lab: ${ms(r.timings)}\n`);
  return exitCodes.ok;
}

async function probe(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      name: { type: 'string', default: DEFAULT_LAB },
      port: { type: 'string', short: 'p' },
      protocol: { type: 'string', default: 'TCP' },
      family: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
      'timeout-ms': { type: 'string', default: '400' },
    },
  });
  const protocol = values.protocol!.toUpperCase();
  if (!values.port || !['TCP', 'UDP', 'SCTP'].includes(protocol) || !['text', 'json'].includes(values.output!) || !/^\d+$/.test(values['timeout-ms']!) || (values.family !== undefined && !['4', '6'].includes(values.family))) return usage(io);
  const port = /^\d+$/.test(values.port) ? Number(values.port) : values.port;
  const m = await labProbe(values.name!, port, protocol as Protocol, { timeoutMs: Number(values['timeout-ms']), family: values.family === undefined ? undefined : (Number(values.family) as 4 | 6) });
  if (values.output === 'json') io.stdout.write(`${JSON.stringify({ pods: m.pods, allowed: m.allowed })}\n`);
  else {
    io.stdout.write(`${renderReachText(m)}\n`);
    io.stderr.write(`policyc lab: ${m.probes} probes (${values.port}/${protocol}, IPv${m.family}) in ${m.ms} ms\n`);
  }
  return exitCodes.ok;
}

async function exec(args: string[], io: Io): Promise<number> {
  const dash = args.indexOf('--');
  if (dash < 0) return usage(io);
  const { values, positionals } = parseArgs({ args: args.slice(0, dash), allowPositionals: true, options: { name: { type: 'string', default: DEFAULT_LAB } } });
  if (positionals.length !== 1) return usage(io);
  return labExec(values.name!, positionals[0]!, args.slice(dash + 1), { stdout: io.stdout, stderr: io.stderr, stdin: process.stdin.isTTY ? 'inherit' : 'ignore' });
}

async function del(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { name: { type: 'string', default: DEFAULT_LAB }, namespace: { type: 'string', short: 'n', default: 'default' } } });
  if (positionals.length !== 2) return usage(io);
  const r = await labDelete(values.name!, positionals[0]!, positionals[1]!, values.namespace);
  const parts = [r.pods.length && `pods ${r.pods.join(', ')}`, r.namespaces.length && `namespaces ${r.namespaces.join(', ')}`, r.policies.length && `policies ${r.policies.join(', ')}`].filter(Boolean);
  io.stdout.write(`deleted from lab '${values.name}': ${parts.join('; ')}\n`);
  return exitCodes.ok;
}

async function down(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { name: { type: 'string', default: DEFAULT_LAB } } });
  const r = await labDown(values.name!);
  io.stdout.write(`lab '${values.name}' is down: ${r.stoppedProcesses.length} processes stopped, ${r.removedNetns.length} namespaces removed\n`);
  if (r.leftNetns.length || r.leftProcesses.length) {
    io.stderr.write(`policyc lab: left behind: namespaces ${r.leftNetns.join(', ') || '-'}; processes ${r.leftProcesses.join(', ') || '-'}\n`);
    return exitCodes.failed;
  }
  return exitCodes.ok;
}

async function status(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { name: { type: 'string', default: DEFAULT_LAB }, output: { type: 'string', short: 'o', default: 'text' } } });
  const s = labStatus(values.name!);
  if (values.output === 'json') {
    io.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return exitCodes.ok;
  }
  const lines = [`lab '${s.name}' (${s.dir}), created ${s.createdAt}, policies delivered: ${s.delivery ?? '-'}`];
  for (const n of s.nodes) lines.push(`  node ${n.name}  netns ${n.netns}  pod CIDR ${[n.podCidr, n.podCidr6].filter(Boolean).join(', ')}  underlay ${n.underlayIp}  daemon pid ${n.pid ?? '-'}`);
  for (const key of Object.keys(s.pods).sort()) {
    const p = s.pods[key]!;
    lines.push(`  pod ${key}  ${[p.ip, p.ip6].filter(Boolean).join(' ')}  on ${p.node}  netns ${p.netns}  server pid ${p.serverPid ?? '-'}`);
  }
  lines.push(`  policies: ${Object.keys(s.objects.policies).sort().join(', ') || '-'}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return exitCodes.ok;
}

function usage(io: Io): number {
  io.stderr.write(`usage: ${USAGE}\n`);
  return exitCodes.usage;
}

const SUBCOMMANDS: Record<string, (args: string[], io: Io) => Promise<number>> = { up, apply, probe, exec, delete: del, down, status };

export const command: Command = {
  name: 'lab',
  summary: 'a local cluster of network namespaces: nodes, VXLAN overlay, our CNI and daemon, real-packet probes',
  usage: USAGE,
  async run(args, io) {
    const sub = SUBCOMMANDS[args[0] ?? ''];
    if (!sub) return usage(io);
    try {
      return await sub(args.slice(1), io);
    } catch (err) {
      if (err instanceof LabError) {
        io.stderr.write(`policyc lab ${args[0]}: ${err.message}\n`);
        return exitCodes.failed;
      }
      if (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        io.stderr.write(`policyc lab ${args[0]}: ${err.message}\n`);
        return usage(io);
      }
      throw err;
    }
  },
};
