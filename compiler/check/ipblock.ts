// CIDR fields of policies: NetworkPolicy ipBlock (ValidateIPBlock) and AdminNetworkPolicy
// egress `networks` (the CRD's isCIDR rule). Parsing itself is in cidr.ts.

import { formatNet, isStrictSubnet, parseCidrSloppy, parseCidrStrict } from './cidr.js';
import { describe, fieldName, type Path, type Reporter } from './reporter.js';
import { listOf, str, type Obj } from './values.js';

export function checkIPBlock(r: Reporter, path: Path, ipBlock: Obj): void {
  const cidrText = str(ipBlock.cidr);
  if (cidrText === undefined) return;
  const where = fieldName(path);
  if (cidrText === '') {
    r.report('PC1010', [...path, 'cidr'], `\`${where}.cidr\` is required and may not be empty`);
    return;
  }
  const cidr = parseCidrSloppy(cidrText);
  reportParse(r, [...path, 'cidr'], cidrText, cidr);
  listOf(ipBlock.except).forEach((item, i) => {
    const text = str(item);
    if (text === undefined) return;
    const exceptPath = [...path, 'except', i];
    const except = parseCidrSloppy(text);
    reportParse(r, exceptPath, text, except);
    if (!cidr.net || !except.net) return;
    if (!isStrictSubnet(cidr.net, except.net)) {
      const why = cidr.net.family !== except.net.family ? 'it is not even of the same IP family' : `it is not strictly inside ${formatNet(cidr.net)}`;
      r.report('PC1107', exceptPath, `\`${fieldName(exceptPath)}\` ${describe(text)} must be a strict subset of \`cidr\` ${describe(cidrText)}: ${why}`);
    }
  });
}

function reportParse(r: Reporter, path: Path, text: string, parsed: ReturnType<typeof parseCidrSloppy>): void {
  if (parsed.error !== undefined) {
    r.report('PC1106', path, `\`${fieldName(path)}\` ${describe(text)} is not a valid CIDR: ${parsed.error}`);
  } else if (parsed.warning !== undefined && parsed.net) {
    r.report('PC1106', path, `\`${fieldName(path)}\` ${describe(text)}: ${parsed.warning}; use ${describe(formatNet(parsed.net))}`, { extra: { severity: 'warning' } });
  }
}

/** AdminNetworkPolicy / BaselineAdminNetworkPolicy egress peer `networks`. */
export function checkNetworks(r: Reporter, path: Path, networks: unknown): void {
  listOf(networks).forEach((item, i) => {
    const text = str(item);
    if (text === undefined) return;
    const parsed = parseCidrStrict(text);
    if (parsed.error !== undefined) {
      r.report('PC1106', [...path, i], `\`${fieldName([...path, i])}\` ${describe(text)} is not a valid CIDR (e.g. 10.0.0.0/8 or fd00::/8): ${parsed.error}`);
    }
  });
}
