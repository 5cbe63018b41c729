// A real OpenID provider for the single sign-on tests: oidc-provider (npm, OpenID-certified),
// on 127.0.0.1, with one confidential client and the test's users. The users are read from
// USERS_FILE at every sign-in, so a test changes someone's groups by rewriting the file.
// Prints {"issuer": URL} on its first line once it listens; stops when stdin closes.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const entry = path.join(process.env.OIDC_MODULES, 'oidc-provider', 'lib', 'index.js');
const { default: Provider } = await import(pathToFileURL(entry).href);

const users = () => JSON.parse(readFileSync(process.env.USERS_FILE, 'utf8'));
const server = http.createServer();

server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: process.env.CLIENT_ID,
        client_secret: process.env.CLIENT_SECRET,
        redirect_uris: [process.env.REDIRECT_URI],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    async findAccount(ctx, id) {
      const user = users()[id];
      if (!user) return undefined;
      return { accountId: id, async claims() { return { sub: id, ...user }; } };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // The claims of the scopes asked for go in the ID token itself, as Keycloak, Okta and
    // Entra put them there (by default oidc-provider gives them from userinfo only).
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['stacksafe-tests-only'] },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
