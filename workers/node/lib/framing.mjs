// LSP-style framing of the worker protocol: `Content-Length: N\r\n\r\n` then N bytes of JSON.
// The canonical body is `JSON.stringify(message)` (compact, UTF-8, insertion order), which the
// golden frames in schemas/golden/worker/ pin byte for byte. See docs/worker-protocol.md.

const HEADER_END = Buffer.from('\r\n\r\n');
export const MAX_HEADER_BYTES = 1024;

export class ProtocolError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The canonical body of a message. */
export function encodeBody(message) {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

/** One complete frame: header plus canonical body. */
export function encodeFrame(message) {
  const body = JSON.stringify(message);
  const length = Buffer.byteLength(body, 'utf8');
  const header = `Content-Length: ${length}\r\n\r\n`;
  const frame = Buffer.allocUnsafe(header.length + length);
  frame.write(header, 0, 'latin1');
  frame.write(body, header.length, 'utf8');
  return frame;
}

/** The body length a header block announces (the block excludes the blank line). */
const CANONICAL = 'Content-Length: ';

export function parseHeader(block) {
  const text = block.toString('latin1');
  if (text.startsWith(CANONICAL) && /^[0-9]+$/.test(text.slice(CANONICAL.length))) {
    return Number(text.slice(CANONICAL.length)); // the header every side writes
  }
  let length = null;
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon).trim().toLowerCase();
    if (!name) throw new ProtocolError(`malformed frame header line ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^[0-9]+$/.test(value)) throw new ProtocolError(`Content-Length must be a non-negative integer, got ${JSON.stringify(value)}`);
      length = Number(value);
    } else if (name !== 'content-type') {
      throw new ProtocolError(`unknown frame header ${JSON.stringify(name)}`);
    }
  }
  if (length === null) throw new ProtocolError('frame header has no Content-Length');
  return length;
}

/** Parse one frame body; it must be a JSON object. */
export function decodeBody(body) {
  let message;
  try {
    message = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ProtocolError(`frame body is not JSON: ${err.message}`);
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    throw new ProtocolError('frame body must be a JSON object');
  }
  return message;
}

/** Incremental decoder: feed Buffers in any chunking, get back every complete message. */
export class FrameDecoder {
  #buffer = Buffer.alloc(0);
  #length = null;

  get pending() {
    return this.#buffer.length;
  }

  feed(chunk) {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    const messages = [];
    for (;;) {
      if (this.#length === null) {
        const end = this.#buffer.indexOf(HEADER_END);
        if (end < 0) {
          if (this.#buffer.length > MAX_HEADER_BYTES) {
            throw new ProtocolError(`no frame header end within ${MAX_HEADER_BYTES} bytes`);
          }
          return messages;
        }
        this.#length = parseHeader(this.#buffer.subarray(0, end));
        this.#buffer = this.#buffer.subarray(end + HEADER_END.length);
      }
      if (this.#buffer.length < this.#length) return messages;
      const body = this.#buffer.subarray(0, this.#length);
      this.#buffer = this.#buffer.subarray(this.#length);
      this.#length = null;
      messages.push(decodeBody(body));
    }
  }
}
