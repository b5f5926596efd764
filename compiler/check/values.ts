// Type guards for walking objects that passed no validation yet: every check reads values
// through these, so a wrong type is reported once (by the schema) and never crashes a check.

export type Obj = Record<string, unknown>;

export function isObj(value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The list at `value`, or an empty list when it is absent or not a list. */
export function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** True when the field is present with a non-null value (null fields count as absent, as in Go). */
export function has(obj: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key) && obj[key] !== null && obj[key] !== undefined;
}

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** An int32, as the Go fields are; anything else is a decoding error the schema reports. */
export function int32(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= -2147483648 && value <= 2147483647 ? value : undefined;
}
