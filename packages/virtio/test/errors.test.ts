import { describe, expect, it } from 'vitest';
import { VirtioError } from '@vmloop/virtio';

describe('virtio / errors', () => {
  it('VirtioError carries a stable code and is recognised across package copies', () => {
    const e = new VirtioError('ERR_INVALID_ARGUMENT', 'queue size must be a power of two');
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toBe('virtio: queue size must be a power of two');
    expect(VirtioError.isInstance(e)).toBe(true);
    expect(VirtioError.isInstance(new Error('x'))).toBe(false);
  });
});
