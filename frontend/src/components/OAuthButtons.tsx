import { useQuery } from '@tanstack/react-query';
import { auth, oauthStartUrl } from '../api/endpoints';

const LABELS: Record<string, string> = { google: 'Google', linkedin: 'LinkedIn', github: 'GitHub' };

const label = (provider: string) => LABELS[provider] ?? provider.charAt(0).toUpperCase() + provider.slice(1);

/** The react-query key of the provider list. */
export const OAUTH_PROVIDERS_KEY = ['auth', 'oauth-providers'] as const;

/**
 * "Sign in with …" for each OAuth provider the server has configured (GET /auth/oauth/providers, asked
 * once a session: the list changes only with the server's configuration). While it loads, when there
 * are none, and when the request fails, nothing is shown: signing in with a password still works.
 */
export function OAuthButtons() {
  const { data: providers = [] } = useQuery({
    queryKey: OAUTH_PROVIDERS_KEY,
    queryFn: auth.oauthProviders,
    staleTime: Infinity,
    gcTime: Infinity,
  });
  if (providers.length === 0) return null;
  return (
    <div className="oauth" role="group" aria-label="Other ways to sign in">
      {providers.map((p) => (
        // A link, not a button: a full-page navigation (the API redirects to the provider and back).
        <a key={p} className="button button-secondary" href={oauthStartUrl(p)}>
          Sign in with {label(p)}
        </a>
      ))}
    </div>
  );
}
