// Runs the official MCP TypeScript SDK's OAuth client (auth() with an
// OAuthClientProvider) against the runtime's authorization server: discovery
// from an MCP URL, dynamic registration, authorization with PKCE (this script
// plays the user: it signs in and approves on the server's pages), the code
// exchange and a refresh. It prints one JSON document on stdout for the Go
// test (sdk_test.go) to check; progress goes to stderr.
//
// Input (environment):
//   MCP_FLOWS     JSON array of {"serverUrl": "...", "scope": "..." (optional),
//                 "handle": "..." (the handle to pick on the shared gateway)}
//   MCP_EMAIL, MCP_PASSWORD  the static user who signs in
//   MCP_REDIRECT_URL         the client's redirect URI (never served: the
//                            script reads the code from the redirect)
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Browser, MemoryProvider, approve, env } from './pages.mjs';

const log = (...args) => console.error('[oauth-flow]', ...args);

async function flow(spec, common) {
  const requests = [];
  const fetchFn = async (url, init) => {
    const res = await fetch(url, init);
    requests.push(`${init?.method ?? 'GET'} ${url} ${res.status}`);
    return res;
  };
  const provider = new MemoryProvider(common.redirectUrl);
  const opts = { serverUrl: spec.serverUrl, fetchFn, ...(spec.scope ? { scope: spec.scope } : {}) };

  log(`${spec.serverUrl}: discovery, registration, authorization request`);
  const first = await auth(provider, opts);
  if (first !== 'REDIRECT' || provider.authorizationUrls.length !== 1) {
    throw new Error(`auth() returned ${first} with ${provider.authorizationUrls.length} authorization URLs, want REDIRECT and one`);
  }
  const authorizationUrl = provider.authorizationUrls[0];
  const callback = await approve(new Browser(), authorizationUrl, { ...common, handle: spec.handle });
  const q = callback.searchParams;
  if (q.get('error')) throw new Error(`authorization error: ${callback}`);
  const redirectOK = `${callback.origin}${callback.pathname}` === common.redirectUrl;
  if (!redirectOK || q.get('state') !== provider._state || !q.get('code')) {
    throw new Error(`the code redirect ${callback} does not match the redirect URI ${common.redirectUrl} and state ${provider._state}`);
  }

  log(`${spec.serverUrl}: code exchange`);
  const second = await auth(provider, { ...opts, authorizationCode: q.get('code') });
  if (second !== 'AUTHORIZED') throw new Error(`the code exchange returned ${second}`);
  const issued = provider.tokens();

  log(`${spec.serverUrl}: refresh`);
  const third = await auth(provider, opts);
  if (third !== 'AUTHORIZED') throw new Error(`the refresh returned ${third}`);
  const refreshed = provider.tokens();
  if (provider.authorizationUrls.length !== 1) throw new Error('the refresh started a new authorization instead');

  const discovery = provider.discoveryState();
  return {
    serverUrl: spec.serverUrl,
    resource: discovery?.resourceMetadata?.resource,
    authorizationServer: discovery?.authorizationServerUrl,
    issuer: discovery?.authorizationServerMetadata?.issuer,
    clientId: provider.clientInformation()?.client_id,
    authorizationUrl,
    callbackIss: q.get('iss'),
    issued,
    refreshed,
    invalidations: provider.invalidations,
    requests,
  };
}

const common = { email: env('MCP_EMAIL'), password: env('MCP_PASSWORD'), redirectUrl: env('MCP_REDIRECT_URL') };
const results = [];
for (const spec of JSON.parse(env('MCP_FLOWS'))) {
  results.push(await flow(spec, common));
}
process.stdout.write(JSON.stringify({ node: process.version, flows: results }, null, 2) + '\n');
