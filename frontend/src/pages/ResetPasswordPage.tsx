import { Link, useSearchParams } from 'react-router-dom';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth } from '../api/endpoints';
import { api } from '../api/client';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, PageTitle, Status } from '../components/ui';
import { NEW_PASSWORD_HINT, TextField, newPasswordRule, useSubmit } from '../components/forms';

const schema = z
  .object({ newPassword: newPasswordRule, confirm: z.string() })
  .refine((v) => v.newPassword === v.confirm, { path: ['confirm'], message: 'The two passwords differ.' });
type Values = z.infer<typeof schema>;

export default function ResetPasswordPage() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { forget } = useAuth();
  const form = useForm<Values>({ resolver: zodResolver(schema), defaultValues: { newPassword: '', confirm: '' } });
  const { onSubmit, error, message: done } = useSubmit(
    form,
    async (v) => {
      await auth.resetPassword(token, v.newPassword);
      // The server ended every session, this browser's too.
      if (api.hasSession()) forget('signedOut');
      return 'Your password has been changed, and every session was signed out. Sign in with your new password.';
    },
    { serverFields: ['newPassword'] },
  );

  if (!token) {
    return (
      <section className="narrow">
        <PageTitle title="Choose a new password">Choose a new password</PageTitle>
        <p role="alert">This link has no token. Open the link from the email again, or ask for a new one.</p>
        <p>
          <Link to="/forgot-password">Ask for a new link</Link>
        </p>
      </section>
    );
  }

  return (
    <section className="narrow">
      <PageTitle title="Choose a new password">Choose a new password</PageTitle>
      {done ? (
        <>
          <Status>{done}</Status>
          <p>
            <Link to="/login">Sign in</Link>
          </p>
        </>
      ) : (
        <form noValidate className="stack" onSubmit={onSubmit}>
          <TextField form={form} name="newPassword" label="New password" type="password" autoComplete="new-password" hint={NEW_PASSWORD_HINT} />
          <TextField form={form} name="confirm" label="Confirm new password" type="password" autoComplete="new-password" />
          <ErrorAlert error={error} />
          <button type="submit" disabled={form.formState.isSubmitting}>
            Set new password
          </button>
        </form>
      )}
    </section>
  );
}
