import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api, ApiError, MESSAGES, NETWORK_ERROR, type SignOutReason } from '../api/client';
import { auth as authApi, users } from '../api/endpoints';
import type { LoginResponse, User } from '../api/types';

export interface AuthState {
  /** Undefined while the stored session is being restored. */
  user: User | null | undefined;
  /** Why the user was signed out: the sign-in page shows it, and the session banner on every other page. */
  notice: string | null;
  /** Restoring the stored session could not reach the server (it is tried again; the session is kept). */
  problem: string | null;
  clearNotice: () => void;
  signedIn: (response: LoginResponse) => void;
  setUser: (user: User) => void;
  signOut: () => Promise<void>;
  signOutEverywhere: () => Promise<void>;
  /** Forget the session locally (e.g. after a password reset ended every session). */
  forget: (reason: SignOutReason, message?: string) => void;
}

const AuthContext = createContext<AuthState | null>(null);

/** First wait before restoring the session again after a network failure; doubles up to the maximum. */
const RESTORE_RETRY_MS = 5_000;
const RESTORE_RETRY_MAX_MS = 60_000;

/** Statuses that say "not now" rather than "no": the load balancer with no instance ready (a restart, a
 * deploy) or the API with a dependency briefly down. Restoring tries again; the session is kept. */
const TRANSIENT_STATUSES = new Set([502, 503, 504]);

function isNetworkFailure(err: unknown): boolean {
  return (
    (err instanceof ApiError && (err.code === NETWORK_ERROR || TRANSIENT_STATUSES.has(err.status))) ||
    err instanceof TypeError
  );
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [user, setUserState] = useState<User | null | undefined>(() => (api.hasSession() ? undefined : null));
  const [notice, setNotice] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const restoring = useRef(false);
  const mounted = useRef(true);
  const retry = useRef<{ timer: ReturnType<typeof setTimeout>; delay: number } | null>(null);

  // Restore a stored session on load: refresh the pair, then ask who we are. When the server cannot be
  // reached the session is kept ("restoring") and restored again later, or as soon as the browser is
  // back online: a lost answer must not look like being signed out.
  const restore = useRef((delay = RESTORE_RETRY_MS) => {
    users
      .me()
      .then((me) => {
        if (!mounted.current) return;
        setProblem(null);
        setUserState(me);
      })
      .catch((err: unknown) => {
        if (!mounted.current) return;
        if (err instanceof ApiError && err.status === 401) {
          api.clearSession('expired');
          setProblem(null);
          setUserState(null);
        } else if (isNetworkFailure(err) && api.hasSession()) {
          setProblem(MESSAGES.network);
          retry.current = {
            timer: setTimeout(() => {
              retry.current = null;
              if (mounted.current) restore.current(Math.min(delay * 2, RESTORE_RETRY_MAX_MS));
            }, delay),
            delay,
          };
        } else {
          // Server trouble (or the refresh was refused): "signed out" in the UI; a refused refresh has
          // already cleared the session and told why, otherwise the refresh token is kept.
          setProblem(null);
          setUserState(null);
        }
      });
  });

  useEffect(() => {
    mounted.current = true;
    if (!restoring.current && api.hasSession()) {
      restoring.current = true;
      restore.current();
    }
    const online = () => {
      const pending = retry.current;
      if (!pending) return;
      clearTimeout(pending.timer);
      retry.current = null;
      restore.current(pending.delay);
    };
    window.addEventListener('online', online);
    return () => {
      mounted.current = false;
      window.removeEventListener('online', online);
    };
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
      setProblem(null);
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
      problem,
      clearNotice: () => setNotice(null),
      signedIn,
      setUser: (u: User) => setUserState(u),
      signOut,
      signOutEverywhere,
      forget,
    }),
    [user, notice, problem, signedIn, signOut, signOutEverywhere, forget],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth outside AuthProvider');
  return ctx;
}
