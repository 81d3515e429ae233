// Module resolution hook for running from source: adds the `hazel-source` export condition, so
// '@hazeljs/flow' (and its subpaths) resolve to src/*.ts as package.json "exports" maps them.
export async function resolve(specifier, context, nextResolve) {
  if (context.conditions.includes('hazel-source')) return nextResolve(specifier, context);
  return nextResolve(specifier, { ...context, conditions: [...context.conditions, 'hazel-source'] });
}
