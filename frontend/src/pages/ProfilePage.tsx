import { useId, useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useForm } from 'react-hook-form';
import { zodResolver } from '@hookform/resolvers/zod';
import { z } from 'zod';
import { auth, users } from '../api/endpoints';
import type { Session, TwoFactorSetup, User } from '../api/types';
import { useAuth } from '../auth/AuthContext';
import { ErrorAlert, FieldError, Loading, PageTitle, Status, formatDate } from '../components/ui';
import { TextField, useSubmit } from '../components/forms';
import { ResendVerification } from './ResendVerification';

const profileSchema = z.object({
  displayName: z.string().max(100, 'Use at most 100 characters.'),
  bio: z.string().max(2000, 'Use at most 2000 characters.'),
});
type ProfileValues = z.infer<typeof profileSchema>;

function ProfileForm({ user }: { user: User }) {
  const id = useId();
  const { setUser } = useAuth();
  const form = useForm<ProfileValues>({
    resolver: zodResolver(profileSchema),
    defaultValues: { displayName: user.displayName ?? '', bio: user.bio ?? '' },
  });
  const { errors, isSubmitting } = form.formState;
  const { onSubmit, error, message } = useSubmit(
    form,
    async (v) => {
      const updated = await users.updateMe({ displayName: v.displayName.trim() || null, bio: v.bio.trim() || null });
      setUser(updated);
      form.reset({ displayName: updated.displayName ?? '', bio: updated.bio ?? '' });
      return 'Your profile is saved.';
    },
    { serverFields: ['displayName', 'bio'] },
  );
  return (
    <form noValidate className="stack" onSubmit={onSubmit}>
      <TextField form={form} name="displayName" label="Display name" autoComplete="name" />
      <div className="field">
        <label htmlFor={`${id}-bio`}>Bio</label>
        <textarea
          id={`${id}-bio`}
          rows={4}
          aria-invalid={errors.bio ? true : undefined}
          aria-describedby={errors.bio ? `${id}-bio-err` : undefined}
          {...form.register('bio')}
        />
        <FieldError id={`${id}-bio-err`} message={errors.bio?.message} />
      </div>
      <ErrorAlert error={error} />
      {message ? <Status>{message}</Status> : null}
      <button type="submit" disabled={isSubmitting}>
        Save profile
      </button>
    </form>
  );
}

function describe(s: Session): string {
  return s.device || s.userAgent || 'Unknown device';
}

function Sessions() {
  const { signOutEverywhere } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const sessions = useQuery({ queryKey: ['sessions'], queryFn: users.sessions });
  const [message, setMessage] = useState('');
  const endOne = useMutation({
    mutationFn: users.endSession,
    onSuccess: (_r, id) => {
      queryClient.setQueryData<Session[]>(['sessions'], (old) => old?.filter((s) => s.id !== id));
      setMessage('That device is signed out.');
    },
  });
  const everywhere = useMutation({
    mutationFn: signOutEverywhere,
    onSuccess: () => navigate('/login', { replace: true }),
  });

  return (
    <section aria-labelledby="sessions-heading" className="panel">
      <h2 id="sessions-heading">Active sessions</h2>
      {sessions.isPending ? <Loading label="Loading sessions…" /> : null}
      <ErrorAlert error={sessions.error} />
      {sessions.data ? (
        <ul className="session-list">
          {sessions.data.map((s) => (
            <li key={s.id}>
              <div>
                <p>
                  <strong>{describe(s)}</strong> {s.current ? <span className="pill">This device</span> : null}
                </p>
                <p className="meta">
                  {s.ip ? <>IP {s.ip} · </> : null}
                  Signed in {formatDate(s.createdAt)} · Last active {formatDate(s.lastActiveAt)}
                </p>
              </div>
              {!s.current ? (
                <button
                  type="button"
                  className="button-secondary"
                  aria-label={`Sign out ${describe(s)}${s.ip ? ` (${s.ip})` : ''}`}
                  disabled={endOne.isPending}
                  onClick={() => endOne.mutate(s.id)}
                >
                  Sign out
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {message ? <Status>{message}</Status> : null}
      <ErrorAlert error={endOne.error ?? everywhere.error} />
      <button type="button" className="button-danger" onClick={() => everywhere.mutate()} disabled={everywhere.isPending}>
        Sign out everywhere
      </button>
    </section>
  );
}

function BackupCodes({ codes }: { codes: string[] }) {
  return (
    <ul className="backup-codes">
      {codes.map((c) => (
        <li key={c}>
          <code>{c}</code>
        </li>
      ))}
    </ul>
  );
}

const codeSchema = z.object({ code: z.string().trim().min(6, 'Enter the 6-digit code from your app.').max(20, 'That code is too long.') });

function TwoFactor({ user }: { user: User }) {
  const { setUser } = useAuth();
  const [setup, setSetup] = useState<TwoFactorSetup | null>(null);
  const form = useForm<z.infer<typeof codeSchema>>({ resolver: zodResolver(codeSchema), defaultValues: { code: '' } });
  const { isSubmitting } = form.formState;
  const { onSubmit: submitCode, error, message, setMessage } = useSubmit(form, async ({ code }) => {
    const clean = code.replace(/\s+/g, '');
    const enabled = !user.twoFactorEnabled;
    await (enabled ? auth.twoFactorVerify(clean) : auth.twoFactorDisable(clean));
    setUser({ ...user, twoFactorEnabled: enabled });
    form.reset({ code: '' });
    return enabled ? 'Two-factor authentication is on. Keep your backup codes somewhere safe.' : 'Two-factor authentication is off.';
  });

  const start = useMutation({
    mutationFn: auth.twoFactorSetup,
    onSuccess: (data) => {
      setSetup(data);
      setMessage('');
    },
  });

  return (
    <section aria-labelledby="twofactor-heading" className="panel">
      <h2 id="twofactor-heading">Two-factor authentication</h2>
      <p>
        Status: <strong>{user.twoFactorEnabled ? 'On' : 'Off'}</strong>
      </p>
      {message ? <Status>{message}</Status> : null}
      {!user.twoFactorEnabled && !setup ? (
        <>
          <p>Protect your account with a code from an authenticator app when you sign in.</p>
          <ErrorAlert error={start.error} />
          <button type="button" onClick={() => start.mutate()} disabled={start.isPending}>
            Set up two-factor authentication
          </button>
        </>
      ) : null}
      {setup && !user.twoFactorEnabled ? (
        <div className="stack">
          <p>
            Add this account to your authenticator app: open the link below on your phone, or enter the secret by hand.
          </p>
          <dl className="secret">
            <dt>Secret</dt>
            <dd>
              <code>{setup.secret}</code>
            </dd>
            <dt>Setup link (otpauth URI)</dt>
            <dd>
              <code className="break">{setup.otpauthUri}</code>
            </dd>
          </dl>
          <h3>Backup codes</h3>
          <p>Save these backup codes now; they will not be shown again. Each one signs you in once if you lose your phone.</p>
          <BackupCodes codes={setup.backupCodes} />
        </div>
      ) : null}
      {setup && user.twoFactorEnabled ? (
        <details>
          <summary>Backup codes (shown once)</summary>
          <BackupCodes codes={setup.backupCodes} />
        </details>
      ) : null}
      {setup || user.twoFactorEnabled ? (
        <form noValidate className="stack" onSubmit={submitCode}>
          <TextField
            form={form}
            name="code"
            label={user.twoFactorEnabled ? 'Authentication code or backup code' : 'Authentication code'}
            autoComplete="one-time-code"
          />
          <ErrorAlert error={error} />
          <button type="submit" className={user.twoFactorEnabled ? 'button-danger' : undefined} disabled={isSubmitting}>
            {user.twoFactorEnabled ? 'Turn off two-factor authentication' : 'Turn on two-factor authentication'}
          </button>
        </form>
      ) : null}
    </section>
  );
}

export default function ProfilePage() {
  const { user } = useAuth();
  if (!user) return null;
  return (
    <section>
      <PageTitle title="Profile">Profile</PageTitle>
      <p className="meta">
        Signed in as <strong>{user.username}</strong> ({user.email}) · role {user.role} · member since {formatDate(user.createdAt)}
      </p>
      {!user.emailVerified ? (
        <section aria-labelledby="verify-heading" className="panel">
          <h2 id="verify-heading">Confirm your email</h2>
          <p>Your email address is not confirmed yet. We can send the link again.</p>
          <ResendVerification email={user.email} />
        </section>
      ) : null}
      <section aria-labelledby="details-heading" className="panel">
        <h2 id="details-heading">Your details</h2>
        <ProfileForm user={user} />
      </section>
      <Sessions />
      <TwoFactor user={user} />
    </section>
  );
}
