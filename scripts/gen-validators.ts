// Writes compiler/check/generated/validators.ts, the precompiled schema validators (see
// compiler/check/generate-validators.ts). Run after changing compiler/check/schema/*.json or
// compiler/check/formats.ts, or after upgrading ajv:  npx tsx scripts/gen-validators.ts
// With --check, writes nothing and exits 1 when the file is stale.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GENERATED_PATH, generateValidators } from '../compiler/check/generate-validators.js';

const path = fileURLToPath(new URL(`../${GENERATED_PATH}`, import.meta.url));
const text = generateValidators();
let current: string | undefined;
try {
  current = readFileSync(path, 'utf8');
} catch {
  current = undefined;
}
if (process.argv.includes('--check')) {
  if (current !== text) {
    console.error(`${GENERATED_PATH} is stale: run npx tsx scripts/gen-validators.ts`);
    process.exitCode = 1;
  }
} else if (current === text) {
  console.log(`${GENERATED_PATH} is up to date`);
} else {
  writeFileSync(path, text);
  console.log(`wrote ${GENERATED_PATH} (${text.length} bytes)`);
}
