// A stand-in for Microsoft Entra ID's OpenID Connect endpoints, built on oidc-provider (panva,
// OpenID Certified), for scripts/oidc-e2e.sh. Not a mock: every authorize/token/JWKS answer comes
// from oidc-provider; this file only shapes the URLs, tenants, accounts and claims like Entra's.
//
//   node server.mjs --port 0 --config FILE     (or FAKE_ENTRA_PORT / FAKE_ENTRA_CONFIG)
//   prints "listening on http://127.0.0.1:PORT" once ready; A below is that authority.
//
// Per tenant GUID T (one Provider each, issuer A/T/v2.0, its own RS256 key, mounted at /T):
//   GET  A/T/oauth2/v2.0/authorize   POST A/T/oauth2/v2.0/token   GET A/T/discovery/v2.0/keys
//   GET  A/T/v2.0/.well-known/openid-configuration   (also A/{domain}/v2.0/... for its domains)
//   GET|POST A/T/login/{uid}   the sign-in form: field `login` = an account's upn, email or oid;
//            consent is implied (every client is pre-consented). Every new authorization
//            request asks who signs in (no silent SSO), so a test knows which account it gets.
// Multi-tenant app (config "app"): A/organizations/oauth2/v2.0/{authorize,token} is one more
//   Provider, for the app's home tenant C (issuer A/C/v2.0, C's key; C's accounts only).
//   GET A/organizations/v2.0/adminconsent?client_id&redirect_uri&state&scope shows a form;
//   POST it with `login` = an admin's upn and `consent=accept|decline`: redirects to
//   redirect_uri?admin_consent=True&tenant=T&state&scope (T = the admin's tenant; the app is
//   then a client of A/T/... too) or ?error=access_denied&error_description=AADSTS65004...
// Test hooks (loopback only): POST /_admin/clients {tenant, client_id, redirect_uris,
//   client_secret | certificate (PEM: private_key_jwt, key found by the assertion's x5t as
//   Entra does)}; GET /_admin/token-requests: how each token request authenticated;
//   POST /_admin/rotate-key {tenant}: a new signing key (the old one stays in the JWKS).
// Token-endpoint errors carry Entra's AADSTS codes (oidc-provider's own text in parentheses).
//
// Config: {"tenants": [{"id": T, "domains": [...], "clients": [{client_id, client_secret,
//   redirect_uris}], "accounts": [{sub, oid, upn, preferred_username, email, xms_edov, name,
//   given_name, family_name, roles, idp?, acct?, admin?}]}],
//   "app": {client_id, client_secret, redirect_uris, tenant: C}}
// The ID token carries the account's claims with tid = T and ver = "2.0". An account with
// "unassigned": true is refused as Entra refuses a user not assigned to the app (AADSTS50105).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import Provider, { interactionPolicy } from 'oidc-provider';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.FAKE_ENTRA_PORT ?? '0' },
    config: { type: 'string', default: process.env.FAKE_ENTRA_CONFIG },
  },
});
const config = JSON.parse(fs.readFileSync(opts.config, 'utf8'));
// What goes into the ID token (an account's other fields, such as `admin`, do not); nbf, aio,
// rh and uti as Entra's tokens carry them (the last three opaque).
const CLAIMS = ['sub', 'tid', 'oid', 'ver', 'upn', 'preferred_username', 'email', 'xms_edov',
  'name', 'given_name', 'family_name', 'roles', 'idp', 'acct', 'nbf', 'aio', 'rh', 'uti'];
const tenants = new Map(); // GUID -> { id, accounts, clients, keys, provider }
const domains = new Map(); // lower-case domain -> tenant
const mounts = new Map(); // first path segment -> tenant-like mount (tenants and "organizations")
const tokenRequests = [];
const b64url = (buf) => Buffer.from(buf).toString('base64url');
const escape = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function aadError(res, status, code, error, description) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify({ error, error_description: `${code}: ${description}`, error_codes: [Number(code.slice(6))] }));
}
function html(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>Sign in</title></head><body>${body}</body></html>`);
}
function redirect(res, location) {
  res.writeHead(302, { location });
  res.end();
}
async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks);
}
function findLogin(accounts, login) {
  const l = String(login ?? '').trim().toLowerCase();
  return accounts.find((a) => a.oid === l) ?? accounts.find((a) => a.upn.toLowerCase() === l || a.email?.toLowerCase() === l);
}

// One in-memory store per Provider (oidc-provider's MemoryAdapter is shared by all instances:
// a session of one tenant would be found by another). Clients come from the mount's live map.
function adapterFor(mount) {
  const store = new Map();
  return class Adapter {
    constructor(model) { this.model = model; }
    key(id) { return `${this.model}:${id}`; }
    async upsert(id, payload) {
      store.set(this.key(id), payload);
      if (payload.uid) store.set(`${this.model}:uid:${payload.uid}`, id);
    }
    async find(id) {
      return this.model === 'Client' ? mount.clients.get(id) : store.get(this.key(id));
    }
    async findByUid(uid) { return this.find(store.get(`${this.model}:uid:${uid}`)); }
    async findByUserCode() { return undefined; }
    async consume(id) {
      const p = store.get(this.key(id));
      if (p) p.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id) { store.delete(this.key(id)); }
    async revokeByGrantId(grantId) {
      for (const [k, v] of store) if (v?.grantId === grantId) store.delete(k);
    }
  };
}

function clientMetadata({ client_id, client_secret, redirect_uris, certificate }) {
  const base = { client_id, redirect_uris, grant_types: ['authorization_code'], response_types: ['code'] };
  if (!certificate) return { ...base, client_secret, token_endpoint_auth_method: 'client_secret_post' };
  const cert = new crypto.X509Certificate(certificate);
  const jwk = cert.publicKey.export({ format: 'jwk' });
  const x5t = b64url(crypto.createHash('sha1').update(cert.raw).digest());
  return {
    ...base,
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    jwks: { keys: [{ ...jwk, x5t, x5c: [cert.raw.toString('base64')] }] },
  };
}

// (Re)builds a mount's Provider: issuer A/T/v2.0, T's signing keys (the first one signs).
function makeProvider(mount) {
  const { accounts } = mount;
  // Pre-consented (loadExistingGrant grants what is asked); prompt=select_account and consent
  // (which idgate or Entra's clients send) are satisfied by the one sign-in form.
  const policy = interactionPolicy.base();
  policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }));
  policy.get('login').checks.push(new interactionPolicy.Check(
    'entra_sign_in', 'each new authorization request signs in',
    (ctx) => ctx.oidc.route === 'authorization',
  ));
  const provider = new Provider(`${authority}/${mount.tenant}/v2.0`, {
    adapter: adapterFor(mount),
    jwks: { keys: tenants.get(mount.tenant).keys },
    cookies: {
      keys: [crypto.randomBytes(32).toString('hex')],
      names: { session: `_s_${mount.path}`, interaction: `_i_${mount.path}`, resume: `_r_${mount.path}` },
    },
    routes: {
      authorization: '/oauth2/v2.0/authorize',
      token: '/oauth2/v2.0/token',
      jwks: '/discovery/v2.0/keys',
      userinfo: '/oidc/userinfo',
      end_session: '/oauth2/v2.0/logout',
    },
    claims: { openid: CLAIMS, profile: [], email: [] },
    conformIdTokenClaims: false,
    ttl: { AuthorizationCode: 600, Interaction: 600, Session: 3600, Grant: 3600, IdToken: 3600, AccessToken: 3600 },
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    clientAuthMethods: ['client_secret_post', 'private_key_jwt'],
    features: { devInteractions: { enabled: false }, userinfo: { enabled: true } },
    interactions: { policy, url: (ctx, interaction) => `/${mount.path}/login/${interaction.uid}` },
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile email');
      await grant.save();
      return grant;
    },
    async findAccount(ctx, sub) {
      const account = accounts.find((a) => a.sub === sub);
      if (!account) return undefined;
      const opaque = () => b64url(crypto.randomBytes(16));
      return {
        accountId: sub,
        claims: async () => ({ ...account, ver: '2.0', nbf: Math.floor(Date.now() / 1000), aio: opaque(), rh: opaque(), uti: opaque() }),
      };
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><h1>Sign in failed</h1><p id="error">${escape(out.error)}</p>`
        + `<p id="error_description">${escape(out.error_description)}</p>`;
    },
  });
  // Entra's authorization response carries no RFC 9207 `iss` parameter.
  // Entra's authorization response: no RFC 9207 `iss`, a session_state.
  provider.on('authorization.success', (ctx, out) => { delete out.iss; out.session_state = crypto.randomUUID(); });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  mount.provider = provider;
  mount.handler = provider.callback();
}

// The sign-in form of an interaction (GET shows it, POST signs the account in).
async function interaction(mount, req, res, uid) {
  let details;
  try {
    details = await mount.provider.interactionDetails(req, res);
  } catch {
    return aadError(res, 400, 'AADSTS90014', 'invalid_request', 'The sign-in session is missing or expired.');
  }
  if (details.uid !== uid) return aadError(res, 400, 'AADSTS90014', 'invalid_request', 'Wrong interaction.');
  const form = (message) => html(res, 200, `<h1>Sign in</h1>${message ? `<p id="error">${escape(message)}</p>` : ''}
<form method="post"><input name="login" placeholder="someone@example.com"><button>Next</button></form>`);
  if (req.method !== 'POST') return form();
  const login = new URLSearchParams(req.body.toString()).get('login');
  const account = findLogin(mount.accounts, login);
  if (!account) {
    return form(`AADSTS50034: The user account ${login} does not exist in the ${mount.tenant} directory.`);
  }
  const result = account.unassigned // Entra's "assignment required" and the account not assigned
    ? { error: 'access_denied', error_description: `AADSTS50105: Your administrator has configured the application to block users unless they are specifically granted ('assigned') access to the application. The signed in user '${account.upn}' is blocked because they are not a direct member of a group with access, nor had access directly assigned by an administrator.` }
    : { login: { accountId: account.sub }, select_account: {}, consent: {} };
  return mount.provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

// The multi-tenant app's admin consent (Entra's v2.0/adminconsent endpoint).
function adminConsent(req, res, url) {
  const { app } = config;
  const p = req.method === 'POST' ? new URLSearchParams(req.body.toString()) : url.searchParams;
  const [clientId, redirectUri, state, scope] = ['client_id', 'redirect_uri', 'state', 'scope'].map((k) => p.get(k) ?? '');
  if (!app || clientId !== app.client_id) {
    return html(res, 400, `<p id="error">AADSTS700016: Application with identifier '${escape(clientId)}' was not found in the directory.</p>`);
  }
  if (!app.redirect_uris.includes(redirectUri)) {
    return html(res, 400, `<p id="error">AADSTS50011: The redirect URI '${escape(redirectUri)}' specified in the request does not match the redirect URIs configured for the application.</p>`);
  }
  const back = (params) => redirect(res, `${redirectUri}?${new URLSearchParams({ ...params, state })}`);
  if (req.method !== 'POST') {
    const hidden = Object.entries({ client_id: clientId, redirect_uri: redirectUri, state, scope })
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${escape(v)}">`).join('');
    return html(res, 200, `<h1>Permissions requested</h1><form method="post">${hidden}
<input name="login" placeholder="admin@contoso.com"><button name="consent" value="accept">Accept</button>
<button name="consent" value="decline">Cancel</button></form>`);
  }
  if (p.get('consent') !== 'accept') {
    return back({ error: 'access_denied', error_description: 'AADSTS65004: User declined to consent to access the app.' });
  }
  const account = [...tenants.values()].map((t) => findLogin(t.accounts, p.get('login'))).find(Boolean);
  if (!account?.admin) {
    return html(res, 403, `<p id="error">AADSTS90094: Admin consent is required: ${escape(p.get('login'))} is not an administrator.</p>`);
  }
  tenants.get(account.tid).clients.set(app.client_id, clientMetadata(app));
  return back({ admin_consent: 'True', tenant: account.tid, scope: scope || 'https://graph.microsoft.com/.default' });
}

// Entra finds a client assertion's certificate by the header's x5t; oidc-provider by kid. Check
// the x5t here, then give the registered key the assertion's kid.
function checkAssertion(mount, form, res) {
  const assertion = form.get('client_assertion');
  const entry = { tenant: mount.path, client_id: form.get('client_id'), grant_type: form.get('grant_type') };
  entry.auth = assertion ? 'private_key_jwt' : form.get('client_secret') ? 'client_secret_post' : 'other';
  tokenRequests.push(entry);
  if (!assertion) return true;
  let header;
  try {
    const [h, c] = assertion.split('.').slice(0, 2).map((s) => JSON.parse(Buffer.from(s, 'base64url')));
    Object.assign(entry, { header: h, claims: c });
    header = h;
  } catch {
    aadError(res, 400, 'AADSTS50027', 'invalid_request', 'JWT token is invalid or malformed.');
    return false;
  }
  const client = mount.clients.get(entry.claims.sub);
  const keys = client?.jwks?.keys ?? [];
  const key = keys.find((k) => k.x5t === header.x5t);
  if (!key) {
    aadError(res, 401, 'AADSTS700027', 'invalid_client', `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '${header.x5t}']`);
    return false;
  }
  const { kid, ...rest } = key;
  mount.clients.set(client.client_id, { ...client, jwks: { keys: [header.kid ? { ...rest, kid: header.kid } : rest] } });
  return true;
}

// oidc-provider's token-endpoint errors, given the AADSTS code Entra answers with.
const AADSTS = {
  invalid_client: ['AADSTS7000215', 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.'],
  invalid_assertion: ['AADSTS700027', 'Client assertion failed signature validation.'],
  invalid_grant: ['AADSTS70008', 'The provided authorization code or refresh token has expired due to inactivity, or was already redeemed.'],
  invalid_request: ['AADSTS900144', 'The request body is invalid.'],
  unauthorized_client: ['AADSTS700016', 'Application not found in the directory.'],
};
function entraTokenErrors(res, assertion) {
  const end = res.end.bind(res);
  res.end = (chunk, ...rest) => {
    try {
      const body = res.statusCode >= 400 && chunk ? JSON.parse(chunk) : undefined;
      const key = body?.error === 'invalid_client' && assertion ? 'invalid_assertion' : body?.error;
      if (AADSTS[key] && !res.headersSent) {
        const [code, text] = AADSTS[key];
        chunk = JSON.stringify({ ...body, error_description: `${code}: ${text} (${body.error_description})`, error_codes: [Number(code.slice(6))] });
        res.setHeader('content-length', Buffer.byteLength(chunk));
      }
    } catch { /* not JSON: as it is */ }
    return end(chunk, ...rest);
  };
}

async function admin(req, res, url) {
  if (url.pathname === '/_admin/token-requests') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(tokenRequests));
  }
  if (url.pathname === '/_admin/rotate-key' && req.method === 'POST') {
    const { tenant } = JSON.parse(req.body.toString());
    const t = tenants.get(tenant);
    if (!t) return aadError(res, 404, 'AADSTS90002', 'invalid_tenant', `Tenant '${tenant}' not found.`);
    t.keys = [newKey(), t.keys[0]]; // Entra's rollover: the new key signs, the old one is still listed
    for (const m of mounts.values()) if (m.tenant === tenant) makeProvider(m);
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ kid: t.keys[0].kid }));
  }
  if (url.pathname === '/_admin/clients' && req.method === 'POST') {
    const body = JSON.parse(req.body.toString());
    const mount = mounts.get(body.tenant);
    if (!mount) return aadError(res, 404, 'AADSTS90002', 'invalid_tenant', `Tenant '${body.tenant}' not found.`);
    const metadata = clientMetadata(body);
    await mount.provider.Client.validate(metadata);
    mount.clients.set(body.client_id, metadata);
    res.writeHead(201, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(metadata));
  }
  return aadError(res, 404, 'AADSTS90000', 'not_found', 'No such test hook.');
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'POST') req.body = await readBody(req); // oidc-provider then uses req.body
  const first = decodeURIComponent(url.pathname.split('/')[1] ?? '');
  if (first === '_admin') return admin(req, res, url);
  if (url.pathname === '/organizations/v2.0/adminconsent') return adminConsent(req, res, url);
  let rest = url.pathname.slice(first.length + 1);
  const wellKnown = rest === '/v2.0/.well-known/openid-configuration';
  const mount = mounts.get(first) ?? (wellKnown ? domains.get(first.toLowerCase()) : undefined);
  if (!mount) {
    return aadError(res, 400, 'AADSTS90002', 'invalid_tenant', `Tenant '${first}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`);
  }
  if (wellKnown) rest = '/.well-known/openid-configuration';
  const login = rest.match(/^\/login\/([\w-]+)$/);
  if (login) return interaction(mount, req, res, login[1]);
  if (rest === '/oauth2/v2.0/token' && req.method === 'POST') {
    const form = new URLSearchParams(req.body.toString());
    if (!checkAssertion(mount, form, res)) return undefined;
    entraTokenErrors(res, form.has('client_assertion'));
  }
  // oidc-provider takes its mount path from originalUrl minus url.
  req.originalUrl = `/${mount.path}${rest}${url.search}`;
  req.url = `${rest}${url.search}`;
  return mount.handler(req, res);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) aadError(res, 500, 'AADSTS90100', 'server_error', String(err.message ?? err));
  });
});
function newKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: b64url(crypto.randomBytes(20)), alg: 'RS256', use: 'sig' };
}
let authority;
server.listen(Number(opts.port), '127.0.0.1', () => {
  authority = `http://127.0.0.1:${server.address().port}`;
  for (const t of config.tenants) {
    const accounts = t.accounts.map((a) => ({ ...a, tid: t.id }));
    const tenant = { id: t.id, path: t.id, tenant: t.id, accounts, keys: [newKey()],
      clients: new Map((t.clients ?? []).map((c) => [c.client_id, clientMetadata(c)])) };
    tenants.set(t.id, tenant);
    mounts.set(t.id, tenant);
    for (const d of t.domains ?? []) domains.set(d.toLowerCase(), tenant);
    makeProvider(tenant);
  }
  if (config.app) {
    const home = tenants.get(config.app.tenant);
    const orgs = { path: 'organizations', tenant: home.id, accounts: home.accounts,
      clients: new Map([[config.app.client_id, clientMetadata(config.app)]]) };
    mounts.set('organizations', orgs);
    makeProvider(orgs);
  }
  console.log(`listening on ${authority}`);
});
