// A real OpenID Connect provider for tests: oidc-provider 9.13.3 (a certified implementation) over
// HTTPS on 127.0.0.1, with one confidential test client, test accounts and its own login and consent
// pages (plain HTML forms a browser test fills). Started by tests/harness/oidc_provider.py:
//   node oidc_provider.mjs CONFIG.json
// CONFIG: {issuer, port, tls: {cert, key}, client: {client_id, client_secret_file, redirect_uris},
//          accounts: [{login, password, email, email_verified, name}]}
// Prints "oidc-provider ready <issuer>" on stdout once it listens.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair } from 'jose';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const accounts = new Map(config.accounts.map((a) => [a.login, a]));
const clientSecret = readFileSync(config.client.client_secret_file, 'utf8').replace(/\n$/, '');

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'quadstats-test-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(config.issuer, {
  clients: [{
    client_id: config.client.client_id,
    client_secret: clientSecret,
    redirect_uris: config.client.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Every authorization request must carry a S256 code challenge: proves the client sends PKCE.
  pkce: { required: () => true },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: account.email_verified, name: account.name };
      },
    };
  },
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head>`
    + `<body><main><h1>${escape(title)}</h1>${body}</main></body></html>`);
}

function loginForm(res, uid, error) {
  page(res, error ? 401 : 200, 'Test provider: sign in', `${error ? `<p id="oidc-error">${escape(error)}</p>` : ''}
    <form method="post" action="/interaction/${escape(uid)}/login">
      <label for="oidc-login">Login</label> <input id="oidc-login" name="login" autocomplete="username">
      <label for="oidc-password">Password</label> <input id="oidc-password" name="password" type="password">
      <button id="oidc-submit" type="submit">Sign in</button>
    </form>`);
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params } = details;
  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return loginForm(res, uid);
    return page(res, 200, 'Test provider: allow access', `<p>Allow ${escape(params.client_id)} to see
      ${escape(params.scope)}?</p><form method="post" action="/interaction/${escape(uid)}/consent">
      <button id="oidc-consent" type="submit">Allow</button></form>`);
  }
  if (req.method === 'POST' && action === '/login') {
    const form = await formBody(req);
    const account = accounts.get(form.get('login'));
    if (!account || account.password !== form.get('password')) return loginForm(res, uid, 'Wrong login or password.');
    return provider.interactionFinished(req, res, { login: { accountId: account.login } }, { mergeWithLastSubmission: false });
  }
  if (req.method === 'POST' && action === '/consent') {
    await formBody(req);
    const { details: missing } = prompt;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    return provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }
  return page(res, 405, 'Method not allowed', '');
}

const oidc = provider.callback();
const tls = { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) };
createServer(tls, (req, res) => {
  const match = new URL(req.url, config.issuer).pathname.match(/^\/interaction\/([^/]+)(\/login|\/consent)?$/);
  if (!match) return oidc(req, res);
  return interaction(req, res, match[1], match[2]).catch((err) => {
    console.error(err);
    page(res, 400, 'Test provider: interaction failed', `<p id="oidc-error">${escape(err.message)}</p>`);
  });
}).listen(config.port, '127.0.0.1', () => console.log(`oidc-provider ready ${config.issuer}`));

process.on('SIGTERM', () => process.exit(0));
