// `policyc` from the TypeScript sources (node --import tsx dataplane/lab/cli-entry.ts <args>):
// how the lab starts `policyc daemon` when it runs from the sources (vitest) rather than dist/.
import { main } from '../../cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`policyc: internal error: ${err.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
