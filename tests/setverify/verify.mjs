// An independent verifier of Kluis' Security Event Tokens (RFC 8417), written with
// Node's own crypto only: no JOSE library, nothing shared with the vault or the SDK.
//
// Reads one JSON document on stdin: {"jwks": {...}, "issuer": "...", "audience": "...",
// "tokens": ["..."]}. Writes one JSON line per token: {"ok": true, "claims": {...}} or
// {"ok": false, "error": "..."}. Exits 0 when it could read its input.
import { createPublicKey, verify } from 'node:crypto';

const EVENT_PREFIX = 'urn:kluis:secevent:';
const CLAIMS = new Set(['iss', 'aud', 'iat', 'jti', 'sub_id', 'events']);

function b64url(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) throw new Error('segment is not base64url');
  return Buffer.from(segment, 'base64url');
}

function check(token, jwks, issuer, audience) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('not three segments');
  const header = JSON.parse(b64url(parts[0]).toString('utf8'));
  const claims = JSON.parse(b64url(parts[1]).toString('utf8'));
  if (header.alg !== 'ES256') throw new Error('alg is not ES256');
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'secevent+jwt') {
    throw new Error('typ is not secevent+jwt');
  }
  for (const name of Object.keys(header)) {
    if (!['alg', 'typ', 'kid'].includes(name)) throw new Error(`header has ${name}`);
  }
  const jwk = (jwks.keys || []).find((k) => k.kid === header.kid);
  if (!jwk) throw new Error('no key with this kid');
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new Error('not a P-256 key');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }, format: 'jwk' });
  const signature = b64url(parts[2]);
  if (signature.length !== 64) throw new Error('an ES256 signature is 64 bytes');
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    throw new Error('the signature does not verify');
  }
  // RFC 8417 §2.2 and the Kluis profile.
  if (claims.iss !== issuer) throw new Error('iss is not the vault');
  if (claims.aud !== audience) throw new Error('aud is not the department');
  if (!Number.isInteger(claims.iat)) throw new Error('iat is not an integer');
  if (typeof claims.jti !== 'string' || claims.jti.length === 0) throw new Error('no jti');
  if ('exp' in claims) throw new Error('a SET has no exp');
  for (const name of Object.keys(claims)) {
    if (!CLAIMS.has(name)) throw new Error(`unexpected claim ${name}`);
  }
  if (claims.sub_id !== undefined) {
    if (claims.sub_id.format !== 'opaque' || typeof claims.sub_id.id !== 'string') {
      throw new Error('sub_id is not an opaque identifier');
    }
  }
  const events = claims.events;
  if (events === null || typeof events !== 'object' || Array.isArray(events)) {
    throw new Error('events is not an object');
  }
  const types = Object.keys(events);
  if (types.length !== 1) throw new Error('events holds not exactly one event');
  if (!types[0].startsWith(EVENT_PREFIX)) throw new Error('not a Kluis event type');
  if (typeof events[types[0]] !== 'object') throw new Error('the event has no fields object');
  return claims;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { jwks, issuer, audience, tokens } = JSON.parse(input);
  for (const token of tokens) {
    try {
      process.stdout.write(`${JSON.stringify({ ok: true, claims: check(token, jwks, issuer, audience) })}\n`);
    } catch (e) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: e.message })}\n`);
    }
  }
});
