import { useState } from 'react';
import { Link } from 'react-router-dom';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth } from '../api/endpoints';
import { ErrorAlert, PageTitle, Status } from '../components/ui';
import { TextField, emailRule } from '../components/forms';

const schema = z.object({ email: emailRule });

export default function ForgotPasswordPage() {
  const [error, setError] = useState<unknown>(null);
  const [answer, setAnswer] = useState('');
  const form = useForm<z.infer<typeof schema>>({ resolver: zodResolver(schema), defaultValues: { email: '' } });
  return (
    <section className="narrow">
      <PageTitle title="Reset your password">Reset your password</PageTitle>
      <p>Enter the email address of your account and we will send you a link to choose a new password.</p>
      <form
        noValidate
        className="stack"
        onSubmit={form.handleSubmit(async ({ email }) => {
          setError(null);
          setAnswer('');
          try {
            setAnswer((await auth.forgotPassword(email)).message);
          } catch (err) {
            setError(err);
          }
        })}
      >
        <TextField label="Email" type="email" autoComplete="email" error={form.formState.errors.email?.message} registration={form.register('email')} />
        <ErrorAlert error={error} />
        {answer ? <Status>{answer}</Status> : null}
        <button type="submit" disabled={form.formState.isSubmitting}>
          Send reset link
        </button>
      </form>
      <p>
        <Link to="/login">Back to sign in</Link>
      </p>
    </section>
  );
}
