/**
 * 0.5.x's switch for embedding an engine only when a deployment asks for one: an engine is made
 * when the environment variable `envVar` (default `AGENT_OS_FLOW_PEER`) is exactly "1".
 */
import { FlowEngine, type FlowEngineOptions } from './engine.js';

export function createFlowEngineFromEnv(options: { env?: NodeJS.ProcessEnv; envVar?: string; engine?: FlowEngineOptions } = {}): FlowEngine | undefined {
  const env = options.env ?? process.env;
  if (env[options.envVar ?? 'AGENT_OS_FLOW_PEER'] !== '1') return undefined;
  return new FlowEngine(options.engine);
}
