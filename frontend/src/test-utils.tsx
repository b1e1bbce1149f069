/** Helpers for the Vitest tests (not part of the app). */
import type { ReactNode } from 'react';
import { vi } from 'vitest';
import { render } from '@testing-library/react';
import { MemoryRouter } from 'react-router-dom';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { AuthProvider } from './auth/AuthContext';

/** An API answer as fetch returns it. */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function testQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false } } });
}

/** Render inside the app's providers (query client, router at `path`, auth), as main.tsx does. */
export function renderWithProviders(ui: ReactNode, { path = '/', client = testQueryClient() }: { path?: string; client?: QueryClient } = {}) {
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]} future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <AuthProvider>{ui}</AuthProvider>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

export const OAUTH_PROVIDERS_URL = '/api/v1/auth/oauth/providers';

/**
 * Stub fetch for pages that show the OAuth buttons: the provider list answers `providers` (none by
 * default) and every other call goes to `handler`, so a test's own mock sees only the calls it is about.
 */
export function stubFetch(handler: (url: string, init: RequestInit) => Promise<Response>, providers: string[] = []): void {
  vi.stubGlobal('fetch', async (url: string, init: RequestInit = {}) =>
    url === OAUTH_PROVIDERS_URL ? json(200, { success: true, data: { providers } }) : handler(url, init),
  );
}
