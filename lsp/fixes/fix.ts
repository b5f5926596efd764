// What every quick fix gets and gives: the document text, the diagnostic, the policy object
// it is about; back come titled sets of minimal text edits.

import type { Diagnostic } from '../../compiler/diagnostics/diagnostic.js';
import type { Sourced } from '../../compiler/model/inputs.js';
import type { Document } from 'yaml';
import type { TextEdit } from '../yaml-edit.js';

export interface FixContext {
  text: string;
  diagnostic: Diagnostic;
  /** The policy the diagnostic is inside (absent for diagnostics outside any policy). */
  src?: Sourced;
  /** The YAML document holding the diagnostic, parsed with node ranges. */
  doc: Document.Parsed;
}

export interface Fix {
  title: string;
  edits: TextEdit[];
  preferred?: boolean;
}

export type Fixer = (ctx: FixContext) => Fix[];
