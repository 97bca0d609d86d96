// The channel framing of Kubernetes' WebSocket streaming protocols: each message belongs to one
// channel, named by its first byte (binary protocols) or by an ASCII digit followed by base64 data
// (base64 protocols, sent as text). v5 adds a control channel 255 whose message [255, c] half-closes
// channel c.

export const CLOSE_CHANNEL = 255;

export type ChannelMessage =
  | { type: 'data'; channel: number; data: Buffer }
  /** v5: the peer will send nothing more on `channel`. */
  | { type: 'close'; channel: number };

/** Encodes `data` for `channel`: a Buffer to send as binary, or a string to send as text (base64). */
export function encodeChannelMessage(channel: number, data: Buffer, base64: boolean): Buffer | string {
  if (base64) return String.fromCharCode(0x30 + channel) + data.toString('base64');
  const msg = Buffer.allocUnsafe(data.length + 1);
  msg[0] = channel;
  data.copy(msg, 1);
  return msg;
}

/**
 * Decodes one received message; undefined for an empty one (ignored, as kubelet does). Throws on
 * a message that does not fit the framing.
 */
export function decodeChannelMessage(raw: Buffer, isBinary: boolean, base64: boolean, closeChannel: boolean): ChannelMessage | undefined {
  if (raw.length === 0) return undefined;
  if (base64) {
    // Base64 clients send text; the payload after the digit must be valid base64.
    const text = raw.toString('latin1');
    const channel = text.charCodeAt(0) - 0x30;
    if (channel < 0 || channel > 9) throw new Error(`base64 channel message starts with ${JSON.stringify(text[0])}, not a channel digit`);
    const payload = text.slice(1).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 === 1) throw new Error(`channel ${channel}: payload is not base64`);
    return { type: 'data', channel, data: Buffer.from(payload, 'base64') };
  }
  if (!isBinary) throw new Error('text message on a binary channel protocol');
  const channel = raw[0]!;
  if (channel === CLOSE_CHANNEL && closeChannel) {
    if (raw.length !== 2) throw new Error(`close message must name exactly one channel, got ${raw.length - 1} bytes`);
    return { type: 'close', channel: raw[1]! };
  }
  return { type: 'data', channel, data: raw.subarray(1) };
}
