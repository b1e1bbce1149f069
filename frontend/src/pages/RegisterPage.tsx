import { useId } from 'react';
import { Link } from 'react-router-dom';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth } from '../api/endpoints';
import { ErrorAlert, FieldError, PageTitle, Status } from '../components/ui';
import { NEW_PASSWORD_HINT, TextField, emailRule, newPasswordRule, usernameRule, useSubmit } from '../components/forms';
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
  const form = useForm<Values>({
    resolver: zodResolver(schema),
    defaultValues: { username: '', email: '', password: '', termsAccepted: false },
  });
  const { errors, isSubmitting } = form.formState;

  const { onSubmit, error, message: done } = useSubmit(
    form,
    async (values) => {
      const user = await auth.register(values);
      return `Check your email: we sent a confirmation link to ${user.email}. Open it to confirm your address, then sign in.`;
    },
    { serverFields: ['username', 'email', 'password', 'termsAccepted'] },
  );

  if (done) {
    return (
      <section className="narrow">
        <PageTitle title="Check your email">Create your account</PageTitle>
        <Status>{done}</Status>
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
        <TextField form={form} name="username" label="Username" autoComplete="username" hint="3–50 letters, digits, _ or -." />
        <TextField form={form} name="email" label="Email" type="email" autoComplete="email" />
        <TextField form={form} name="password" label="Password" type="password" autoComplete="new-password" hint={NEW_PASSWORD_HINT} />
        <div className="field field-check">
          <input
            id={`${id}-terms`}
            type="checkbox"
            aria-invalid={errors.termsAccepted ? true : undefined}
            aria-describedby={errors.termsAccepted ? `${id}-terms-err` : undefined}
            {...form.register('termsAccepted')}
          />
          <label htmlFor={`${id}-terms`}>I accept the terms of service</label>
          <FieldError id={`${id}-terms-err`} message={errors.termsAccepted?.message} />
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
