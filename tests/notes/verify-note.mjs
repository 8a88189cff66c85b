// An independent verifier of C2SP signed notes (c2sp.org/signed-note) and cosignatures
// (c2sp.org/tlog-cosignature), written with Node's own crypto only: nothing shared with the
// vault. Checks a Kluis audit checkpoint (c2sp.org/tlog-checkpoint).
//
// Reads one JSON document on stdin: {"note": "...", "keys": ["name+hex+base64", ...]}.
// Writes one JSON line per key: {"ok": true, "checkpoint": {...}, "time": <cosigned at>}
// or {"ok": false, "error": "..."}. Exits 0 when it could read its input.
import { createHash, createPublicKey, verify } from 'node:crypto';

function parseKey(vkey) {
  // name + key id + base64 key; the base64 may itself hold '+'.
  const first = vkey.indexOf('+');
  const second = vkey.indexOf('+', first + 1);
  const [name, hex, b64] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)];
  if (!name || !hex || !b64 || /\s/.test(name)) throw new Error('not a verifier key');
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 33 || (key[0] !== 0x01 && key[0] !== 0x04)) throw new Error('not an Ed25519 key');
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), key])).digest().subarray(0, 4);
  if (id.toString('hex') !== hex) throw new Error('the key id does not match the key');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.subarray(1).toString('base64url') }, format: 'jwk' });
  return { name, type: key[0], id, publicKey };
}

function parseNote(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split('\n');
  if (lines.pop() !== '') throw new Error('the signatures do not end in a newline');
  const signatures = lines.map((line) => {
    if (!line.startsWith('\u2014 ')) throw new Error('a signature line starts with an em dash');
    const [name, b64] = line.slice(2).split(' ');
    return { name, bytes: Buffer.from(b64, 'base64') };
  });
  return { text, signatures };
}

function parseCheckpoint(text) {
  const [origin, size, root] = text.split('\n');
  if (!origin) throw new Error('no origin');
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error('the size is not decimal');
  if (Buffer.from(root, 'base64').length !== 32) throw new Error('the root hash is not 32 bytes');
  return { origin, size: Number(size), root };
}

function check(note, vkey) {
  const key = parseKey(vkey);
  const { text, signatures } = parseNote(note);
  const mine = signatures.filter((s) => s.name === key.name && s.bytes.subarray(0, 4).equals(key.id));
  if (mine.length === 0) throw new Error('no signature by this key');
  let time;
  for (const { bytes } of mine) {
    if (key.type === 0x01) {
      if (!verify(null, Buffer.from(text), key.publicKey, bytes.subarray(4))) throw new Error('the signature does not verify');
    } else {
      if (bytes.length !== 76) throw new Error('a cosignature has 76 bytes');
      time = bytes.readBigUInt64BE(4);
      const message = Buffer.from(`cosignature/v1\ntime ${time}\n${text}`);
      if (!verify(null, message, key.publicKey, bytes.subarray(12))) throw new Error('the cosignature does not verify');
    }
  }
  let checkpoint = null;
  try {
    checkpoint = parseCheckpoint(text);
  } catch (e) {
    // A signed note that is not a checkpoint: the signature still holds.
  }
  return { checkpoint, time: time === undefined ? undefined : Number(time) };
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { note, keys } = JSON.parse(input);
  for (const key of keys) {
    try {
      process.stdout.write(`${JSON.stringify({ ok: true, ...check(note, key) })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: e.message })}\n`);
    }
  }
});
