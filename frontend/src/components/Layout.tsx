import { Suspense, useEffect, useRef } from 'react';
import { Link, NavLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { useAuth } from '../auth/AuthContext';
import { useLive } from '../live/LiveContext';
import { Loading } from './ui';

function LiveIndicator() {
  const { status } = useLive();
  const text = status === 'live' ? 'Live' : status === 'reconnecting' ? 'Reconnecting…' : status === 'connecting' ? 'Connecting…' : 'Offline';
  return (
    <span className={`live live-${status}`} role="status" aria-live="polite" title="Live notifications">
      <span className="live-dot" aria-hidden="true" />
      {text}
    </span>
  );
}

function Header() {
  const { user, signOut } = useAuth();
  const { unread } = useLive();
  const navigate = useNavigate();

  return (
    <header className="site-header">
      <div className="header-inner">
        <Link to="/" className="brand">
          Neurmatic
        </Link>
        <nav aria-label="Main">
          <ul className="nav-list">
            <li>
              <NavLink to="/" end>
                Articles
              </NavLink>
            </li>
            {user ? (
              <>
                <li>
                  <NavLink to="/write">Write</NavLink>
                </li>
                <li>
                  <NavLink to="/bookmarks">Bookmarks</NavLink>
                </li>
                <li>
                  <NavLink to="/notifications" aria-label={unread > 0 ? `Notifications (${unread} unread)` : undefined}>
                    Notifications
                    {unread > 0 ? (
                      <span className="badge" aria-hidden="true">
                        {unread}
                      </span>
                    ) : null}
                  </NavLink>
                </li>
                <li>
                  <NavLink to="/profile">Profile</NavLink>
                </li>
                {user.role === 'admin' ? (
                  <li>
                    <NavLink to="/people">Admin</NavLink>
                  </li>
                ) : null}
              </>
            ) : user === null ? (
              <>
                <li>
                  <NavLink to="/login">Sign in</NavLink>
                </li>
                <li>
                  <NavLink to="/register">Register</NavLink>
                </li>
              </>
            ) : null}
          </ul>
        </nav>
        {user ? (
          <div className="header-user">
            <LiveIndicator />
            <span className="user-name">{user.displayName || user.username}</span>
            <button
              type="button"
              className="button-secondary"
              onClick={async () => {
                await signOut();
                navigate('/login');
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </div>
    </header>
  );
}

/**
 * Why the session ended (reuse, expiry, ...) on whatever page the user is on, and trouble restoring it.
 * The sign-in page shows the sign-out notice itself, so it is not repeated here.
 */
function SessionBanner() {
  const { notice, problem, clearNotice } = useAuth();
  const { pathname } = useLocation();
  const shown = pathname === '/login' ? null : notice;
  if (!shown && !problem) return null;
  return (
    <div className="session-banner" role="alert">
      {shown ? <p className="notice">{shown}</p> : null}
      {problem ? <p className="notice">{problem}</p> : null}
      {shown ? (
        <button type="button" className="button-secondary" onClick={clearNotice}>
          Dismiss
        </button>
      ) : null}
    </div>
  );
}

export function Layout() {
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  // On client-side navigation, move focus to the new page's heading (screen readers announce it).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const timer = setTimeout(() => {
      const h1 = mainRef.current?.querySelector<HTMLElement>('h1');
      if (h1) {
        if (!h1.hasAttribute('tabindex')) h1.setAttribute('tabindex', '-1');
        h1.focus({ preventScroll: false });
      }
    }, 0);
    return () => clearTimeout(timer);
  }, [location.pathname]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <SessionBanner />
      <main id="main" ref={mainRef} tabIndex={-1}>
        <Suspense fallback={<Loading />}>
          <Outlet />
        </Suspense>
      </main>
      <footer className="site-footer">
        <p>Neurmatic</p>
      </footer>
    </>
  );
}
