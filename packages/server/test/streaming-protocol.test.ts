import {
  TerminalSizeDecoder,
  encodeStatus,
  exitCodeStatus,
  internalErrorStatus,
  negotiate,
  offeredProtocols,
  parseTerminalSize,
  remoteCommandProtocol,
  successStatus,
  SPDY_REMOTECOMMAND_PROTOCOLS,
} from '../src/streaming/protocol';

describe('subprotocol negotiation', () => {
  it('reads repeated and comma-joined headers', () => {
    expect(offeredProtocols(undefined)).toEqual([]);
    expect(offeredProtocols('v4.channel.k8s.io, v3.channel.k8s.io')).toEqual(['v4.channel.k8s.io', 'v3.channel.k8s.io']);
    expect(offeredProtocols(['v4.channel.k8s.io', ' channel.k8s.io ', ''])).toEqual(['v4.channel.k8s.io', 'channel.k8s.io']);
  });

  it("follows the client's preference", () => {
    expect(negotiate(['v3.channel.k8s.io', 'v4.channel.k8s.io'], SPDY_REMOTECOMMAND_PROTOCOLS)).toBe('v3.channel.k8s.io');
    expect(negotiate(['v9.channel.k8s.io', 'channel.k8s.io'], SPDY_REMOTECOMMAND_PROTOCOLS)).toBe('channel.k8s.io');
    expect(negotiate(['v9.channel.k8s.io'], SPDY_REMOTECOMMAND_PROTOCOLS)).toBeUndefined();
  });

  it('knows what each protocol carries', () => {
    expect(remoteCommandProtocol('v4.channel.k8s.io', 'spdy')).toMatchObject({ statusJson: true, resize: true, base64: false, closeChannel: false });
    expect(remoteCommandProtocol('v5.channel.k8s.io', 'spdy')).toMatchObject({ statusJson: true, resize: true, base64: false });
    expect(remoteCommandProtocol('v3.channel.k8s.io', 'spdy')).toMatchObject({ statusJson: false, resize: true });
    expect(remoteCommandProtocol('v2.channel.k8s.io', 'spdy')).toMatchObject({ statusJson: false, resize: false });
    expect(remoteCommandProtocol('v5.channel.k8s.io', 'websocket')).toMatchObject({ statusJson: true, closeChannel: true, base64: false });
    expect(remoteCommandProtocol('v4.base64.channel.k8s.io', 'websocket')).toMatchObject({ statusJson: true, base64: true });
    expect(remoteCommandProtocol('channel.k8s.io', 'websocket')).toMatchObject({ statusJson: false, resize: true });
  });
});

describe('error stream Status', () => {
  const v4 = remoteCommandProtocol('v4.channel.k8s.io', 'spdy');
  const v2 = remoteCommandProtocol('v2.channel.k8s.io', 'spdy');

  it('encodes a non-zero exit as client-go expects it', () => {
    const json = JSON.parse(encodeStatus(exitCodeStatus(7), v4)!.toString());
    expect(json).toEqual({
      metadata: {},
      status: 'Failure',
      message: 'command terminated with non-zero exit code: 7',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '7' }] },
    });
  });

  it('encodes success and internal errors', () => {
    expect(JSON.parse(encodeStatus(successStatus(), v4)!.toString())).toEqual({ metadata: {}, status: 'Success' });
    expect(JSON.parse(encodeStatus(internalErrorStatus('boom'), v4)!.toString())).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
  });

  it('before v4 sends nothing on success and the message on failure', () => {
    expect(encodeStatus(successStatus(), v2)).toBeUndefined();
    expect(encodeStatus(exitCodeStatus(3), v2)!.toString()).toBe('command terminated with non-zero exit code: 3');
  });
});

describe('TerminalSizeDecoder', () => {
  it('decodes json.Encoder output split and joined across chunks', () => {
    const d = new TerminalSizeDecoder();
    expect(d.push('{"Width":80,')).toEqual([]);
    expect(d.push('"Height":24}\n{"Width":100,"Height":30}\n{"Wid')).toEqual([
      { width: 80, height: 24 },
      { width: 100, height: 30 },
    ]);
    expect(d.push(Buffer.from('th":1,"Height":2}'))).toEqual([{ width: 1, height: 2 }]);
  });

  it('matches field names case-insensitively and ignores others', () => {
    expect(parseTerminalSize('{"width":5,"HEIGHT":6,"x":"}"}')).toEqual({ width: 5, height: 6 });
  });

  it('rejects what is not a terminal size', () => {
    expect(() => new TerminalSizeDecoder().push('[1,2]')).toThrow(/JSON object/);
    expect(() => parseTerminalSize('{"Width":-1}')).toThrow(/Width/);
    expect(() => parseTerminalSize('{"Width":70000}')).toThrow(/Width/);
    expect(() => parseTerminalSize('{"Height":"24"}')).toThrow(/Height/);
    expect(() => new TerminalSizeDecoder().push(`{"Width":${' '.repeat(5000)}`)).toThrow(/too long/);
  });
});
