/**
 * Starting runs: the first row and events of a new run (top-level or child), and the child run a
 * node asks for — once per attempt name, within `maxChildDepth`.
 */
import { randomUUID } from 'node:crypto';
import { FlowError } from '../errors.js';
import type { FlowDefinition } from '../definitions/types.js';
import { flowKey } from '../definitions/flow-key.js';
import { serializeJson } from '../core/json.js';
import { newTraceparent } from '../core/trace-context.js';
import { flowControlOf } from '../definitions/flow-control.js';
import type { FlowRunRecord, FlowStorage, JsonText, NewRun } from '../storage/types.js';
import { firstBranch } from './branches.js';
import type { DefinitionRegistry } from './registry.js';
import { timeline } from './timeline.js';

/**
 * The new run of `def`: its first branch at the entry node and its RUN_STARTED event. `parent`: a
 * child run's; `failureOf`: the failed run an `onFailure` run handles (see failure-handler.ts).
 */
export function newRunOf(
  def: Pick<FlowDefinition, 'flowId' | 'version' | 'entry'>,
  run: {
    input: JsonText;
    state: JsonText;
    tenantId: string | null;
    idempotencyKey: string | null;
    parent?: { runId: string; nodeId: string };
    failureOf?: string;
    /** The trace its steps continue (a child's: its parent's); default: a new trace. */
    traceparent?: string | null;
  },
): NewRun {
  return {
    runId: randomUUID(),
    flowId: def.flowId,
    flowVersion: def.version,
    tenantId: run.tenantId,
    idempotencyKey: run.idempotencyKey,
    currentNodeId: def.entry,
    input: run.input,
    state: run.state,
    branches: JSON.stringify([firstBranch(def.entry)]) as JsonText,
    parentRunId: run.parent?.runId ?? null,
    parentNodeId: run.parent?.nodeId ?? null,
    ...(run.failureOf === undefined ? {} : { failureOf: run.failureOf }),
    traceparent: run.traceparent ?? newTraceparent(),
    events: [
      timeline.runStarted(
        def.entry,
        run.parent
          ? { parentRunId: run.parent.runId, parentNodeId: run.parent.nodeId }
          : run.failureOf === undefined
            ? undefined
            : { failureOf: run.failureOf },
        run.state === '{}' ? undefined : JSON.parse(run.state),
      ),
    ],
  };
}

/** What starting a child run needs. */
export interface ChildRunEnv {
  storage: FlowStorage;
  registry: DefinitionRegistry;
  maxJsonBytes: number;
  maxChildDepth: number;
  hooks: { runStarted(run: FlowRunRecord): void };
}

/**
 * Starts the child run a node asked for: the flow must be registered here, and the nesting within
 * `maxChildDepth`. `at.key` makes it once per attempt name (the same key returns the same child).
 */
export async function startChildRun(
  env: ChildRunEnv,
  parent: FlowRunRecord,
  at: { nodeId: string; key: string },
  child: { flowId: string; version: string; input: unknown; tenantId?: string },
): Promise<FlowRunRecord> {
  const def = env.registry.get(child.flowId, child.version);
  if (!def)
    throw FlowError.nonRetryable(
      'CHILD_FLOW_NOT_FOUND',
      `Node "${at.nodeId}" asked for a child run of ${flowKey(child.flowId, child.version)}, which is not registered with this engine`,
    );
  let depth = 1;
  for (let up = parent.parentRunId; up !== null; depth++) {
    if (depth > env.maxChildDepth) {
      throw FlowError.nonRetryable(
        'CHILD_DEPTH_EXCEEDED',
        `Node "${at.nodeId}": a child run would be nested ${depth + 1} deep, over maxChildDepth ${env.maxChildDepth} (runaway recursion?)`,
      );
    }
    up = (await env.storage.getRun(up))?.parentRunId ?? null;
  }
  if (depth > env.maxChildDepth) {
    throw FlowError.nonRetryable(
      'CHILD_DEPTH_EXCEEDED',
      `Node "${at.nodeId}": a child run would be nested ${depth} deep, over maxChildDepth ${env.maxChildDepth}`,
    );
  }
  const input = serializeJson(child.input, { what: 'child input', nodeId: at.nodeId, maxBytes: env.maxJsonBytes });
  const { run, created } = await env.storage.createRun({
    ...newRunOf(def, {
      input,
      state: '{}' as JsonText,
      tenantId: child.tenantId ?? parent.tenantId,
      idempotencyKey: at.key,
      parent: { runId: parent.runId, nodeId: at.nodeId },
      traceparent: parent.traceparent,
    }),
    // A child run is under its flow's limits too (its keys from its input), in its parent's priority.
    flowControl: flowControlOf(def, child.input === undefined ? null : child.input),
    priority: parent.priority,
  });
  if (created) env.hooks.runStarted(run);
  return run;
}
