// Prints the plain closing line CI reads: "tests: N passed, N failed, N skipped", from the
// vitest JSON report plus the counts of `policyc test` runs given as "passed,failed" arguments.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(new URL('../out/vitest-results.json', import.meta.url), 'utf8'));
let passed = report.numPassedTests;
let failed = report.numFailedTests;
const skipped = report.numPendingTests + report.numTodoTests;
for (const arg of process.argv.slice(2)) {
  const [p, f] = arg.split(',').map(Number);
  passed += p;
  failed += f;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exitCode = failed > 0 ? 1 : 0;
