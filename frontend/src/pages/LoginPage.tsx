import { useEffect, useRef, useState } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router-dom';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { ApiError } from '../api/client';
import { auth } from '../api/endpoints';
import type { LoginResponse } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { OAuthButtons } from '../components/OAuthButtons';
import { ErrorAlert, PageTitle, Status } from '../components/ui';
import { TextField } from '../components/forms';

const credentialsSchema = z.object({
  email: z.string().trim().min(1, 'Enter your email address.').email('Enter a valid email address.'),
  password: z.string().min(1, 'Enter your password.'),
});
type Credentials = z.infer<typeof credentialsSchema>;

const codeSchema = z.object({
  code: z
    .string()
    .trim()
    .min(6, 'Enter the 6-digit code from your app, or a backup code.')
    .max(20, 'That code is too long.'),
});
type CodeValues = z.infer<typeof codeSchema>;

/** The second step: a TOTP code or a backup code. */
function CodeStep({ submit, onCancel }: { submit: (code: string) => Promise<void>; onCancel: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const form = useForm<CodeValues>({ resolver: zodResolver(codeSchema), defaultValues: { code: '' } });
  const { errors, isSubmitting } = form.formState;
  useEffect(() => form.setFocus('code'), [form]);
  return (
    <form
      noValidate
      className="stack"
      onSubmit={form.handleSubmit(async ({ code }) => {
        setError(null);
        try {
          await submit(code.replace(/\s+/g, ''));
        } catch (err) {
          setError(err);
          form.resetField('code');
        }
      })}
    >
      <h2>Two-factor authentication</h2>
      <TextField
        label="Authentication code"
        inputMode="text"
        autoComplete="one-time-code"
        hint="The 6-digit code from your authenticator app, or one of your backup codes."
        error={errors.code?.message}
        registration={form.register('code')}
      />
      <ErrorAlert error={error} />
      <div className="actions">
        <button type="submit" disabled={isSubmitting}>
          Verify
        </button>
        <button type="button" className="button-secondary" onClick={onCancel}>
          Start over
        </button>
      </div>
    </form>
  );
}

export default function LoginPage() {
  const { user, signedIn, notice, clearNotice } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const [params] = useSearchParams();
  const from = (location.state as { from?: string } | null)?.from ?? '/';
  const [error, setError] = useState<unknown>(null);
  // The second step: password sign-in (credentials kept in memory) or an OAuth challenge token.
  const [pending, setPending] = useState<{ kind: 'password'; credentials: Credentials } | { kind: 'challenge'; challenge: string } | null>(() => {
    const challenge = params.get('challenge');
    return challenge ? { kind: 'challenge', challenge } : null;
  });
  const form = useForm<Credentials>({ resolver: zodResolver(credentialsSchema), defaultValues: { email: '', password: '' } });
  const { errors, isSubmitting } = form.formState;

  const justSignedIn = useRef(false);
  const finish = (response: LoginResponse) => {
    justSignedIn.current = true;
    signedIn(response);
    navigate(from.startsWith('/') && !from.startsWith('//') ? from : '/', { replace: true });
  };

  useEffect(() => {
    // Already signed in (e.g. opened /login in a second tab): nothing to do here.
    if (user && !pending && !justSignedIn.current) navigate('/', { replace: true });
  }, [user, pending, navigate]);

  const onSubmit = form.handleSubmit(async (values) => {
    setError(null);
    try {
      finish(await auth.login(values));
    } catch (err) {
      if (err instanceof ApiError && err.twoFactorRequired) {
        clearNotice();
        setPending({ kind: 'password', credentials: values });
      } else {
        setError(err);
      }
    }
  });

  const submitCode = async (code: string) => {
    if (!pending) return;
    const response =
      pending.kind === 'password'
        ? await auth.login({ ...pending.credentials, totp: code })
        : await auth.challenge({ challenge: pending.challenge, code });
    finish(response);
  };

  return (
    <section className="narrow">
      <PageTitle title="Sign in">Sign in</PageTitle>
      {notice ? <Status className="notice">{notice}</Status> : null}
      {pending ? (
        <CodeStep
          submit={submitCode}
          onCancel={() => {
            setPending(null);
            form.resetField('password');
          }}
        />
      ) : (
        <>
          <form onSubmit={onSubmit} noValidate className="stack">
            <TextField label="Email" type="email" autoComplete="email" error={errors.email?.message} registration={form.register('email')} />
            <TextField
              label="Password"
              type="password"
              autoComplete="current-password"
              error={errors.password?.message}
              registration={form.register('password')}
            />
            <ErrorAlert error={error} />
            <button type="submit" disabled={isSubmitting}>
              Sign in
            </button>
          </form>
          <p>
            <Link to="/forgot-password">Forgot your password?</Link>
          </p>
          <OAuthButtons />
          <p>
            New here? <Link to="/register">Create an account</Link>
          </p>
        </>
      )}
    </section>
  );
}
