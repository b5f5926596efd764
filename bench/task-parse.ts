// Baselines: parsing the same files with nothing else done.
//   js-yaml    jsYaml.loadAll of each file (no positions, no listener)
//   json       JSON.parse of each file
//   yaml-doc   the `yaml` package's Document API (parseAllDocuments), the slow path policyc avoids

import { readFileSync } from 'node:fs';
import jsYaml from 'js-yaml';
import { parseAllDocuments } from 'yaml';

export function parseJsYaml(paths: readonly string[]): Record<string, number> {
  let docs = 0;
  for (const path of paths) jsYaml.loadAll(readFileSync(path, 'utf8'), () => docs++);
  return { docs };
}

export function parseJson(paths: readonly string[]): Record<string, number> {
  let docs = 0;
  for (const path of paths) if (JSON.parse(readFileSync(path, 'utf8')) !== undefined) docs++;
  return { docs };
}

export function parseYamlDocuments(paths: readonly string[]): Record<string, number> {
  let docs = 0;
  let errors = 0;
  for (const path of paths) {
    for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
      docs++;
      errors += 'errors' in doc ? doc.errors.length : 0;
    }
  }
  return { docs, errors };
}
