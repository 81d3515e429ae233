/**
 * The flows this process can execute. Registering is idempotent for an identical graph (every
 * process registers its flows at start) and refuses a different graph under the same
 * flowId@version, both in this process and against what the store already holds: a changed
 * graph must be published as a new version so that runs in flight keep the graph they began with.
 */
import { DefinitionConflictError, FlowNotFoundError } from '../errors.js';
import type { FlowDefinition } from '../definitions/types.js';
import { describeGraph, fingerprintDefinition } from '../definitions/graph.js';
import { validateDefinition } from '../definitions/validate.js';
import { flowKey } from '../definitions/flow-key.js';
import type { FlowStorage } from '../storage/types.js';
import { serializeJson } from '../core/json.js';

export class DefinitionRegistry {
  private readonly defs = new Map<string, { def: FlowDefinition; fingerprint: string }>();

  async register(def: FlowDefinition, storage: FlowStorage): Promise<void> {
    validateDefinition(def);
    const key = flowKey(def.flowId, def.version);
    const fingerprint = fingerprintDefinition(def);
    const known = this.defs.get(key);
    if (known && known.fingerprint !== fingerprint) throw new DefinitionConflictError(key);
    const stored = await storage.saveDefinition({
      flowId: def.flowId,
      version: def.version,
      fingerprint,
      graph: serializeJson(describeGraph(def), { what: `graph of ${key}` }),
    });
    if (stored.fingerprint !== fingerprint) throw new DefinitionConflictError(key);
    this.defs.set(key, { def, fingerprint });
  }

  get(flowId: string, version: string): FlowDefinition | undefined {
    return this.defs.get(flowKey(flowId, version))?.def;
  }

  require(flowId: string, version: string): FlowDefinition {
    const def = this.get(flowId, version);
    if (!def) throw new FlowNotFoundError(flowId, version);
    return def;
  }

  has(key: string): boolean {
    return this.defs.has(key);
  }

  keys(): string[] {
    return [...this.defs.keys()];
  }

  /** The registered definitions (the latest registration of each flowId@version). */
  definitions(): FlowDefinition[] {
    return [...this.defs.values()].map((d) => d.def);
  }
}
