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
import { TextField, emailRule, useSubmit } from '../components/forms';

const credentialsSchema = z.object({
  email: emailRule,
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
  const form = useForm<CodeValues>({ resolver: zodResolver(codeSchema), defaultValues: { code: '' } });
  const { onSubmit, error } = useSubmit(form, ({ code }) => submit(code.replace(/\s+/g, '')), { onError: () => form.resetField('code') });
  useEffect(() => form.setFocus('code'), [form]);
  return (
    <form noValidate className="stack" onSubmit={onSubmit}>
      <h2>Two-factor authentication</h2>
      <TextField
        form={form}
        name="code"
        label="Authentication code"
        inputMode="text"
        autoComplete="one-time-code"
        hint="The 6-digit code from your authenticator app, or one of your backup codes."
      />
      <ErrorAlert error={error} />
      <div className="actions">
        <button type="submit" disabled={form.formState.isSubmitting}>
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
  // The second step: password sign-in (credentials kept in memory) or an OAuth challenge token.
  const [pending, setPending] = useState<{ kind: 'password'; credentials: Credentials } | { kind: 'challenge'; challenge: string } | null>(() => {
    const challenge = params.get('challenge');
    return challenge ? { kind: 'challenge', challenge } : null;
  });
  const form = useForm<Credentials>({ resolver: zodResolver(credentialsSchema), defaultValues: { email: '', password: '' } });

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

  const { onSubmit, error } = useSubmit(form, async (values) => {
    try {
      finish(await auth.login(values));
    } catch (err) {
      if (!(err instanceof ApiError && err.twoFactorRequired)) throw err;
      clearNotice();
      setPending({ kind: 'password', credentials: values });
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
            <TextField form={form} name="email" label="Email" type="email" autoComplete="email" />
            <TextField form={form} name="password" label="Password" type="password" autoComplete="current-password" />
            <ErrorAlert error={error} />
            <button type="submit" disabled={form.formState.isSubmitting}>
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
