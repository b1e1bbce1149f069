import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError, MESSAGES, type SignOutReason } from '../api/client';
import { auth as authApi, users } from '../api/endpoints';
import type { LoginResponse, User } from '../api/types';

export interface AuthState {
  /** Undefined while the stored session is being restored. */
  user: User | null | undefined;
  /** A message for the sign-in page (why the user was signed out). */
  notice: string | null;
  clearNotice: () => void;
  signedIn: (response: LoginResponse) => void;
  setUser: (user: User) => void;
  signOut: () => Promise<void>;
  signOutEverywhere: () => Promise<void>;
  /** Forget the session locally (e.g. after a password reset ended every session). */
  forget: (reason: SignOutReason, message?: string) => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [user, setUserState] = useState<User | null | undefined>(() => (api.hasSession() ? undefined : null));
  const [notice, setNotice] = useState<string | null>(null);
  const restoring = useRef(false);

  // Restore a stored session on load: refresh the pair, then ask who we are.
  useEffect(() => {
    if (restoring.current || !api.hasSession()) return;
    restoring.current = true;
    users
      .me()
      .then((me) => setUserState(me))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) {
          api.clearSession('expired');
          setUserState(null);
        } else {
          // Offline or server trouble: stay "signed out" in the UI but keep the refresh token.
          setUserState(null);
        }
      });
  }, []);

  // The client clears the session when a refresh is refused (or another tab signed out).
  useEffect(
    () =>
      api.onSignedOut((reason, message) => {
        setUserState(null);
        queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'articles' && q.queryKey[0] !== 'categories' });
        if (reason !== 'signedOut') setNotice(message);
      }),
    [queryClient],
  );

  // Refresh the access token shortly before it expires, so live features keep working while idle.
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const schedule = () => {
      clearTimeout(timer);
      const due = api.msUntilRefreshDue();
      if (due === null) return;
      timer = setTimeout(() => {
        api.refresh().catch(() => {
          timer = setTimeout(schedule, 15_000); // network trouble: try again soon
        });
      }, Math.max(due, 1000));
    };
    schedule();
    const off = api.onTokenChange(schedule);
    return () => {
      off();
      clearTimeout(timer);
    };
  }, []);

  const signedIn = useCallback(
    (response: LoginResponse) => {
      api.setTokens(response);
      setNotice(null);
      queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'categories' });
      setUserState(response.user);
    },
    [queryClient],
  );

  const forget = useCallback(
    (reason: SignOutReason, message?: string) => {
      api.clearSession(reason, message);
      setUserState(null);
      setNotice(message ?? (reason === 'signedOut' ? null : MESSAGES[reason]));
    },
    [],
  );

  const signOut = useCallback(async () => {
    try {
      if (api.hasSession()) await authApi.logout();
    } catch {
      /* the session may be gone already; sign out locally either way */
    }
    forget('signedOut', MESSAGES.signedOut);
  }, [forget]);

  const signOutEverywhere = useCallback(async () => {
    await authApi.logoutAll(); // errors surface to the caller; the session stays if it failed
    forget('everywhere');
  }, [forget]);

  const value = useMemo<AuthState>(
    () => ({
      user,
      notice,
      clearNotice: () => setNotice(null),
      signedIn,
      setUser: (u: User) => setUserState(u),
      signOut,
      signOutEverywhere,
      forget,
    }),
    [user, notice, signedIn, signOut, signOutEverywhere, forget],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}
