// Shared by the scripts of this folder: an in-memory OAuthClientProvider for
// the MCP TypeScript SDK, a small browser that plays the user on the
// runtime's sign-in and consent pages, and a fetch that reaches *.localhost.
import { lookup } from 'node:dns';
import { Agent, fetch as undiciFetch } from 'undici';

export const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

// Node's resolver does not resolve *.localhost (the hosted URL
// https://acme.mcp.localhost:PORT/mcp): this dispatcher dials 127.0.0.1 for
// localhost and its subdomains and keeps everything else of TLS as it is
// (the server name is the URL's host, verified against the test CA of
// NODE_EXTRA_CA_CERTS).
const loopback = new Agent({
  connect: {
    lookup(hostname, options, callback) {
      if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
        return options?.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
      }
      return lookup(hostname, options, callback);
    },
  },
});

// localFetch is fetch (undici's, pinned in package.json) through that
// dispatcher.
export const localFetch = (url, init) => undiciFetch(url, { ...init, dispatcher: loopback });

// An OAuthClientProvider that keeps everything in memory and records what
// the SDK asked of it.
export class MemoryProvider {
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
      client_name: 'MCP TypeScript SDK (test/clients)',
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
export class Browser {
  constructor(fetchFn = fetch) { this.cookies = new Map(); this.fetch = fetchFn; }
  async request(method, url, form) {
    const headers = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await this.fetch(url, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text };
  }
}

// formFields reads what a browser would submit of the page's form: its
// hidden fields and the checkboxes left checked, as [name, value] pairs (a
// name may repeat); uncheck lists checkbox values the user clears.
function formFields(page, uncheck = []) {
  const out = [];
  const unescape = (v) => v.replaceAll('&#43;', '+').replaceAll('&#34;', '"').replaceAll('&#39;', "'").replaceAll('&amp;', '&');
  for (const [tag] of page.matchAll(/<input\b[^>]*>/g)) {
    const name = tag.match(/\bname="([^"]+)"/)?.[1];
    const value = unescape(tag.match(/\bvalue="([^"]*)"/)?.[1] ?? '');
    if (!name || /\bdisabled\b/.test(tag)) continue;
    const checkbox = /\btype="checkbox"/.test(tag) && /\bchecked\b/.test(tag) && !uncheck.includes(value);
    if (/\btype="hidden"/.test(tag) || checkbox) out.push([name, value]);
  }
  const names = out.map(([name]) => name);
  if (!names.includes('req') || !names.includes('csrf')) throw new Error(`a form without req and csrf:\n${page}`);
  return out;
}

function expect(res, status, what) {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status}, want ${status}\n${res.text}`);
}

// consentPage plays the user from the authorization URL through sign-in to
// the consent page.
export async function consentPage(browser, authorizationUrl, { email, password }) {
  const origin = new URL(authorizationUrl).origin;
  let res = await browser.request('GET', authorizationUrl);
  if (res.status === 302 && res.location?.startsWith('/ui/login?')) {
    res = await browser.request('GET', origin + res.location);
    expect(res, 200, 'login page');
    res = await browser.request('POST', `${origin}/ui/login`, [...formFields(res.text), ['email', email], ['password', password]]);
    expect(res, 303, 'sign-in');
    res = await browser.request('GET', new URL(res.location, origin).toString());
  }
  expect(res, 200, 'consent page');
  return res;
}

// approve approves on the consent page (picking the handle when the page
// offers a choice, clearing the scopes in uncheck) and returns the redirect
// that carries the code.
export async function approve(browser, authorizationUrl, { email, password, handle, uncheck = [] }) {
  const origin = new URL(authorizationUrl).origin;
  let res = await consentPage(browser, authorizationUrl, { email, password });
  const form = [...formFields(res.text, uncheck), ['decision', 'approve']];
  if (res.text.includes('name="handle"')) {
    if (!res.text.includes(`name="handle" value="${handle}"`)) throw new Error(`the consent page does not offer the handle ${handle}:\n${res.text}`);
    form.push(['handle', handle]);
  }
  res = await browser.request('POST', `${origin}/ui/consent`, form);
  expect(res, 303, 'consent');
  return new URL(res.location);
}
