// The golden frames of schemas/golden/worker/ decode and re-encode byte for byte.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { FrameDecoder, ProtocolError, encodeBody, encodeFrame } from '../lib/framing.mjs';

const golden = new URL('../../../schemas/golden/worker/', import.meta.url);
const jsonFiles = readdirSync(golden).filter((name) => name.endsWith('.json')).sort();

test('there are golden frames', () => {
  assert.ok(jsonFiles.length >= 11, `found ${jsonFiles}`);
});

for (const name of jsonFiles) {
  test(`golden ${name} re-encodes byte for byte`, () => {
    const bytes = readFileSync(new URL(name, golden));
    assert.deepEqual(encodeBody(JSON.parse(bytes.toString('utf8'))), bytes);
  });
}

test('frames.txt is the framed session of frames.order, in any chunking', () => {
  const stream = readFileSync(new URL('frames.txt', golden));
  const order = readFileSync(new URL('frames.order', golden), 'utf8').trim().split('\n');
  const expected = order.map((name) => JSON.parse(readFileSync(new URL(`${name}.json`, golden), 'utf8')));
  assert.deepEqual(Buffer.concat(expected.map(encodeFrame)), stream);
  for (const size of [1, 7, 64, stream.length]) {
    const decoder = new FrameDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i += size) got.push(...decoder.feed(stream.subarray(i, i + size)));
    assert.deepEqual(got, expected);
    assert.equal(decoder.pending, 0);
  }
});

test('Content-Length counts UTF-8 bytes, not characters', () => {
  const frame = encodeFrame({ text: 'héllo' });
  assert.match(frame.toString('utf8'), /^Content-Length: 17\r\n\r\n/);
});

test('bad headers are protocol errors', () => {
  for (const bad of ['Content-Length: x\r\n\r\n{}', 'X-Foo: 1\r\n\r\n', 'garbage\r\n\r\n', 'Content-Type: a\r\n\r\n']) {
    assert.throws(() => new FrameDecoder().feed(Buffer.from(bad)), ProtocolError, bad);
  }
  assert.throws(() => new FrameDecoder().feed(Buffer.alloc(2000, 'a')), ProtocolError);
  assert.throws(() => new FrameDecoder().feed(Buffer.from('Content-Length: 2\r\n\r\n[]')), ProtocolError);
});
