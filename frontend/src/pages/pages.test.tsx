import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactNode } from 'react';
import { Route, Routes } from 'react-router-dom';
import { api } from '../api/client';
import { json, renderWithProviders, stubFetch } from '../test-utils';
import LoginPage from './LoginPage';
import ArticleListPage from './ArticleListPage';
import RegisterPage from './RegisterPage';
import AdminUsersPage from './AdminUsersPage';

function wrap(ui: ReactNode, path = '/') {
  return renderWithProviders(
    <Routes>
      <Route path="*" element={ui} />
    </Routes>,
    { path },
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
  cleanup();
  api.clearSession('signedOut'); // the app's client is a module singleton
});

describe('LoginPage', () => {
  it('shows validation messages without calling the API', async () => {
    const fetch = vi.fn();
    stubFetch(fetch);
    wrap(<LoginPage />, '/login');
    expect(screen.getByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Enter your email address.')).toBeInTheDocument();
    expect(screen.getByText('Enter your password.')).toBeInTheDocument();
    expect(screen.getByLabelText('Email')).toHaveAttribute('aria-invalid', 'true');
    await userEvent.type(screen.getByLabelText('Email'), 'not-an-email');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Enter a valid email address.')).toBeInTheDocument();
    expect(fetch).not.toHaveBeenCalled();
  });

  it('shows the server message in an alert', async () => {
    stubFetch(
      vi.fn(async () => json(401, { success: false, error: { code: 'AUTHENTICATION_REQUIRED', message: 'wrong email or password', details: null } })),
    );
    wrap(<LoginPage />, '/login');
    await userEvent.type(screen.getByLabelText('Email'), 'ada@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'Secret-password-1');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Wrong email or password.');
  });

  it('asks for the authentication code when 2FA is on, then signs in with it', async () => {
    const bodies: unknown[] = [];
    stubFetch(
      vi.fn(async (_url: string, init: RequestInit) => {
        const body = JSON.parse(String(init.body));
        bodies.push(body);
        if (!body.totp) {
          return json(401, {
            success: false,
            error: { code: 'AUTHENTICATION_REQUIRED', message: 'enter the code from your authenticator app', details: { twoFactorRequired: true } },
          });
        }
        return json(200, {
          success: true,
          data: {
            user: { id: 'u1', email: 'ada@example.com', username: 'ada', displayName: null, bio: null, role: 'user', status: 'active', emailVerified: true, twoFactorEnabled: true, createdAt: '2024-01-01T00:00:00Z' },
            accessToken: 'a',
            refreshToken: 'r',
            expiresIn: 900,
            tokenType: 'Bearer',
          },
        });
      }),
    );
    wrap(<LoginPage />, '/login');
    await userEvent.type(screen.getByLabelText('Email'), 'ada@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'Secret-password-1');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    const code = await screen.findByLabelText('Authentication code');
    await userEvent.click(screen.getByRole('button', { name: 'Verify' }));
    expect(await screen.findByText('Enter the 6-digit code from your app, or a backup code.')).toBeInTheDocument();
    await userEvent.type(code, '123 456');
    await userEvent.click(screen.getByRole('button', { name: 'Verify' }));
    await vi.waitFor(() => expect(bodies).toHaveLength(2));
    expect(bodies[1]).toEqual({ email: 'ada@example.com', password: 'Secret-password-1', totp: '123456' });
    await vi.waitFor(() => expect(localStorage.getItem('neurmatic.refreshToken')).toBe('r'));
  });
});

describe('RegisterPage', () => {
  it('validates, then says to check the email', async () => {
    const fetch = vi.fn(async (_url: string, init: RequestInit) =>
      json(201, { success: true, data: { ...JSON.parse(String(init.body)), id: 'u1', role: 'user', status: 'active', emailVerified: false, twoFactorEnabled: false, createdAt: '' } }),
    );
    stubFetch(fetch);
    wrap(<RegisterPage />, '/register');
    expect(screen.getByRole('heading', { name: 'Create your account' })).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('Username'), 'ada');
    await userEvent.type(screen.getByLabelText('Email'), 'ada@example.com');
    await userEvent.type(screen.getByLabelText('Password'), 'short');
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByText('Use at least 10 characters.')).toBeInTheDocument();
    expect(screen.getByText('You must accept the terms of service.')).toBeInTheDocument();
    expect(fetch).not.toHaveBeenCalled();
    await userEvent.clear(screen.getByLabelText('Password'));
    await userEvent.type(screen.getByLabelText('Password'), 'Lovelace-1815');
    await userEvent.click(screen.getByLabelText('I accept the terms of service'));
    await userEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('status')).toHaveTextContent('Check your email');
    expect(JSON.parse(String(fetch.mock.calls[0][1].body))).toEqual({
      username: 'ada',
      email: 'ada@example.com',
      password: 'Lovelace-1815',
      termsAccepted: true,
    });
  });
});

describe('ArticleListPage', () => {
  it('shows the empty state', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async (url: string) =>
        url.startsWith('/api/v1/categories')
          ? json(200, { success: true, data: [{ slug: 'ai', name: 'AI' }] })
          : json(200, { success: true, data: [], meta: { pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } } }),
      ),
    );
    wrap(<ArticleListPage />);
    expect(screen.getByRole('heading', { level: 1, name: 'Articles' })).toBeInTheDocument();
    expect(screen.getByLabelText('Search')).toBeInTheDocument();
    expect(await screen.findByText('No articles yet.')).toBeInTheDocument();
    expect(screen.queryAllByRole('article')).toHaveLength(0);
  });

  it('lists articles, each an <article> with a link to it', async () => {
    const summary = (n: number) => ({
      id: `id-${n}`,
      slug: `post-${n}`,
      title: `Post ${n}`,
      summary: null,
      status: 'published',
      author: { id: 'u', username: 'ada' },
      category: null,
      tags: ['ml'],
      views: n,
      scheduledAt: null,
      publishedAt: '2024-01-01T00:00:00Z',
      createdAt: '2024-01-01T00:00:00Z',
      updatedAt: '2024-01-01T00:00:00Z',
    });
    const fetch = vi.fn(async (url: string) =>
      url.startsWith('/api/v1/categories')
        ? json(200, { success: true, data: [] })
        : json(200, { success: true, data: [summary(1), summary(2)], meta: { pagination: { page: 1, limit: 20, total: 2, totalPages: 1 } } }),
    );
    vi.stubGlobal('fetch', fetch);
    wrap(<ArticleListPage />, '/?q=neural&sort=-views');
    const items = await screen.findAllByRole('article');
    expect(items).toHaveLength(2);
    expect(within(items[0]).getByRole('link', { name: 'Post 1' })).toHaveAttribute('href', '/articles/post-1');
    const listCall = fetch.mock.calls.map((c) => String(c[0])).find((u) => u.startsWith('/api/v1/articles'))!;
    expect(listCall).toContain('q=neural');
    expect(listCall).toContain('sort=-views');
  });
});

describe('AdminUsersPage', () => {
  it('changes a role, and leaves the status as it was when the confirm is declined', async () => {
    const grace = { id: 'u2', email: 'grace@example.com', username: 'grace', displayName: null, bio: null, role: 'user', status: 'active', emailVerified: true, twoFactorEnabled: false, createdAt: '2024-01-01T00:00:00Z' };
    const fetch = vi.fn(async (_url: string, init: RequestInit) =>
      init.method === 'PATCH'
        ? json(200, { success: true, data: { ...grace, ...JSON.parse(String(init.body)) } })
        : json(200, { success: true, data: [grace], meta: { pagination: { page: 1, limit: 25, total: 1, totalPages: 1 } } }),
    );
    vi.stubGlobal('fetch', fetch);
    const confirm = vi.fn(() => false);
    vi.stubGlobal('confirm', confirm);
    wrap(<AdminUsersPage />, '/people');
    const status = await screen.findByLabelText('Status of grace');
    await userEvent.selectOptions(status, 'banned');
    expect(confirm).toHaveBeenCalledWith('Set grace to banned? This signs them out everywhere.');
    expect(status).toHaveValue('active');
    await userEvent.selectOptions(screen.getByLabelText('Role of grace'), 'moderator');
    expect(await screen.findByRole('status')).toHaveTextContent('grace: role moderator, status active.');
    expect(screen.getByLabelText('Role of grace')).toHaveValue('moderator');
    const patches = fetch.mock.calls.filter(([, init]) => init.method === 'PATCH');
    expect(patches.map(([url, init]) => [url, JSON.parse(String(init.body))])).toEqual([['/api/v1/admin/users/u2', { role: 'moderator' }]]);
  });
});
