import { useId, useState, type InputHTMLAttributes, type ReactNode } from 'react';
import { useForm, type FieldValues, type Path, type UseFormReturn, type UseFormSetError } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { ApiError } from '../api/client';
import { z } from 'zod';
import { ErrorAlert, FieldError, Status } from './ui';

// ---- shared rules (mirroring the server's) ----------------------------------------------------------

export const emailRule = z.string().trim().min(1, 'Enter your email address.').email('Enter a valid email address.');

/** domain/users/names.py: 3-50 characters: letters, digits, '_' or '-', starting with a letter or digit. */
export const usernameRule = z
  .string()
  .trim()
  .min(3, 'Use at least 3 characters.')
  .max(50, 'Use at most 50 characters.')
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, "Use letters, digits, '_' or '-', starting with a letter or digit.");

/** domain/users/passwords.py: at least 10 characters, upper- and lower-case letters and a digit. */
export const newPasswordRule = z
  .string()
  .min(10, 'Use at least 10 characters.')
  .max(72, 'Use at most 72 characters.')
  .refine((p) => /[a-z]/.test(p) && /[A-Z]/.test(p), 'Mix upper- and lower-case letters.')
  .refine((p) => /\d/.test(p), 'Include a digit.');

/** newPasswordRule, said to the person choosing a password. */
export const NEW_PASSWORD_HINT = 'At least 10 characters, with upper- and lower-case letters and a digit.';

// ---- fields and forms -------------------------------------------------------------------------------

/**
 * A labelled input for one field of a react-hook-form form: registered by name, with its validation
 * message tied to it (aria-invalid + aria-describedby).
 */
export function TextField<T extends FieldValues>({
  form,
  name,
  label,
  hint,
  ...rest
}: {
  form: UseFormReturn<T>;
  name: Path<T>;
  label: ReactNode;
  hint?: ReactNode;
} & Omit<InputHTMLAttributes<HTMLInputElement>, 'name' | 'form'>) {
  const id = useId();
  const error = form.getFieldState(name, form.formState).error?.message;
  const described = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={described} {...rest} {...form.register(name)} />
      <FieldError id={`${id}-err`} message={error} />
    </div>
  );
}

/**
 * A form's submit handler and its outcome. Each submit clears the last error and message, then runs
 * `action` with the valid values; the message it returns (if any) is shown as the status. A failure
 * is kept as `error` (for an ErrorAlert), its field-level details go on the `serverFields` they name,
 * and `onError` runs after.
 */
export function useSubmit<T extends FieldValues>(
  form: UseFormReturn<T>,
  action: (values: T) => Promise<string | void>,
  options: { serverFields?: readonly Path<T>[]; onError?: (error: unknown) => void; initialMessage?: string } = {},
) {
  const { serverFields = [], onError, initialMessage = '' } = options;
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState(initialMessage);
  const onSubmit = form.handleSubmit(async (values) => {
    setError(null);
    setMessage('');
    try {
      const said = await action(values);
      if (said) setMessage(said);
    } catch (err) {
      setError(err);
      applyServerErrors(err, form.setError, serverFields);
      onError?.(err);
    }
  });
  return { onSubmit, error, message, setMessage };
}

const emailSchema = z.object({ email: emailRule });

/**
 * One email field that asks the server to mail a link (a new verification link, a password reset);
 * the server answers the same for every address, and that answer is shown.
 */
export function EmailLinkForm({ email = '', send, submitLabel }: { email?: string; send: (email: string) => Promise<{ message: string }>; submitLabel: string }) {
  const form = useForm<z.infer<typeof emailSchema>>({ resolver: zodResolver(emailSchema), defaultValues: { email } });
  const { onSubmit, error, message } = useSubmit(form, async (v) => (await send(v.email)).message);
  return (
    <form noValidate className="stack" onSubmit={onSubmit}>
      <TextField form={form} name="email" label="Email" type="email" autoComplete="email" />
      <ErrorAlert error={error} />
      {message ? <Status>{message}</Status> : null}
      <button type="submit" disabled={form.formState.isSubmitting}>
        {submitLabel}
      </button>
    </form>
  );
}

/** Put a validation error's field-level details on the form's fields (when the names match). */
export function applyServerErrors<T extends FieldValues>(error: unknown, setError: UseFormSetError<T>, fields: readonly string[]): void {
  if (!(error instanceof ApiError)) return;
  for (const problem of error.fieldProblems) {
    const name = problem.field.replace(/^body\./, '');
    if (fields.includes(name)) setError(name as Path<T>, { type: 'server', message: sentence(problem.message) });
  }
}

function sentence(text: string): string {
  const t = text.trim();
  return t ? t.charAt(0).toUpperCase() + t.slice(1) : t;
}
