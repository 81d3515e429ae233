export * from './types.js';
export { Flow, Entry, Node, Edge, Compensate, buildFlowDefinition } from './decorators.js';
export type { FlowClassDecorator, FlowMethodDecorator, NodeDecoratorOptions } from './decorators.js';
export { flow, FlowBuilder } from './builder.js';
export { childRun, defineEvent, flowRef } from './typed.js';
export type { ChildRunResult, EventDefinition } from './typed.js';
export { validateDefinition, definitionProblems } from './validate.js';
export { describeGraph, fingerprintDefinition } from './graph.js';
export type { GraphDescription, GraphEdge, GraphNode } from './graph.js';
