// The one guard of the tests that need root, kernel tools or installed programs. Locally a
// missing requirement skips the suite, with the reason in its title and a warning line. Under
// CI=true it is a failure instead: CI runs as root with every tool installed, so a suite that
// cannot run there is broken, and a skipped suite would pass silently and prove nothing. The
// failure is a test of its own (registered beside the skipped suite) rather than an exception at
// collection, so the file's other suites still run and report.
import { describe, it } from 'vitest';

/** What a probe found: `ok`, or why not (e.g. policyKernel(), kernelAvailable()). */
export interface Requirement {
  ok: boolean;
  reason?: string;
}

export interface SuiteGuard {
  /** the requirement is met */
  ok: boolean;
  /** for describe.skipIf / it.skipIf */
  skip: boolean;
  /** '' or ' (skipped: REASON)', for titles of other suites and tests the guard covers */
  suffix: string;
  /** the suite's title, with the suffix */
  title: string;
}

/**
 * Guards the suite `title` by `requirement`. Use the returned `skip` and `title`:
 * `describe.skipIf(g.skip)(g.title, ...)`. Under CI=true an unmet requirement registers a
 * failing test named after the suite and the reason.
 */
export function guardSuite(title: string, requirement: Requirement): SuiteGuard {
  if (requirement.ok) return { ok: true, skip: false, suffix: '', title };
  const reason = requirement.reason ?? 'a requirement is not met';
  if (process.env.CI === 'true') {
    describe(title, () => {
      it(`cannot run: ${reason} (CI=true: a missing requirement fails, it never skips)`, () => {
        throw new Error(`${title}: cannot run in CI: ${reason}`);
      });
    });
  } else {
    console.warn(`SKIPPED ${title}: ${reason}`);
  }
  const suffix = ` (skipped: ${reason})`;
  return { ok: false, skip: true, suffix, title: `${title}${suffix}` };
}

/** A requirement from a list of what is missing (cni/testing/requirements.ts missingRequirements). */
export function requirementFrom(missing: readonly string[], hint?: string): Requirement {
  return missing.length === 0 ? { ok: true } : { ok: false, reason: `needs ${missing.join(', ')}${hint ? `; ${hint}` : ''}` };
}
