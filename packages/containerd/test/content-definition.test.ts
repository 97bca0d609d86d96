import { content } from '@crisp/api';
import { randomBytes } from 'node:crypto';
import { encodeWriteContentRequest } from '../src/content-definition';

describe('single-copy Content.Write encoder', () => {
  it.each([0, 1, 127, 128, 300, 16_384, 1024 * 1024 + 3])('round-trips a WRITE with %i data bytes', (n) => {
    const msg = content.WriteContentRequest.fromPartial({
      action: content.WriteAction.WRITE,
      ref: 'crisp-pull-sha256:abc',
      total: 123456789n,
      expected: 'sha256:abc',
      offset: 4096n,
      data: randomBytes(n),
      labels: { 'containerd.io/gc.ref.content.l.0': 'sha256:def' },
    });
    const bytes = encodeWriteContentRequest(msg).finish();
    expect(content.WriteContentRequest.decode(bytes)).toEqual(content.WriteContentRequest.decode(content.WriteContentRequest.encode(msg).finish()));
    expect(Buffer.from(content.WriteContentRequest.decode(bytes).data).equals(Buffer.from(msg.data))).toBe(true);
  });
});
