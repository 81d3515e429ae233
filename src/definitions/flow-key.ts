/**
 * `flowId@version`, the one text that names a flow version: in worker filters (`findDueRuns`), the
 * registry, logs and messages, the CLI's `start <flowId>@<version>` and `--flow`. Built and read
 * here only (the SQL stores mirror `flowKey` as `flow_id || '@' || flow_version`). A flowId never
 * contains `@` (validation refuses it), so the first `@` is where the flowId ends; the version is
 * everything after it.
 */

export function flowKey(flowId: string, version: string): string {
  return `${flowId}@${version}`;
}

/** The flowId and version of `key`; null when it has no `@`, or nothing before or after the first one. */
export function parseFlowKey(key: string): { flowId: string; version: string } | null {
  const at = key.indexOf('@');
  if (at <= 0 || at === key.length - 1) return null;
  return { flowId: key.slice(0, at), version: key.slice(at + 1) };
}
