import { useState } from 'react';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth } from '../api/endpoints';
import { ErrorAlert, Status } from '../components/ui';
import { TextField, emailRule } from '../components/forms';

const schema = z.object({ email: emailRule });

/** Ask for a new verification link (the server answers the same for every address). */
export function ResendVerification({ email = '' }: { email?: string }) {
  const [error, setError] = useState<unknown>(null);
  const [answer, setAnswer] = useState('');
  const form = useForm<z.infer<typeof schema>>({ resolver: zodResolver(schema), defaultValues: { email } });
  return (
    <form
      noValidate
      className="stack"
      onSubmit={form.handleSubmit(async (v) => {
        setError(null);
        setAnswer('');
        try {
          setAnswer((await auth.resendVerification(v.email)).message);
        } catch (err) {
          setError(err);
        }
      })}
    >
      <TextField label="Email" type="email" autoComplete="email" error={form.formState.errors.email?.message} registration={form.register('email')} />
      <ErrorAlert error={error} />
      {answer ? <Status>{answer}</Status> : null}
      <button type="submit" disabled={form.formState.isSubmitting}>
        Send a new link
      </button>
    </form>
  );
}
