// A real OpenID Provider (panva/oidc-provider) for the OIDC browser tests, on loopback.
//
// Usage: node provider.mjs ISSUER REDIRECT_URI   (prints "ready ISSUER" once listening)
// Logins use the package's devInteractions form (any password); a login name's groups follow from
// its prefix (groupsOf below), so each test logs in as a fresh person. One test hook,
// POST /__test__/next-id-token {"aud": "...", "expired": true, "foreign_key": true},
// makes the NEXT ID token this provider signs carry another audience or an expiry in the past
// (signed with its real key: what a misconfigured or replayed token looks like to the client),
// or be signed by a key that is not in its JWKS under the real key's kid (a forgery).
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { Provider } from 'oidc-provider';

const [issuer, redirectUri] = process.argv.slice(2);
function groupsOf(login) {
  if (login.startsWith('senior-')) return ['staff', 'signoff-seniors'];
  if (login.startsWith('junior-')) return ['staff', 'signoff-reviewers'];
  if (login.startsWith('both-')) return ['signoff-reviewers', 'signoff-seniors'];
  return ['contractors'];
}

// CLAIMS_IN_ID_TOKEN=1 puts the profile and groups in the ID token itself (Entra, Keycloak mappers); by
// default they come only from the userinfo endpoint, as OIDC Core 5.4 has it for the code flow.
const provider = new Provider(issuer, {
  conformIdTokenClaims: process.env.CLAIMS_IN_ID_TOKEN !== '1',
  clients: [{
    client_id: 'signoff',
    client_secret: 'signoff-test-secret',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  pkce: { required: () => true },
  cookies: { keys: ['signoff-test-provider-cookie-key'] },
  scopes: ['openid', 'profile', 'email', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'], groups: ['groups'] },
  ttl: { IdToken: 3600, AccessToken: 3600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.com`, groups: groupsOf(id) };
      },
    };
  },
});

let next = null;
const IdToken = provider.IdToken;
const issue = IdToken.prototype.issue;
IdToken.prototype.issue = async function (options = {}) {
  if (next && options.use === 'idtoken') {
    const { aud, expired, foreign_key: foreign } = next;
    next = null;
    if (foreign) {
      const jwt = await issue.call(this, options);
      const { privateKey } = await generateKeyPair('RS256');
      return new SignJWT(decodeJwt(jwt)).setProtectedHeader(decodeProtectedHeader(jwt)).sign(privateKey);
    }
    if (aud) {
      const real = this.client;
      this.client = new Proxy(real, { get: (t, p) => (p === 'clientId' ? aud : Reflect.get(t, p)) });
      // azp names the real client: a token for another audience that a client checking azp alone would take.
      this.set('azp', real.clientId);
    }
    if (expired) options = { ...options, expiresAt: Math.floor(Date.now() / 1000) - 3600 };
  }
  return issue.call(this, options);
};

let userinfoCalls = 0;
provider.use(async (ctx, nextMiddleware) => {
  if (ctx.path === '/me') userinfoCalls += 1;
  if (ctx.path === '/__test__/counts') {
    ctx.body = { userinfo: userinfoCalls };
    return;
  }
  if (ctx.path === '/__test__/next-id-token' && ctx.method === 'POST') {
    let body = '';
    for await (const chunk of ctx.req) body += chunk;
    next = JSON.parse(body || '{}');
    ctx.body = { ok: true };
    return;
  }
  await nextMiddleware();
});

const { port } = new URL(issuer);
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
