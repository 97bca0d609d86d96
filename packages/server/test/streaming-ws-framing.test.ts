import { CLOSE_CHANNEL, decodeChannelMessage, encodeChannelMessage } from '../src/streaming/ws-framing';

describe('WebSocket channel framing', () => {
  it('prefixes binary messages with the channel byte', () => {
    expect([...(encodeChannelMessage(1, Buffer.from('hi'), false) as Buffer)]).toEqual([1, 0x68, 0x69]);
    expect([...(encodeChannelMessage(3, Buffer.alloc(0), false) as Buffer)]).toEqual([3]);
  });

  it('sends base64 protocols as a channel digit and base64 text', () => {
    expect(encodeChannelMessage(2, Buffer.from([0, 255]), true)).toBe('2AP8=');
  });

  it('decodes binary data, base64 data and v5 close messages', () => {
    expect(decodeChannelMessage(Buffer.from([0, 0x61]), true, false, false)).toEqual({ type: 'data', channel: 0, data: Buffer.from('a') });
    expect(decodeChannelMessage(Buffer.from('4eyJXaWR0aCI6MX0='), false, true, false)).toEqual({ type: 'data', channel: 4, data: Buffer.from('{"Width":1}') });
    expect(decodeChannelMessage(Buffer.from([CLOSE_CHANNEL, 0]), true, false, true)).toEqual({ type: 'close', channel: 0 });
    expect(decodeChannelMessage(Buffer.alloc(0), true, false, false)).toBeUndefined();
  });

  it('treats 255 as a plain channel before v5', () => {
    expect(decodeChannelMessage(Buffer.from([CLOSE_CHANNEL, 0]), true, false, false)).toEqual({ type: 'data', channel: 255, data: Buffer.from([0]) });
  });

  it('rejects messages that break the framing', () => {
    expect(() => decodeChannelMessage(Buffer.from('x'), false, false, false)).toThrow(/text message/);
    expect(() => decodeChannelMessage(Buffer.from('Aabc'), false, true, false)).toThrow(/channel digit/);
    expect(() => decodeChannelMessage(Buffer.from('0a!b'), false, true, false)).toThrow(/not base64/);
    expect(() => decodeChannelMessage(Buffer.from([CLOSE_CHANNEL, 0, 1]), true, false, true)).toThrow(/exactly one channel/);
  });
});
