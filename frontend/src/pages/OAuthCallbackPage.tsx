import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { users } from '../api/endpoints';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, Loading, PageTitle } from '../components/ui';

/**
 * Where OAUTH_SUCCESS_REDIRECT can point (e.g. https://example.com/oauth/callback): the API puts the
 * token pair in the URL fragment (#accessToken=…&refreshToken=…&expiresIn=…), which never reaches a server.
 */
export default function OAuthCallbackPage() {
  const { signedIn } = useAuth();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const ran = useRef(false);

  useEffect(() => {
    if (ran.current) return;
    ran.current = true;
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    // Drop the tokens from the address bar and history at once.
    window.history.replaceState(null, '', window.location.pathname);
    const accessToken = fragment.get('accessToken');
    const refreshToken = fragment.get('refreshToken');
    const expiresIn = Number(fragment.get('expiresIn') ?? '0');
    if (!accessToken || !refreshToken) {
      setError(new Error('The sign-in did not complete. Please try again.'));
      return;
    }
    api.setTokens({ accessToken, refreshToken, expiresIn: expiresIn || 60 });
    users
      .me()
      .then((user) => {
        signedIn({ user, accessToken, refreshToken, expiresIn: expiresIn || 60, tokenType: 'Bearer' });
        navigate('/', { replace: true });
      })
      .catch(setError);
  }, [navigate, signedIn]);

  return (
    <section className="narrow">
      <PageTitle title="Signing in">Signing in</PageTitle>
      {error ? (
        <>
          <ErrorAlert error={error} />
          <p>
            <Link to="/login">Back to sign in</Link>
          </p>
        </>
      ) : (
        <Loading label="Finishing the sign-in…" />
      )}
    </section>
  );
}
