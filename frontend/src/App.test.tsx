import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, cleanup, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { api, MESSAGES, REFRESH_KEY } from './api/client';
import { LiveProvider } from './live/LiveContext';
import { json, renderWithProviders } from './test-utils';
import App from './App';

const USER = {
  id: 'u1',
  email: 'ada@example.com',
  username: 'ada',
  displayName: 'Ada',
  bio: null,
  role: 'user',
  status: 'active',
  emailVerified: true,
  twoFactorEnabled: false,
  createdAt: '2024-01-01T00:00:00Z',
};

class FakeWebSocket {
  static last: FakeWebSocket | null = null;
  readyState = 0;
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  sent: string[] = [];
  constructor(public url: string) {
    FakeWebSocket.last = this;
    setTimeout(() => {
      this.readyState = 1;
      this.onopen?.(new Event('open'));
    }, 0);
  }
  send(data: string) {
    this.sent.push(data);
    if (JSON.parse(data).type === 'auth') setTimeout(() => this.onmessage?.({ data: JSON.stringify({ type: 'ready' }) } as MessageEvent), 0);
  }
  close() {
    this.readyState = 3;
  }
}

function renderApp(path: string) {
  return renderWithProviders(
    <LiveProvider>
      <App />
    </LiveProvider>,
    { path },
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  cleanup();
  api.clearSession('signedOut');
});

describe('App routes', () => {
  it('shows a not-found page for unknown routes', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(200, { success: true, data: [] })));
    renderApp('/no/such/page');
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
    expect(screen.getByRole('banner')).toBeInTheDocument();
    expect(screen.getByRole('main')).toBeInTheDocument();
    expect(screen.getByRole('navigation', { name: 'Main' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Sign in' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'Register' })).toBeInTheDocument();
  });

  it('sends signed-out visitors of a private page to sign in', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json(200, { success: true, data: [] })));
    renderApp('/profile');
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
  });

  it('restores the session from the refresh token, goes live and counts a new notification', async () => {
    localStorage.setItem(REFRESH_KEY, 'stored-refresh');
    vi.stubGlobal('WebSocket', FakeWebSocket);
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) => {
        if (url === '/api/v1/auth/refresh') return json(200, { success: true, data: { accessToken: 'acc', refreshToken: 'r2', expiresIn: 900 } });
        if (url === '/api/v1/users/me') return json(200, { success: true, data: USER });
        if (url.startsWith('/api/v1/notifications')) return json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 1, total: 0, totalPages: 0 } } });
        if (url === '/api/v1/auth/logout') return json(200, { success: true, data: { loggedOut: true } });
        return json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } } });
      }),
    );
    renderApp('/');
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    for (const name of ['Write', 'Bookmarks', 'Notifications', 'Profile']) {
      expect(screen.getByRole('link', { name })).toBeInTheDocument();
    }
    expect(await screen.findByText('Live')).toBeInTheDocument();
    expect(JSON.parse(FakeWebSocket.last!.sent[0])).toEqual({ type: 'auth', token: 'acc' });

    act(() => {
      FakeWebSocket.last!.onmessage?.({
        data: JSON.stringify({
          type: 'notification',
          notification: { id: 'n1', kind: 'test', title: 'Hello', body: null, data: null, readAt: null, createdAt: '2024-01-01T00:00:00Z' },
        }),
      } as MessageEvent);
    });
    expect(await screen.findByRole('link', { name: 'Notifications (1 unread)' })).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeInTheDocument();
    expect(localStorage.getItem(REFRESH_KEY)).toBeNull();
  });

  it('shows why the session ended on the page the user is on', async () => {
    localStorage.setItem(REFRESH_KEY, 'spent-refresh');
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        if (url === '/api/v1/auth/refresh') {
          return json(401, {
            success: false,
            error: { code: 'AUTHENTICATION_REQUIRED', message: 'this refresh token was already used; the session is revoked for safety', details: null },
          });
        }
        const signedIn = !!(init.headers as Record<string, string> | undefined)?.Authorization;
        if (url === '/api/v1/users/me' && !signedIn) {
          return json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'sign in', details: null } });
        }
        return json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } } });
      }),
    );
    renderApp('/');
    const banner = await screen.findByRole('alert');
    expect(banner).toHaveTextContent(MESSAGES.reuse);
    expect(screen.getByRole('heading', { name: 'Articles' })).toBeInTheDocument();
    expect(await screen.findByRole('link', { name: 'Sign in' })).toBeInTheDocument();
    expect(localStorage.getItem(REFRESH_KEY)).toBeNull();
    await userEvent.click(within(banner).getByRole('button', { name: 'Dismiss' }));
    expect(screen.queryByText(MESSAGES.reuse)).not.toBeInTheDocument();
  });

  it('keeps the session while the load balancer has no instance ready (502), and restores it after', async () => {
    localStorage.setItem(REFRESH_KEY, 'stored-refresh');
    vi.stubGlobal('WebSocket', FakeWebSocket);
    let ready = false;
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        if (url === '/api/v1/auth/refresh') {
          if (!ready) return json(502, { success: false, error: { code: 'SERVICE_UNAVAILABLE', message: 'No backend is available', details: null } });
          return json(200, { success: true, data: { accessToken: 'acc', refreshToken: 'r2', expiresIn: 900 } });
        }
        if (!(init.headers as Record<string, string> | undefined)?.Authorization) throw new Error(`unauthenticated call to ${url}`);
        if (url === '/api/v1/users/me') return json(200, { success: true, data: USER });
        return json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } } });
      }),
    );
    renderApp('/');
    await waitFor(() => expect(document.querySelector('.session-banner[role="alert"]')).not.toBeNull());
    expect(screen.queryByRole('link', { name: 'Sign in' })).not.toBeInTheDocument();
    expect(localStorage.getItem(REFRESH_KEY)).toBe('stored-refresh');
    ready = true;
    act(() => {
      window.dispatchEvent(new Event('online'));
    });
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    expect(localStorage.getItem(REFRESH_KEY)).toBe('r2');
  });

  it('keeps the session when restoring it cannot reach the server, and restores it once back online', async () => {
    localStorage.setItem(REFRESH_KEY, 'stored-refresh');
    vi.stubGlobal('WebSocket', FakeWebSocket);
    let online = false;
    const refreshes: string[] = [];
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string, init: RequestInit = {}) => {
        if (url === '/api/v1/auth/refresh') {
          refreshes.push(String(init.body));
          if (!online) throw new TypeError('Failed to fetch');
          return json(200, { success: true, data: { accessToken: 'acc', refreshToken: 'r2', expiresIn: 900 } });
        }
        if (!(init.headers as Record<string, string> | undefined)?.Authorization) throw new Error(`unauthenticated call to ${url}`);
        if (url === '/api/v1/users/me') return json(200, { success: true, data: USER });
        return json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } } });
      }),
    );
    renderApp('/');
    await waitFor(() => expect(document.querySelector('.session-banner[role="alert"]')).toHaveTextContent(MESSAGES.network));
    // Not shown as signed out, and the refresh token is kept.
    expect(screen.queryByRole('link', { name: 'Sign in' })).not.toBeInTheDocument();
    expect(localStorage.getItem(REFRESH_KEY)).toBe('stored-refresh');

    online = true;
    act(() => {
      window.dispatchEvent(new Event('online'));
    });
    expect(await screen.findByRole('button', { name: 'Sign out' })).toBeInTheDocument();
    expect(document.querySelector('.session-banner')).toBeNull();
    expect(new Set(refreshes)).toEqual(new Set([JSON.stringify({ refreshToken: 'stored-refresh' })]));
    expect(localStorage.getItem(REFRESH_KEY)).toBe('r2');
  });
});
