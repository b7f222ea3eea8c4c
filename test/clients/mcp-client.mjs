// Runs the official MCP TypeScript SDK's Client with its
// StreamableHTTPClientTransport against the runtime's MCP endpoint the way an
// application uses it: the transport gets an OAuthClientProvider and nothing
// else (no scope, no manual auth() call), so the SDK does its default flow —
// the 401 challenge, discovery, its own scope selection (the challenge's
// scope, then scopes_supported), dynamic registration, PKCE. Whenever the SDK
// sends the user to the authorization URL (client.connect or a call throws
// UnauthorizedError), this script plays the user on the sign-in and consent
// pages, hands the code to transport.finishAuth and retries, as the SDK's
// examples do. It lists the tools and calls a read-only and a write tool. A
// flow may clear scopes on the first consent ("uncheck"): the write tool then
// needs a step-up, which must end in a successful call after one more
// consent. It prints one JSON document on stdout for the Go test
// (sdk_mcp_test.go); progress goes to stderr.
//
// All HTTP goes through localFetch (pages.mjs), which dials 127.0.0.1 for
// *.localhost names and verifies TLS with the test CA.
//
// Input (environment):
//   MCP_FLOWS     JSON array of {"serverUrl": "...",
//                 "handle": "..." (the handle to pick on the shared gateway),
//                 "uncheck": ["scope", ...] (cleared on the first consent),
//                 "readTool": {"name": "...", "arguments": {...}},
//                 "writeTool": {"name": "...", "arguments": {...}}}
//   MCP_EMAIL, MCP_PASSWORD  the static user who signs in
//   MCP_REDIRECT_URL         the client's redirect URI (never served)
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Browser, MemoryProvider, approve, env, localFetch } from './pages.mjs';

const log = (...args) => console.error('[mcp-client]', ...args);

async function flow(spec, common) {
  // Every request of this flow, with the challenge of 401 and 403 answers.
  const requests = [];
  const fetchFn = async (url, init) => {
    const res = await localFetch(url, init);
    const entry = { method: init?.method ?? 'GET', url: String(url), status: res.status };
    if (res.status === 401 || res.status === 403) entry.wwwAuthenticate = res.headers.get('www-authenticate');
    if (String(url).endsWith('/oauth/token') && res.status !== 200) entry.error = (await res.clone().json().catch(() => ({}))).error;
    requests.push(entry);
    return res;
  };
  const provider = new MemoryProvider(common.redirectUrl);
  const browser = new Browser(localFetch);
  const consents = [];
  let transport;

  // user plays the user on the page the SDK sent them to and completes
  // the authorization; uncheck applies to the first consent only.
  const user = async () => {
    const url = provider.authorizationUrls.at(-1);
    const scope = new URL(url).searchParams.get('scope');
    const callback = await approve(browser, url, { ...common, handle: spec.handle, uncheck: consents.length === 0 ? spec.uncheck ?? [] : [] });
    if (callback.searchParams.get('error') || callback.searchParams.get('state') !== provider._state) {
      throw new Error(`authorization failed: ${callback}`);
    }
    await transport.finishAuth(callback.searchParams.get('code'));
    consents.push({ requestedScope: scope, grantedScope: provider.tokens().scope });
  };
  // authorized runs an SDK call, doing what the user must when the SDK
  // needs an authorization.
  const authorized = async (call) => {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof UnauthorizedError)) throw err;
      await user();
      return await call();
    }
  };

  log(`${spec.serverUrl}: connect`);
  let client;
  const connect = async () => {
    transport = new StreamableHTTPClientTransport(new URL(spec.serverUrl), { authProvider: provider, fetch: fetchFn });
    client = new Client({ name: 'mcp-client.mjs', version: '1.0.0' });
    await client.connect(transport);
  };
  await authorized(connect);
  const out = {
    serverUrl: spec.serverUrl,
    accessToken: provider.tokens().access_token,
    serverVersion: client.getServerVersion(),
    capabilities: client.getServerCapabilities(),
    protocolVersion: transport.protocolVersion,
    sessionId: transport.sessionId,
  };
  log(`${spec.serverUrl}: tools/list, tools/call`);
  out.tools = (await authorized(() => client.listTools())).tools.map((t) => ({ name: t.name, readOnly: t.annotations?.readOnlyHint === true }));
  out.read = await authorized(() => client.callTool(spec.readTool));
  const writeFrom = requests.length;
  out.write = await authorized(() => client.callTool(spec.writeTool));
  out.writeRequests = requests.slice(writeFrom);
  out.readAfter = await authorized(() => client.callTool(spec.readTool));
  await client.close();
  out.consents = consents;
  out.registrations = requests.filter((r) => r.method === 'POST' && r.url.endsWith('/oauth/register')).length;
  out.finalScope = provider.tokens().scope;
  out.finalAccessToken = provider.tokens().access_token;
  out.requests = requests.map((r) => `${r.method} ${r.url} ${r.status}${r.error ? ' ' + r.error : ''}`);
  return out;
}

const common = { email: env('MCP_EMAIL'), password: env('MCP_PASSWORD'), redirectUrl: env('MCP_REDIRECT_URL') };
const results = [];
for (const spec of JSON.parse(env('MCP_FLOWS'))) {
  results.push(await flow(spec, common));
}
process.stdout.write(JSON.stringify({ node: process.version, flows: results }, null, 2) + '\n');
