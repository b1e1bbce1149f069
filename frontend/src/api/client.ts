/**
 * The one HTTP client of the app.
 *
 * - Every answer is `{success: true, data, meta?}` or `{success: false, error: {code, message, details}}`;
 *   failures become an {@link ApiError} whose `message` is fit to show a person.
 * - The access token lives in memory only; the refresh token in storage (localStorage), so a reload
 *   stays signed in.
 * - A 401 on an authenticated request refreshes the pair once (one refresh in flight at a time, shared
 *   by every request that needs it; across tabs serialised with the Web Locks API when available) and
 *   retries the request once. A token about to expire is refreshed before the request.
 * - The refresh token is single-use: the server revokes the whole session when a spent one is presented
 *   again (except for a few seconds right after a rotation, so a lost refresh response can be retried).
 *   Only an HTTP refusal of the refresh (401, or 422 for a malformed token) ends the session: then it is
 *   cleared and `signedOut` listeners hear why. A refresh that gets no answer (network trouble) keeps the
 *   refresh token, fails the request with a {@link NETWORK_ERROR} ApiError, and is tried again by the
 *   next request; the request is never sent without its token instead.
 */

export const API_PREFIX = '/api/v1';
export const REFRESH_KEY = 'neurmatic.refreshToken';
/** Refresh this long before the access token expires. */
const EXPIRY_MARGIN_MS = 30_000;

export const MESSAGES = {
  reuse: 'Your session was ended for security; please sign in again.',
  expired: 'Your session has ended; please sign in again.',
  everywhere: 'You have been signed out everywhere.',
  signedOut: 'You have been signed out.',
  network: 'Could not reach the server. Check your connection and try again.',
} as const;

/** The `code` of the ApiError a request fails with when the server could not be reached to refresh. */
export const NETWORK_ERROR = 'NETWORK_ERROR';

export type SignOutReason = 'reuse' | 'expired' | 'everywhere' | 'signedOut';

export interface FieldProblem {
  field: string;
  message: string;
}

export interface Pagination {
  page: number;
  limit: number;
  total: number;
  totalPages: number;
}

export interface Meta {
  pagination?: Pagination;
  [key: string]: unknown;
}

export interface ApiResult<T> {
  data: T;
  meta?: Meta;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, details: unknown = null, retryAfter: number | null = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }

  /** Field-level problems of a validation error (`details: [{field, message}]`). */
  get fieldProblems(): FieldProblem[] {
    if (!Array.isArray(this.details)) return [];
    return this.details
      .filter((d): d is FieldProblem => !!d && typeof d === 'object' && typeof (d as FieldProblem).message === 'string')
      .map((d) => ({ field: String(d.field ?? ''), message: d.message }));
  }

  /** True when the server asks for the second factor (`details.twoFactorRequired`). */
  get twoFactorRequired(): boolean {
    return !!this.details && typeof this.details === 'object' && (this.details as { twoFactorRequired?: unknown }).twoFactorRequired === true;
  }
}

function sentence(text: string): string {
  const t = text.trim();
  if (!t) return t;
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

const STATUS_WORDS: Record<number, string> = {
  400: 'The request was not understood.',
  401: 'Please sign in.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That conflicts with the current state.',
  413: 'That file is too large.',
  422: 'Some values are not valid.',
  429: 'Too many requests.',
  500: 'Something went wrong on the server.',
  502: 'The server is unavailable right now.',
  503: 'The service is briefly unavailable.',
  504: 'The server took too long to answer.',
};

/** An error body (or anything else) → an ApiError with a readable message. */
export function errorFromBody(status: number, body: unknown, retryAfterHeader: string | null): ApiError {
  const retryAfter = retryAfterHeader && /^\d+$/.test(retryAfterHeader.trim()) ? Number(retryAfterHeader) : null;
  const err = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  let code = 'HTTP_' + status;
  let message = STATUS_WORDS[status] ?? `The request failed (${status}).`;
  let details: unknown = null;
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; details?: unknown };
    if (typeof e.code === 'string') code = e.code;
    if (typeof e.message === 'string' && e.message.trim()) message = sentence(e.message);
    details = e.details ?? null;
  }
  if (status === 429 && retryAfter !== null) {
    message = `${message} Try again in ${retryAfter} second${retryAfter === 1 ? '' : 's'}.`;
  }
  return new ApiError(status, code, message, details, retryAfter);
}

/** Any thrown value → words for a person. */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof TypeError) return MESSAGES.network;
  if (error instanceof Error && error.message) return sentence(error.message);
  return 'Something went wrong.';
}

/** "field: message" lines of a validation error (field names in plain words). */
export function detailLines(error: unknown): string[] {
  if (!(error instanceof ApiError)) return [];
  return error.fieldProblems.map((p) => {
    const field = p.field.replace(/^(body|query|path)\./, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    return field && field !== 'body' ? `${field}: ${p.message}` : p.message;
  });
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | null | undefined>;
  /** Send the access token and refresh on 401 (default true). */
  auth?: boolean;
  signal?: AbortSignal;
}

interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

export interface ClientOptions {
  fetch?: typeof fetch;
  storage?: KeyValueStore;
  baseUrl?: string;
  now?: () => number;
  locks?: LockManagerLike | null;
}

type SignedOutListener = (reason: SignOutReason, message: string) => void;
type TokenListener = (accessToken: string | null) => void;

export class ApiClient {
  private readonly fetchImpl: typeof fetch;
  private readonly storage: KeyValueStore;
  private readonly baseUrl: string;
  private readonly now: () => number;
  private readonly locks: LockManagerLike | null;
  private accessToken: string | null = null;
  private accessExpiresAt = 0;
  private refreshing: Promise<boolean> | null = null;
  private signedOutListeners = new Set<SignedOutListener>();
  private tokenListeners = new Set<TokenListener>();

  constructor(options: ClientOptions = {}) {
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.storage = options.storage ?? memoryStore();
    this.baseUrl = options.baseUrl ?? API_PREFIX;
    this.now = options.now ?? (() => Date.now());
    this.locks = options.locks === undefined ? null : options.locks;
  }

  // ---- session state -------------------------------------------------------------------------

  get refreshToken(): string | null {
    try {
      return this.storage.getItem(REFRESH_KEY);
    } catch {
      return null;
    }
  }

  /** True when a session exists (an access token, or a refresh token to get one). */
  hasSession(): boolean {
    return this.accessToken !== null || this.refreshToken !== null;
  }

  currentAccessToken(): string | null {
    return this.accessToken;
  }

  setTokens(pair: TokenPair): void {
    this.accessToken = pair.accessToken;
    this.accessExpiresAt = this.now() + Math.max(0, pair.expiresIn) * 1000;
    try {
      this.storage.setItem(REFRESH_KEY, pair.refreshToken);
    } catch {
      /* storage full or blocked: the session lasts as long as the page */
    }
    this.tokenListeners.forEach((l) => l(this.accessToken));
  }

  /** Forget the session locally and tell the listeners why. */
  clearSession(reason: SignOutReason, message: string = MESSAGES[reason]): void {
    const had = this.hasSession();
    this.accessToken = null;
    this.accessExpiresAt = 0;
    try {
      this.storage.removeItem(REFRESH_KEY);
    } catch {
      /* ignore */
    }
    this.tokenListeners.forEach((l) => l(null));
    if (had || reason !== 'expired') this.signedOutListeners.forEach((l) => l(reason, message));
  }

  /** Another tab replaced or removed the refresh token (storage event). */
  adoptExternalRefreshToken(value: string | null): void {
    if (value === null && this.accessToken !== null) {
      this.accessToken = null;
      this.accessExpiresAt = 0;
      this.tokenListeners.forEach((l) => l(null));
      this.signedOutListeners.forEach((l) => l('signedOut', MESSAGES.signedOut));
    }
  }

  onSignedOut(listener: SignedOutListener): () => void {
    this.signedOutListeners.add(listener);
    return () => this.signedOutListeners.delete(listener);
  }

  onTokenChange(listener: TokenListener): () => void {
    this.tokenListeners.add(listener);
    return () => this.tokenListeners.delete(listener);
  }

  /** Milliseconds until the access token should be refreshed (null when there is none). */
  msUntilRefreshDue(): number | null {
    if (!this.accessToken) return null;
    return Math.max(0, this.accessExpiresAt - EXPIRY_MARGIN_MS - this.now());
  }

  private accessUsable(): boolean {
    return this.accessToken !== null && this.now() < this.accessExpiresAt - EXPIRY_MARGIN_MS;
  }

  /** A usable access token, refreshing first when it is missing or about to expire; null when signed out. */
  async freshAccessToken(force = false): Promise<string | null> {
    if (!force && this.accessUsable()) return this.accessToken;
    if (!this.refreshToken) return this.accessToken;
    const ok = await this.refresh();
    return ok ? this.accessToken : null;
  }

  /**
   * Exchange the refresh token for a new pair. Concurrent callers share one request. Resolves true when
   * the pair was rotated, false when the server refused (the session is then cleared). Network failures
   * (a {@link NETWORK_ERROR} ApiError) and server failures reject and keep the session.
   */
  refresh(): Promise<boolean> {
    if (!this.refreshing) {
      const run = () => this.doRefresh();
      const task = this.locks ? this.locks.request('neurmatic-refresh', run) : run();
      this.refreshing = task.finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<boolean> {
    const token = this.refreshToken; // read at the last moment: another tab may have rotated it
    if (!token) {
      this.clearSession('expired');
      return false;
    }
    let response: Response;
    try {
      response = await this.fetchImpl(this.baseUrl + '/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ refreshToken: token }),
        credentials: 'same-origin',
      });
    } catch {
      // No answer: the server may have rotated the token and the answer got lost. Keep the token; the
      // next refresh presents it again, within the server's grace window for exactly this case.
      throw new ApiError(0, NETWORK_ERROR, MESSAGES.network);
    }
    const body = await readJson(response);
    if (response.ok && isSuccess(body)) {
      this.setTokens(body.data as TokenPair);
      return true;
    }
    if (response.status === 401 || response.status === 422) {
      const err = errorFromBody(response.status, body, response.headers.get('Retry-After'));
      // "this refresh token was already used; the session is revoked for safety"
      const reused = /already used|revoked|reuse/i.test(err.message);
      this.clearSession(reused ? 'reuse' : 'expired');
      return false;
    }
    throw errorFromBody(response.status, body, response.headers.get('Retry-After'));
  }

  // ---- requests ------------------------------------------------------------------------------

  private url(path: string, query?: RequestOptions['query']): string {
    let url = this.baseUrl + path;
    if (query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
      }
      const qs = params.toString();
      if (qs) url += (url.includes('?') ? '&' : '?') + qs;
    }
    return url;
  }

  private async send(path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    let body: BodyInit | undefined;
    if (options.body instanceof FormData) {
      body = options.body; // the browser sets the multipart boundary
    } else if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    if (token) headers.Authorization = `Bearer ${token}`;
    return this.fetchImpl(this.url(path, options.query), {
      method: options.method ?? (body === undefined ? 'GET' : 'POST'),
      headers,
      body,
      signal: options.signal,
      credentials: 'same-origin',
    });
  }

  async request<T>(path: string, options: RequestOptions = {}): Promise<ApiResult<T>> {
    const auth = options.auth !== false;
    let token: string | null = null;
    if (auth && this.hasSession()) {
      // A failed refresh (network or server trouble) fails the request: sending it without its token
      // would get a 401 and refresh again at once. An access token not yet expired (only inside the
      // early-refresh margin) is still good enough to send, though.
      token = this.accessUsable()
        ? this.accessToken
        : await this.freshAccessToken().catch((err: unknown) => {
            if (this.accessToken !== null && this.now() < this.accessExpiresAt) return this.accessToken;
            throw err;
          });
    }
    let response = await this.send(path, options, token);
    if (response.status === 401 && auth && (token !== null || this.refreshToken !== null)) {
      const refreshed = this.refreshToken ? await this.refresh() : false;
      if (refreshed) {
        response = await this.send(path, options, this.accessToken);
      } else if (this.hasSession()) {
        this.clearSession('expired');
      }
    }
    const body = await readJson(response);
    if (response.ok && isSuccess(body)) {
      return { data: body.data as T, meta: body.meta as Meta | undefined };
    }
    if (response.ok && body === undefined) return { data: undefined as T };
    throw errorFromBody(response.status, body, response.headers.get('Retry-After'));
  }

  get<T>(path: string, query?: RequestOptions['query'], options: Omit<RequestOptions, 'query'> = {}): Promise<ApiResult<T>> {
    return this.request<T>(path, { ...options, method: 'GET', query });
  }

  post<T>(path: string, body?: unknown, options: RequestOptions = {}): Promise<ApiResult<T>> {
    return this.request<T>(path, { ...options, method: 'POST', body });
  }

  patch<T>(path: string, body: unknown): Promise<ApiResult<T>> {
    return this.request<T>(path, { method: 'PATCH', body });
  }

  put<T>(path: string, body?: unknown): Promise<ApiResult<T>> {
    return this.request<T>(path, { method: 'PUT', body });
  }

  delete<T>(path: string): Promise<ApiResult<T>> {
    return this.request<T>(path, { method: 'DELETE' });
  }
}

function isSuccess(body: unknown): body is { success: true; data: unknown; meta?: unknown } {
  return !!body && typeof body === 'object' && (body as { success?: unknown }).success === true;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function memoryStore(): KeyValueStore {
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

function browserLocks(): LockManagerLike | null {
  const locks = typeof navigator !== 'undefined' ? (navigator as Navigator & { locks?: LockManagerLike }).locks : undefined;
  return locks && typeof locks.request === 'function' ? locks : null;
}

function browserStorage(): KeyValueStore | undefined {
  try {
    return typeof localStorage !== 'undefined' ? localStorage : undefined;
  } catch {
    return undefined;
  }
}

/** The app's client: same-origin /api/v1, refresh token in localStorage. */
export const api = new ApiClient({ storage: browserStorage(), locks: browserLocks() });

if (typeof window !== 'undefined') {
  window.addEventListener('storage', (event) => {
    if (event.key === REFRESH_KEY) api.adoptExternalRefreshToken(event.newValue);
  });
}
