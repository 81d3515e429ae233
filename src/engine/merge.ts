/**
 * How a node's `patch` lands in `ctx.state`: plain objects merge key by key, recursively;
 * anything else (arrays, strings, numbers, null) replaces what was there. Inputs are JSON
 * values already checked by the serializer, so there are no cycles or exotic objects here.
 */
export function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    // Own properties only: `out.__proto__` or `out.constructor` would otherwise read Object.prototype's.
    const current = Object.hasOwn(out, key) ? out[key] : undefined;
    const merged = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
    // Assigning to "__proto__" would set the prototype and drop the key: define that one instead.
    if (key === '__proto__') Object.defineProperty(out, key, { value: merged, enumerable: true, writable: true, configurable: true });
    else out[key] = merged;
  }
  return out;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
