import { oauthStartUrl } from '../api/endpoints';

const LABELS: Record<string, string> = { google: 'Google', linkedin: 'LinkedIn', github: 'GitHub' };

/**
 * The server has no endpoint listing its configured OAuth providers (an unconfigured one answers 404 at
 * its start URL), and probing the start URL would open a sign-in state and count against the OAuth rate
 * limit. So the build says which to show: VITE_OAUTH_PROVIDERS=google,github (none by default).
 */
export function configuredProviders(raw: string | undefined = import.meta.env.VITE_OAUTH_PROVIDERS): string[] {
  return (raw ?? '')
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter((p, i, all) => p in LABELS && all.indexOf(p) === i);
}

export function OAuthButtons() {
  const providers = configuredProviders();
  if (providers.length === 0) return null;
  return (
    <div className="oauth" role="group" aria-label="Other ways to sign in">
      {providers.map((p) => (
        // A full-page navigation: the API redirects to the provider and back.
        <a key={p} className="button button-secondary" href={oauthStartUrl(p)}>
          Sign in with {LABELS[p]}
        </a>
      ))}
    </div>
  );
}
