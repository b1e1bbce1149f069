import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup, screen, waitFor } from '@testing-library/react';
import { providerNames } from '../api/endpoints';
import LoginPage from '../pages/LoginPage';
import { json, OAUTH_PROVIDERS_URL, renderWithProviders, testQueryClient } from '../test-utils';
import type { QueryClient } from '@tanstack/react-query';
import { OAUTH_PROVIDERS_KEY, OAuthButtons } from './OAuthButtons';

/** Wait until the provider list has its answer (or its failure) and the page has rendered it. */
const settled = (client: QueryClient, status: 'success' | 'error') =>
  waitFor(() => expect(client.getQueryState(OAUTH_PROVIDERS_KEY)?.status).toBe(status));

function stubProviders(answer: () => Promise<Response>) {
  const fetch = vi.fn(async (url: string) => (url === OAUTH_PROVIDERS_URL ? answer() : json(404, { success: false })));
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

const listing = (providers: unknown) => async () => json(200, { success: true, data: { providers } });

afterEach(() => {
  vi.unstubAllGlobals();
  cleanup();
});

describe('OAuthButtons', () => {
  it('shows a sign-in link for each provider the server lists, in its order', async () => {
    const fetch = stubProviders(listing(['github', 'google', 'linkedin']));
    renderWithProviders(<OAuthButtons />);
    const group = await screen.findByRole('group', { name: 'Other ways to sign in' });
    const links = screen.getAllByRole('link');
    expect(links.map((a) => a.textContent)).toEqual(['Sign in with GitHub', 'Sign in with Google', 'Sign in with LinkedIn']);
    expect(screen.getByRole('link', { name: 'Sign in with Google' })).toHaveAttribute('href', '/api/v1/auth/oauth/google');
    expect(group).toContainElement(links[0]);
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch.mock.calls[0][0]).toBe(OAUTH_PROVIDERS_URL);
  });

  it('asks once a session: a second sign-in form uses the cached list', async () => {
    const fetch = stubProviders(listing(['google']));
    const client = testQueryClient();
    const first = renderWithProviders(<OAuthButtons />, { client });
    await screen.findByRole('link', { name: 'Sign in with Google' });
    first.unmount();
    renderWithProviders(<OAuthButtons />, { client });
    expect(screen.getByRole('link', { name: 'Sign in with Google' })).toBeInTheDocument();
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  it('shows nothing when no provider is configured', async () => {
    const fetch = stubProviders(listing([]));
    const client = testQueryClient();
    const { container } = renderWithProviders(<OAuthButtons />, { client });
    await settled(client, 'success');
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(container).toBeEmptyDOMElement();
  });

  it.each([
    ['the server fails', async () => json(500, { success: false, error: { code: 'INTERNAL_ERROR', message: 'boom', details: null } })],
    ['the endpoint is missing', async () => json(404, { success: false, error: { code: 'NOT_FOUND', message: 'not found', details: null } })],
    ['the network is down', async () => Promise.reject(new TypeError('Failed to fetch'))],
  ])('shows no buttons and no error on the sign-in page when %s', async (_case, answer) => {
    const fetch = stubProviders(answer);
    const client = testQueryClient();
    renderWithProviders(<LoginPage />, { path: '/login', client });
    expect(screen.getByRole('heading', { level: 1, name: 'Sign in' })).toBeInTheDocument();
    await settled(client, 'error');
    expect(fetch).toHaveBeenCalledWith(OAUTH_PROVIDERS_URL, expect.anything());
    expect(screen.queryByRole('group', { name: 'Other ways to sign in' })).toBeNull();
    expect(screen.queryByRole('alert')).toBeNull();
    expect(screen.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  });
});

describe('providerNames', () => {
  it('keeps plain names, lower-case and each once', () => {
    expect(providerNames(['Google', 'github', 'google', ' linkedin ', '', 'a/b', 3, null])).toEqual(['google', 'github', 'linkedin']);
  });

  it('reads anything but a list as none', () => {
    expect(providerNames(undefined)).toEqual([]);
    expect(providerNames('google')).toEqual([]);
    expect(providerNames({ google: true })).toEqual([]);
  });
});
