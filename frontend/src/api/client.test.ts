import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, MESSAGES, NETWORK_ERROR, REFRESH_KEY, detailLines, errorFromBody, messageOf } from './client';

type Handler = (url: string, init: RequestInit) => Response | Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

function store(initial: Record<string, string> = {}) {
  const map = new Map(Object.entries(initial));
  return {
    getItem: (k: string) => map.get(k) ?? null,
    setItem: (k: string, v: string) => void map.set(k, v),
    removeItem: (k: string) => void map.delete(k),
    map,
  };
}

function setup(handler: Handler, opts: { refresh?: string; now?: () => number } = {}) {
  const storage = store(opts.refresh ? { [REFRESH_KEY]: opts.refresh } : {});
  const fetch = vi.fn((input: RequestInfo | URL, init?: RequestInit) => Promise.resolve(handler(String(input), init ?? {})));
  const client = new ApiClient({ fetch: fetch as unknown as typeof globalThis.fetch, storage, now: opts.now });
  return { client, fetch, storage };
}

const auth = (init: RequestInit) => (init.headers as Record<string, string>).Authorization ?? null;
const pair = (n: number) => ({ accessToken: `access-${n}`, refreshToken: `refresh-${n}`, expiresIn: 900, tokenType: 'Bearer' });

describe('error bodies', () => {
  it('turns the error body into a readable message', () => {
    const err = errorFromBody(409, { success: false, error: { code: 'CONFLICT', message: 'this email is already registered', details: null } }, null);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toBe('This email is already registered.');
    expect(messageOf(err)).toBe('This email is already registered.');
  });

  it('keeps field-level details of a validation error', () => {
    const err = errorFromBody(
      422,
      {
        success: false,
        error: {
          code: 'VALIDATION_ERROR',
          message: 'the password is too weak: include a digit',
          details: [{ field: 'password', message: 'include a digit' }, { field: 'termsAccepted', message: 'must be true' }],
        },
      },
      null,
    );
    expect(err.fieldProblems).toEqual([
      { field: 'password', message: 'include a digit' },
      { field: 'termsAccepted', message: 'must be true' },
    ]);
    expect(detailLines(err)).toEqual(['password: include a digit', 'terms accepted: must be true']);
  });

  it('says when to retry a 429', () => {
    const err = errorFromBody(429, { success: false, error: { code: 'RATE_LIMIT_EXCEEDED', message: 'too many requests', details: null } }, '30');
    expect(err.retryAfter).toBe(30);
    expect(err.message).toBe('Too many requests. Try again in 30 seconds.');
  });

  it('falls back to words for the status when the body is not the API’s', () => {
    expect(errorFromBody(502, '<html>bad gateway</html>', null).message).toBe('The server is unavailable right now.');
    expect(messageOf(new TypeError('Failed to fetch'))).toBe(MESSAGES.network);
  });

  it('rejects a request with the server message', async () => {
    const { client } = setup(() => json(404, { success: false, error: { code: 'NOT_FOUND', message: 'no such article', details: null } }));
    await expect(client.get('/articles/nope')).rejects.toMatchObject({ status: 404, message: 'No such article.' });
  });

  it('reads the success envelope and pagination', async () => {
    const { client } = setup(() => json(200, { success: true, data: [1, 2], meta: { pagination: { page: 1, limit: 2, total: 5, totalPages: 3 } } }));
    const result = await client.get<number[]>('/articles', { page: 1, limit: 2, q: '' });
    expect(result.data).toEqual([1, 2]);
    expect(result.meta?.pagination?.totalPages).toBe(3);
  });
});

describe('tokens and refresh', () => {
  it('sends the access token; keeps only the refresh token in storage', async () => {
    const { client, fetch, storage } = setup(() => json(200, { success: true, data: { ok: true } }));
    client.setTokens(pair(1));
    await client.get('/users/me');
    expect(auth(fetch.mock.calls[0][1]!)).toBe('Bearer access-1');
    expect([...storage.map.entries()]).toEqual([[REFRESH_KEY, 'refresh-1']]);
  });

  it('on 401 refreshes once and retries the request once', async () => {
    let n = 1;
    const { client, fetch, storage } = setup((url, init) => {
      if (url.endsWith('/auth/refresh')) {
        expect(JSON.parse(String(init.body))).toEqual({ refreshToken: 'refresh-1' });
        n = 2;
        return json(200, { success: true, data: pair(2) });
      }
      return auth(init) === 'Bearer access-2'
        ? json(200, { success: true, data: { id: 'u1' } })
        : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'the token has expired', details: null } });
    });
    client.setTokens(pair(1));
    const result = await client.get<{ id: string }>('/users/me');
    expect(result.data.id).toBe('u1');
    expect(n).toBe(2);
    expect(fetch.mock.calls.map((c) => String(c[0]))).toEqual(['/api/v1/users/me', '/api/v1/auth/refresh', '/api/v1/users/me']);
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-2');
  });

  it('does not loop: a second 401 after the retry is the answer', async () => {
    const { client, fetch } = setup((url) =>
      url.endsWith('/auth/refresh')
        ? json(200, { success: true, data: pair(2) })
        : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'nope', details: null } }),
    );
    client.setTokens(pair(1));
    await expect(client.get('/users/me')).rejects.toMatchObject({ status: 401 });
    expect(fetch).toHaveBeenCalledTimes(3);
  });

  it('concurrent 401s share one refresh', async () => {
    let refreshes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { client } = setup(async (url, init) => {
      if (url.endsWith('/auth/refresh')) {
        refreshes++;
        await gate;
        return json(200, { success: true, data: pair(2) });
      }
      return auth(init) === 'Bearer access-2'
        ? json(200, { success: true, data: url })
        : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'expired', details: null } });
    });
    client.setTokens(pair(1));
    const all = Promise.all([client.get('/a'), client.get('/b'), client.get('/c')]);
    await new Promise((r) => setTimeout(r, 10));
    release();
    const results = await all;
    expect(refreshes).toBe(1);
    expect(results.map((r) => r.data)).toEqual(['/api/v1/a', '/api/v1/b', '/api/v1/c']);
  });

  it('a reused (spent) refresh token signs the user out with a message', async () => {
    const { client, storage } = setup((url) =>
      url.endsWith('/auth/refresh')
        ? json(401, {
            success: false,
            error: { code: 'AUTHENTICATION_REQUIRED', message: 'this refresh token was already used; the session is revoked for safety', details: null },
          })
        : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'expired', details: null } }),
    );
    const signedOut = vi.fn();
    client.onSignedOut(signedOut);
    client.setTokens(pair(1));
    await expect(client.get('/users/me')).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toHaveBeenCalledTimes(1);
    expect(signedOut).toHaveBeenCalledWith('reuse', 'Your session was ended for security; please sign in again.');
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
    expect(client.hasSession()).toBe(false);
  });

  it('restores a session from the stored refresh token (a reload)', async () => {
    const { client, fetch } = setup(
      (url, init) =>
        url.endsWith('/auth/refresh') ? json(200, { success: true, data: pair(7) }) : json(200, { success: true, data: auth(init) }),
      { refresh: 'refresh-6' },
    );
    const result = await client.get<string>('/users/me');
    expect(result.data).toBe('Bearer access-7');
    expect(String(fetch.mock.calls[0][0])).toBe('/api/v1/auth/refresh');
  });

  it('refreshes before the access token expires', async () => {
    let now = 1_000_000;
    const { client, fetch } = setup(
      (url, init) => (url.endsWith('/auth/refresh') ? json(200, { success: true, data: pair(2) }) : json(200, { success: true, data: auth(init) })),
      { now: () => now },
    );
    client.setTokens(pair(1)); // 900 s
    now += 890_000; // 10 s left: inside the margin
    const result = await client.get<string>('/users/me');
    expect(result.data).toBe('Bearer access-2');
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('does not sign out when the refresh fails for network reasons', async () => {
    const { client, storage } = setup((url) => {
      if (url.endsWith('/auth/refresh')) throw new TypeError('Failed to fetch');
      return json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'expired', details: null } });
    });
    client.setTokens(pair(1));
    await expect(client.get('/users/me')).rejects.toMatchObject({ code: NETWORK_ERROR, message: MESSAGES.network });
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-1');
  });

  it('a lost refresh answer keeps the token, sends nothing unauthenticated, and the next call refreshes again', async () => {
    let online = false;
    const { client, fetch, storage } = setup(
      (url, init) => {
        if (url.endsWith('/auth/refresh')) {
          if (!online) throw new TypeError('Failed to fetch'); // the request left, its answer was lost
          return json(200, { success: true, data: pair(2) });
        }
        return auth(init)
          ? json(200, { success: true, data: auth(init) })
          : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'sign in', details: null } });
      },
      { refresh: 'refresh-1' }, // a reload: no access token yet
    );
    const signedOut = vi.fn();
    client.onSignedOut(signedOut);

    const err = await client.get('/users/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 0, code: NETWORK_ERROR });
    expect(messageOf(err)).toBe('Could not reach the server. Check your connection and try again.');
    // Only the refresh was tried: no unauthenticated call, no second refresh with the same token.
    expect(fetch.mock.calls.map((c) => String(c[0]))).toEqual(['/api/v1/auth/refresh']);
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-1');
    expect(client.hasSession()).toBe(true);
    expect(signedOut).not.toHaveBeenCalled();

    online = true;
    const result = await client.get<string>('/users/me');
    expect(result.data).toBe('Bearer access-2');
    const calls = fetch.mock.calls.map((c) => [String(c[0]), c[1]?.body ?? auth(c[1]!)]);
    expect(calls).toEqual([
      ['/api/v1/auth/refresh', JSON.stringify({ refreshToken: 'refresh-1' })],
      ['/api/v1/auth/refresh', JSON.stringify({ refreshToken: 'refresh-1' })],
      ['/api/v1/users/me', 'Bearer access-2'],
    ]);
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-2');
  });

  it('a network failure of the refresh after a 401 fails the call without signing out', async () => {
    const { client, fetch, storage } = setup((url) => {
      if (url.endsWith('/auth/refresh')) throw new TypeError('Failed to fetch');
      return json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'expired', details: null } });
    });
    client.setTokens(pair(1)); // usable, but the server says 401 (e.g. the session hash expired meanwhile)
    await expect(client.get('/users/me')).rejects.toMatchObject({ code: NETWORK_ERROR });
    expect(fetch.mock.calls.map((c) => [String(c[0]), auth(c[1]!)])).toEqual([
      ['/api/v1/users/me', 'Bearer access-1'],
      ['/api/v1/auth/refresh', null],
    ]);
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-1');
  });

  it('server trouble on refresh keeps the session and sends nothing unauthenticated', async () => {
    const { client, fetch, storage } = setup(
      (url) =>
        url.endsWith('/auth/refresh')
          ? json(503, { success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'try again shortly', details: null } })
          : json(200, { success: true, data: 'should not be called' }),
      { refresh: 'refresh-1' },
    );
    await expect(client.get('/users/me')).rejects.toMatchObject({ status: 503 });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(storage.getItem(REFRESH_KEY)).toBe('refresh-1');
  });

  it('an expiring (not yet expired) access token is still sent when the early refresh fails', async () => {
    let now = 1_000_000;
    const { client, fetch } = setup(
      (url, init) => {
        if (url.endsWith('/auth/refresh')) throw new TypeError('Failed to fetch');
        return json(200, { success: true, data: auth(init) });
      },
      { now: () => now },
    );
    client.setTokens(pair(1));
    now += 890_000; // inside the early-refresh margin, 10 s before expiry
    expect((await client.get<string>('/users/me')).data).toBe('Bearer access-1');
    expect(fetch).toHaveBeenCalledTimes(2);
  });

  it('a 401 from the refresh (expired session) signs out with the message', async () => {
    const { client, fetch, storage } = setup(
      (url) =>
        url.endsWith('/auth/refresh')
          ? json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'this session has ended; sign in again', details: null } })
          : json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'sign in', details: null } }),
      { refresh: 'refresh-1' },
    );
    const signedOut = vi.fn();
    client.onSignedOut(signedOut);
    await expect(client.get('/users/me')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toHaveBeenCalledWith('expired', MESSAGES.expired);
    expect(storage.getItem(REFRESH_KEY)).toBeNull();
    // Signed out, the call went on without a token (public pages still work); no second refresh.
    expect(fetch.mock.calls.map((c) => [String(c[0]), auth(c[1]!)])).toEqual([
      ['/api/v1/auth/refresh', null],
      ['/api/v1/users/me', null],
    ]);
  });

  it('sign-in endpoints do not trigger a refresh on 401', async () => {
    const { client, fetch } = setup(() =>
      json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'enter the code from your authenticator app', details: { twoFactorRequired: true } } }),
    );
    client.setTokens(pair(1));
    const err = await client.post('/auth/login', { email: 'a@b.c', password: 'x' }, { auth: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).twoFactorRequired).toBe(true);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(auth(fetch.mock.calls[0][1]!)).toBeNull();
  });
});
