// `flowId@version`, as src/definitions/flow-key.ts builds and reads it: a flowId never contains
// `@`, so the first `@` ends it and the version is the rest.

export const flowKey = (flowId, version) => `${flowId}@${version}`;

/** @returns {{ flowId: string, version: string }} the parts of `key` (version '' when it has no `@`). */
export function parseFlowKey(key) {
  const at = key.indexOf('@');
  return at < 0 ? { flowId: key, version: '' } : { flowId: key.slice(0, at), version: key.slice(at + 1) };
}
