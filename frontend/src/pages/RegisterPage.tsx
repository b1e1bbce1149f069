import { useId, useState } from 'react';
import { Link } from 'react-router-dom';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth } from '../api/endpoints';
import { ErrorAlert, PageTitle, Status } from '../components/ui';
import { TextField, applyServerErrors, emailRule, newPasswordRule, usernameRule } from '../components/forms';
import { OAuthButtons } from '../components/OAuthButtons';

const schema = z.object({
  username: usernameRule,
  email: emailRule,
  password: newPasswordRule,
  termsAccepted: z.boolean().refine((v) => v, 'You must accept the terms of service.'),
});
type Values = z.infer<typeof schema>;

export default function RegisterPage() {
  const id = useId();
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const form = useForm<Values>({
    resolver: zodResolver(schema),
    defaultValues: { username: '', email: '', password: '', termsAccepted: false },
  });
  const { errors, isSubmitting } = form.formState;

  const onSubmit = form.handleSubmit(async (values) => {
    setError(null);
    try {
      const user = await auth.register(values);
      setDone(user.email);
    } catch (err) {
      setError(err);
      applyServerErrors(err, form.setError, ['username', 'email', 'password', 'termsAccepted']);
    }
  });

  if (done) {
    return (
      <section className="narrow">
        <PageTitle title="Check your email">Create your account</PageTitle>
        <Status>
          Check your email: we sent a confirmation link to {done}. Open it to confirm your address, then sign in.
        </Status>
        <p>
          <Link to="/login">Go to sign in</Link>
        </p>
      </section>
    );
  }

  return (
    <section className="narrow">
      <PageTitle title="Create your account">Create your account</PageTitle>
      <form onSubmit={onSubmit} noValidate className="stack">
        <TextField label="Username" autoComplete="username" error={errors.username?.message} hint="3–50 letters, digits, _ or -." registration={form.register('username')} />
        <TextField label="Email" type="email" autoComplete="email" error={errors.email?.message} registration={form.register('email')} />
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          error={errors.password?.message}
          hint="At least 10 characters, with upper- and lower-case letters and a digit."
          registration={form.register('password')}
        />
        <div className="field field-check">
          <input
            id={`${id}-terms`}
            type="checkbox"
            aria-invalid={errors.termsAccepted ? true : undefined}
            aria-describedby={errors.termsAccepted ? `${id}-terms-err` : undefined}
            {...form.register('termsAccepted')}
          />
          <label htmlFor={`${id}-terms`}>I accept the terms of service</label>
          {errors.termsAccepted ? (
            <p id={`${id}-terms-err`} className="field-error">
              {errors.termsAccepted.message}
            </p>
          ) : null}
        </div>
        <ErrorAlert error={error} />
        <button type="submit" disabled={isSubmitting}>
          {isSubmitting ? 'Creating account…' : 'Create account'}
        </button>
      </form>
      <OAuthButtons />
      <p>
        Already have an account? <Link to="/login">Sign in</Link>
      </p>
    </section>
  );
}
