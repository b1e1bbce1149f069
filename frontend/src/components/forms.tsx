import { useId, type InputHTMLAttributes, type ReactNode } from 'react';
import type { FieldValues, Path, UseFormSetError } from 'react-hook-form';
import { ApiError } from '../api/client';
import { z } from 'zod';

/** A labelled input with its error message (aria-invalid + aria-describedby). */
export function TextField({
  label,
  error,
  hint,
  registration,
  ...rest
}: {
  label: ReactNode;
  error?: string;
  hint?: ReactNode;
  registration: object;
} & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const described = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
      <input id={id} aria-invalid={error ? true : undefined} aria-describedby={described} {...rest} {...registration} />
      {error ? (
        <p id={`${id}-err`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
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
