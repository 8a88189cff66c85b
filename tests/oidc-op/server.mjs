// A real OpenID Provider (the npm package oidc-provider) for Kluis' end-to-end tests.
//
// Loopback only. Prints "listening on http://127.0.0.1:PORT" when ready; that URL is the
// issuer, byte for byte. Two static clients: `kluis-residents` (client_secret_basic) and
// `kluis-staff` (private_key_jwt, with the public key given on the command line).
//
// Test hooks (never part of a real provider):
// - GET  /interaction/:uid?login=<account>  completes login and consent for a test account
//   without a browser; without `login` it shows a page with one link per account.
// - POST /test/fault {"kind": ...}          the next token response carries a damaged ID
//   token: bad-signature, other-issuer, other-audience, expired, wrong-nonce.
// - GET  /broken/.well-known/openid-configuration   a malformed discovery document.
//
// Usage: node server.mjs --redirect-uri URI [--redirect-uri URI] [--post-logout-uri URI]
//                        [--staff-redirect-uri URI] [--staff-client-jwk JSON]

import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const args = process.argv.slice(2);
const all = (name) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const one = (name) => all(name)[0];

const accounts = {
  henk: { name: 'Henk Jansen', bsn: '999993653' },
  anna: { name: 'Anna de Vries', bsn: '999990019' },
  nobsn: { name: 'Zonder BSN' },
  fg: { name: 'Functionaris Gegevensbescherming', roles: ['privacy-officer'] },
  clerk: { name: 'Baliemedewerker', roles: ['clerk'] },
  'coach-sanne': { name: 'Sanne Bakker', roles: ['coach'] },
  'coach-bram': { name: 'Bram Visser', roles: ['coach'] },
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'op-1', alg: 'RS256', use: 'sig' };

const clients = [
  {
    client_id: 'kluis-residents',
    client_secret: 'residents-secret-for-tests-only',
    redirect_uris: all('--redirect-uri'),
    post_logout_redirect_uris: all('--post-logout-uri'),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];
if (one('--staff-client-jwk')) {
  clients.push({
    client_id: 'kluis-staff',
    redirect_uris: all('--staff-redirect-uri'),
    post_logout_redirect_uris: all('--post-logout-uri'),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [JSON.parse(one('--staff-client-jwk'))] },
  });
}

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [signingJwk] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'bsn', 'roles'],
  claims: { openid: ['sub'], profile: ['name'], bsn: ['bsn'], roles: ['roles'] },
  conformIdTokenClaims: false,
  cookies: { keys: ['kluis-test-op-cookie-key'] },
  features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...accounts[id] }; } };
  },
});

// One-shot faults in the next ID token.
let fault = null;
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || !fault || !ctx.body || !ctx.body.id_token) return;
  const kind = fault;
  fault = null;
  const [header, payload, signature] = ctx.body.id_token.split('.');
  if (kind === 'bad-signature') {
    const bytes = Buffer.from(signature, 'base64url');
    bytes[0] ^= 1;
    ctx.body.id_token = `${header}.${payload}.${bytes.toString('base64url')}`;
    return;
  }
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const now = Math.floor(Date.now() / 1000);
  if (kind === 'other-issuer') claims.iss = 'http://127.0.0.1:1/another-provider';
  if (kind === 'other-audience') claims.aud = 'another-application';
  if (kind === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (kind === 'wrong-nonce') claims.nonce = 'not-the-nonce-of-this-login';
  ctx.body.id_token = await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: 'op-1', typ: 'JWT' })
    .sign(privateKey);
});

const callback = provider.callback();

async function interaction(req, res, url) {
  const details = await provider.interactionDetails(req, res);
  const login = url.searchParams.get('login');
  if (!login) {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    const links = Object.keys(accounts)
      .map((a) => `<li><a href="/interaction/${details.uid}?login=${a}">Log in as ${a}</a></li>`)
      .join('');
    res.end(`<!doctype html><html lang="en"><head><title>Test provider</title></head><body><main><h1>Test login</h1><ul>${links}</ul></main></body></html>`);
    return;
  }
  if (!accounts[login]) {
    res.statusCode = 400;
    res.end('unknown account');
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  try {
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res, url);
    if (url.pathname === '/test/fault' && req.method === 'POST') {
      let body = '';
      for await (const chunk of req) body += chunk;
      fault = JSON.parse(body).kind;
      res.end('ok');
      return;
    }
    if (url.pathname === '/broken/.well-known/openid-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end('{"issuer": "' + issuer + '/broken", "authorization_endpoint": ');
      return;
    }
    return callback(req, res);
  } catch (e) {
    res.statusCode = 500;
    res.end(String(e));
  }
});

console.log(`listening on ${issuer}`);
