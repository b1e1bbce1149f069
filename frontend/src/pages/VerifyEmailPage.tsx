import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router-dom';
import { useQueryClient } from '@tanstack/react-query';
import { auth } from '../api/endpoints';
import type { User } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, Loading, PageTitle, Status } from '../components/ui';
import { ResendVerification } from './ResendVerification';

// A token is single-use: StrictMode (and a remount) must not send it twice.
const attempts = new Map<string, Promise<User>>();

export default function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { user, setUser } = useAuth();
  const queryClient = useQueryClient();
  const [state, setState] = useState<{ status: 'pending' | 'done' | 'failed'; error?: unknown }>({ status: token ? 'pending' : 'failed' });

  useEffect(() => {
    if (!token) return;
    let live = true;
    let attempt = attempts.get(token);
    if (!attempt) {
      attempt = auth.verifyEmail(token);
      attempts.set(token, attempt);
    }
    attempt.then(
      (verified) => {
        if (!live) return;
        setState({ status: 'done' });
        if (user && user.id === verified.id) setUser({ ...user, emailVerified: true });
        void queryClient.invalidateQueries({ queryKey: ['me'] });
      },
      (error: unknown) => live && setState({ status: 'failed', error }),
    );
    return () => {
      live = false;
    };
  }, [token]); // once per token; the user is read as it is when the answer comes

  return (
    <section className="narrow">
      <PageTitle title="Confirm your email">Confirm your email</PageTitle>
      {state.status === 'pending' ? <Loading label="Confirming your email…" /> : null}
      {state.status === 'done' ? (
        <>
          <Status>Your email is confirmed. Thank you!</Status>
          <p>{user ? <Link to="/">Go to the articles</Link> : <Link to="/login">Sign in</Link>}</p>
        </>
      ) : null}
      {state.status === 'failed' ? (
        <>
          {token ? <ErrorAlert error={state.error} /> : <p role="alert">This link has no token. Open the link from the email again.</p>}
          <h2>Need a new link?</h2>
          <ResendVerification />
        </>
      ) : null}
    </section>
  );
}
