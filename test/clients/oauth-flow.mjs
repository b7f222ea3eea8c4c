// Runs the official MCP TypeScript SDK's OAuth client (auth() with an
// OAuthClientProvider) against the runtime's authorization server: discovery
// from an MCP URL, dynamic registration, authorization with PKCE (this script
// plays the user: it signs in and approves on the server's pages), the code
// exchange and a refresh. It prints one JSON document on stdout for the Go
// test (client_suites_test.go) to check; progress goes to stderr.
//
// Input (environment):
//   MCP_FLOWS     JSON array of {"serverUrl": "...", "scope": "..." (optional),
//                 "handle": "..." (the handle to pick on the shared gateway),
//                 "expectRefusal": true (stop at the consent page, which
//                 must refuse, and report why)}
//   MCP_EMAIL, MCP_PASSWORD  the static user who signs in
//   MCP_REDIRECT_URL         the client's redirect URI (never served: the
//                            script reads the code from the redirect)
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const log = (...args) => console.error('[oauth-flow]', ...args);

// An OAuthClientProvider that keeps everything in memory and records what
// the SDK asked of it.
class MemoryProvider {
  constructor(redirectUrl) {
    this._redirectUrl = redirectUrl;
    this._state = `st-${crypto.randomUUID()}`;
    this.authorizationUrls = [];
    this.invalidations = [];
    this.savedTokens = [];
  }
  get redirectUrl() { return this._redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'MCP TypeScript SDK (oauth-flow.mjs)',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return this._state; }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; this.savedTokens.push(tokens); }
  redirectToAuthorization(url) { this.authorizationUrls.push(url.toString()); }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
  saveDiscoveryState(s) { this._discovery = s; }
  discoveryState() { return this._discovery; }
  invalidateCredentials(scope) { this.invalidations.push(scope); }
}

// A browser for the sign-in and consent pages: a cookie jar, no automatic
// redirects.
class Browser {
  constructor() { this.cookies = new Map(); }
  async request(method, url, form) {
    const headers = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text };
  }
}

// hidden reads the hidden form fields of a page.
function hidden(page) {
  const out = {};
  const unescape = (v) => v.replaceAll('&#43;', '+').replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
  for (const [tag] of page.matchAll(/<input\b[^>]*>/g)) {
    const name = tag.match(/\bname="([^"]+)"/)?.[1];
    const value = tag.match(/\bvalue="([^"]*)"/)?.[1];
    if (/\btype="hidden"/.test(tag) && name) out[name] = unescape(value ?? '');
  }
  if (!out.req || !out.csrf) throw new Error(`a form without req and csrf:\n${page}`);
  return out;
}

function expect(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status}, want ${status}\n${res.text}`);
}

// consentPage plays the user from the authorization URL through sign-in to
// the consent page.
async function consentPage(browser, authorizationUrl, { email, password }) {
  const origin = new URL(authorizationUrl).origin;
  let res = await browser.request('GET', authorizationUrl);
  if (res.status === 302 && res.location?.startsWith('/ui/login?')) {
    res = await browser.request('GET', origin + res.location);
    expect(res, 200, 'login page');
    res = await browser.request('POST', `${origin}/ui/login`, { ...hidden(res.text), email, password });
    expect(res, 303, 'sign-in');
    res = await browser.request('GET', new URL(res.location, origin).toString());
  }
  expect(res, 200, 'consent page');
  return res;
}

// approve approves on the consent page and returns the redirect that
// carries the code.
async function approve(browser, authorizationUrl, { email, password, handle }) {
  const origin = new URL(authorizationUrl).origin;
  let res = await consentPage(browser, authorizationUrl, { email, password });
  const form = { ...hidden(res.text), decision: 'approve' };
  if (res.text.includes('name="handle"')) {
    if (!res.text.includes(`name="handle" value="${handle}"`)) throw new Error(`the consent page does not offer the handle ${handle}:\n${res.text}`);
    form.handle = handle;
  }
  res = await browser.request('POST', `${origin}/ui/consent`, form);
  expect(res, 303, 'consent');
  return new URL(res.location);
}

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
  if (spec.expectRefusal === true || spec.expectRefusal === "true") {
    // The consent page must refuse: report what it says and stop.
    const page = (await consentPage(new Browser(), authorizationUrl, common)).text;
    return {
      serverUrl: spec.serverUrl,
      authorizationUrl,
      refusal: page.match(/<p class="error" role="alert">([^<]*)<\/p>/)?.[1] ?? '',
      approveOffered: page.includes('value="approve"'),
      requests,
    };
  }
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
