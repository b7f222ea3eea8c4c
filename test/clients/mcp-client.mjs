// Runs the official MCP TypeScript SDK's Client with its
// StreamableHTTPClientTransport against the runtime's MCP endpoint, after the
// real OAuth flow: auth() with an in-memory OAuthClientProvider does
// discovery, dynamic registration and PKCE; this script plays the user on the
// sign-in and consent pages and auth() exchanges the code. The transport then
// connects with the same provider as its authProvider, lists the tools, calls
// a read-only tool, and calls a tool that needs a scope the grant lacks (the
// step-up). It prints one JSON document on stdout for the Go test
// (sdk_test.go) to check; progress goes to stderr.
//
// All HTTP goes through localFetch (pages.mjs), which dials 127.0.0.1 for
// *.localhost names and verifies TLS with the test CA.
//
// Input (environment):
//   MCP_FLOWS     JSON array of {"serverUrl": "...", "scope": "...",
//                 "handle": "..." (the handle to pick on the shared gateway),
//                 "readTool": {"name": "...", "arguments": {...}},
//                 "writeTool": {"name": "...", "arguments": {...}}}
//   MCP_EMAIL, MCP_PASSWORD  the static user who signs in
//   MCP_REDIRECT_URL         the client's redirect URI (never served)
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Browser, MemoryProvider, approve, env, localFetch } from './pages.mjs';

const log = (...args) => console.error('[mcp-client]', ...args);

// describe turns an error into what the SDK surfaced.
const describe = (err) => ({ name: err?.constructor?.name ?? typeof err, code: err?.code, message: String(err?.message ?? err) });

async function flow(spec, common) {
  // Every request of this flow, with the challenge of 401 and 403 answers.
  const requests = [];
  const fetchFn = async (url, init) => {
    const res = await localFetch(url, init);
    const entry = { method: init?.method ?? 'GET', url: String(url), status: res.status };
    if (res.status === 401 || res.status === 403) entry.wwwAuthenticate = res.headers.get('www-authenticate');
    requests.push(entry);
    return res;
  };
  const provider = new MemoryProvider(common.redirectUrl);

  log(`${spec.serverUrl}: OAuth`);
  const opts = { serverUrl: spec.serverUrl, fetchFn, scope: spec.scope };
  if ((await auth(provider, opts)) !== 'REDIRECT' || provider.authorizationUrls.length !== 1) {
    throw new Error('auth() did not start an authorization');
  }
  const callback = await approve(new Browser(localFetch), provider.authorizationUrls[0], { ...common, handle: spec.handle });
  if (callback.searchParams.get('error') || callback.searchParams.get('state') !== provider._state) {
    throw new Error(`authorization failed: ${callback}`);
  }
  if ((await auth(provider, { ...opts, authorizationCode: callback.searchParams.get('code') })) !== 'AUTHORIZED') {
    throw new Error('the code exchange failed');
  }
  const granted = provider.tokens();
  const oauthRequests = requests.length;

  log(`${spec.serverUrl}: connect, tools/list, tools/call`);
  const transport = new StreamableHTTPClientTransport(new URL(spec.serverUrl), { authProvider: provider, fetch: fetchFn });
  const client = new Client({ name: 'mcp-client.mjs', version: '1.0.0' });
  const transportErrors = [];
  await client.connect(transport);
  transport.onerror = (err) => transportErrors.push(String(err?.message ?? err));
  const out = {
    serverUrl: spec.serverUrl,
    grantedScope: granted.scope,
    accessToken: granted.access_token,
    serverVersion: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    protocolVersion: transport.protocolVersion,
    sessionId: transport.sessionId,
  };
  out.tools = (await client.listTools()).tools.map((t) => ({ name: t.name, readOnly: t.annotations?.readOnlyHint === true }));
  out.read = await client.callTool(spec.readTool);

  // The step-up: the tool needs a scope the grant lacks.
  log(`${spec.serverUrl}: a tool the grant does not cover`);
  const stepUpFrom = requests.length;
  const tokensBefore = provider.savedTokens.length;
  try {
    out.write = { result: await client.callTool(spec.writeTool) };
  } catch (err) {
    out.write = { error: describe(err) };
  }
  out.write.requests = requests.slice(stepUpFrom);
  out.write.newAuthorizations = provider.authorizationUrls.length - 1;
  out.write.tokensSaved = provider.savedTokens.length - tokensBefore;
  out.write.invalidations = provider.invalidations;

  // The session still works after the refused call.
  out.readAfter = await client.callTool(spec.readTool);
  await client.close();
  out.transportErrors = transportErrors;
  out.oauthRequests = requests.slice(0, oauthRequests).map((r) => `${r.method} ${r.url} ${r.status}`);
  return out;
}

const common = { email: env('MCP_EMAIL'), password: env('MCP_PASSWORD'), redirectUrl: env('MCP_REDIRECT_URL') };
const results = [];
for (const spec of JSON.parse(env('MCP_FLOWS'))) {
  results.push(await flow(spec, common));
}
process.stdout.write(JSON.stringify({ node: process.version, flows: results }, null, 2) + '\n');
