import { describe, expect, it } from 'vitest';
import { flowKey, parseFlowKey } from '../../src/definitions/flow-key.js';

describe('flowKey / parseFlowKey', () => {
  it('build flowId@version and read it back; the first "@" ends the flowId', () => {
    expect(flowKey('orders', '1.2.0')).toBe('orders@1.2.0');
    expect(parseFlowKey('orders@1.2.0')).toEqual({ flowId: 'orders', version: '1.2.0' });
    expect(parseFlowKey(flowKey('orders', '2@beta'))).toEqual({ flowId: 'orders', version: '2@beta' });
  });

  it('refuse a key without both parts', () => {
    for (const key of ['', 'orders', '@1', 'orders@']) expect(parseFlowKey(key), key).toBeNull();
  });
});
