// The custom `format`s our JSON schemas use. Imported twice: by generate-validators.ts, which
// registers them with ajv to generate the validators, and by the generated validators
// (generated/validators.ts), which call them at run time. One definition for both.

import type { FormatDefinition } from 'ajv';

export const formats = {
  /** An OpenAPI `format: int32`; applies to numbers only (a `type: [integer, string]` port's strings pass). */
  int32: {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647,
  } satisfies FormatDefinition<number>,
};
