// Every user-visible diagnostic lives here, with a stable code. The CLI, the language server
// and CI output (SARIF) all read this one table. Codes never change meaning once released.
//   PC1xxx  input: files, YAML, schema, API-server validation
//   PC2xxx  semantics: lints on what a valid policy means
//   PC3xxx  optimizer notes
//   PC4xxx  dataplane limits
//   PC5xxx  flows and .policytest files

export type Severity = 'error' | 'warning' | 'info' | 'hint';

export interface CatalogueEntry {
  readonly severity: Severity;
  /** Short name used in SARIF rules and docs. */
  readonly title: string;
}

export const catalogue = {
  // ---- files and YAML
  PC1001: { severity: 'error', title: 'YAML syntax error' },
  PC1002: { severity: 'error', title: 'input too large' },
  PC1003: { severity: 'error', title: 'too many YAML aliases' },
  PC1004: { severity: 'error', title: 'document is not a Kubernetes object' },
  PC1005: { severity: 'error', title: 'file cannot be read' },
  PC1006: { severity: 'warning', title: 'unknown kind ignored' },
  // ---- schema
  PC1010: { severity: 'error', title: 'required field missing' },
  PC1011: { severity: 'error', title: 'wrong type' },
  PC1012: { severity: 'error', title: 'value not allowed' },
  PC1013: { severity: 'warning', title: 'unknown field' },
  // ---- API-server cross-field rules
  PC1101: { severity: 'error', title: 'endPort without port' },
  PC1102: { severity: 'error', title: 'endPort with a named port' },
  PC1103: { severity: 'error', title: 'endPort below port' },
  PC1104: { severity: 'error', title: 'port out of range' },
  PC1105: { severity: 'error', title: 'invalid port name' },
  PC1106: { severity: 'error', title: 'invalid CIDR' },
  PC1107: { severity: 'error', title: 'except not strictly inside cidr' },
  PC1108: { severity: 'error', title: 'peer mixes ipBlock and selectors' },
  PC1109: { severity: 'error', title: 'empty peer' },
  PC1110: { severity: 'error', title: 'invalid label selector' },
  PC1111: { severity: 'error', title: 'invalid label key or value' },
  PC1112: { severity: 'error', title: 'invalid policyTypes' },
  PC1113: { severity: 'error', title: 'priority out of range' },
  PC1114: { severity: 'error', title: 'invalid object name' },
  PC1115: { severity: 'error', title: 'too many rules' },
  PC1116: { severity: 'error', title: 'invalid rule name' },
  PC1117: { severity: 'error', title: 'BaselineAdminNetworkPolicy must be named default' },
  PC1118: { severity: 'error', title: 'invalid peer' },
  PC1119: { severity: 'error', title: 'invalid protocol' },
  PC1120: { severity: 'error', title: 'invalid IP address' },
  // ---- semantic lints
  PC2001: { severity: 'warning', title: 'namespaceSelector and podSelector are ORed' },
  PC2002: { severity: 'warning', title: 'policyTypes omitted' },
  PC2003: { severity: 'warning', title: 'rules ignored: direction not in policyTypes' },
  PC2004: { severity: 'warning', title: 'default-deny egress blocks DNS' },
  PC2005: { severity: 'warning', title: 'named port defined by no selected container' },
  PC2006: { severity: 'warning', title: 'selector matches nothing' },
  PC2007: { severity: 'hint', title: 'rule is redundant' },
  PC2008: { severity: 'error', title: 'duplicate policy name' },
  PC2009: { severity: 'warning', title: 'AdminNetworkPolicy priority clash' },
  PC2010: { severity: 'info', title: 'port without protocol' },
  PC2011: { severity: 'warning', title: 'namespace label `name` is not set by Kubernetes' },
  PC2012: { severity: 'warning', title: 'ipBlock covers pod or Service addresses' },
  PC2013: { severity: 'warning', title: 'duplicate pod or namespace in snapshot' },
  // ---- optimizer notes
  PC3001: { severity: 'info', title: 'rules merged' },
  // ---- dataplane limits
  PC4001: { severity: 'error', title: 'set or map too large' },
  PC4002: { severity: 'error', title: 'too many identities' },
  PC4003: { severity: 'error', title: 'not supported by policyc yet' },
  // ---- flows and tests
  PC5001: { severity: 'error', title: 'flow syntax error' },
  PC5002: { severity: 'error', title: 'unknown endpoint' },
  PC5003: { severity: 'error', title: 'expectation failed' },
  PC5004: { severity: 'error', title: 'policytest syntax error' },
} as const satisfies Record<string, CatalogueEntry>;

export type DiagnosticCode = keyof typeof catalogue;

export function severityOf(code: DiagnosticCode): Severity {
  return catalogue[code].severity;
}
