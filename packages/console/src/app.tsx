/**
 * The console's shell: restores the session from its cookie, shows the sign-in form without one,
 * else the header (who is signed in, sign out) and the page of the URL. Routes, under `/ui`:
 * `/ui/` the configs list, `/ui/configs/<scope>/<id>` one config.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, currentSession, type Session, signOut } from './api';
import { ConfigPage } from './config-page';
import { ConfigsPage } from './configs-page';
import { BASE, linkTo } from './router';
import { SignIn } from './sign-in';

function routeOf(pathname: string): { page: 'configs' } | { page: 'config'; ref: string } {
  const rest = pathname.startsWith(`${BASE}/configs/`) ? pathname.slice(`${BASE}/configs/`.length) : '';
  if (rest.includes('/')) return { page: 'config', ref: rest.split('/').map(decodeURIComponent).join('/') };
  return { page: 'configs' };
}

export function App() {
  const [session, setSession] = useState<Session | undefined | null>(null);
  const [error, setError] = useState<string | undefined>();
  const [path, setPath] = useState(location.pathname);

  useEffect(() => {
    currentSession()
      .then(setSession)
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  // A 401 from any page means the session ended (signed out elsewhere, token revoked).
  const onAuthError = useCallback((e: unknown) => {
    if (e instanceof ApiError && e.status === 401) setSession(undefined);
  }, []);

  const route = routeOf(path);
  // After an in-app navigation, focus moves to the new page's heading (as a page load would).
  const navigated = useRef(false);
  useEffect(() => {
    if (!navigated.current) {
      navigated.current = true;
      return;
    }
    document.querySelector<HTMLElement>('main h1')?.focus();
  }, [path]);
  useEffect(() => {
    document.title =
      session === undefined
        ? 'Sign in · Summit Config'
        : route.page === 'config'
          ? `${route.ref} · Summit Config`
          : 'Configs · Summit Config';
  });

  if (error !== undefined) {
    return (
      <main>
        <h1>Summit Config</h1>
        <p role="alert">The console could not reach the server: {error}</p>
      </main>
    );
  }
  if (session === null) {
    return (
      <main>
        <p aria-live="polite">Loading…</p>
      </main>
    );
  }
  if (session === undefined) return <SignIn onSignedIn={setSession} />;

  const out = async () => {
    try {
      await signOut();
    } finally {
      setSession(undefined);
      history.replaceState(null, '', `${BASE}/`);
      setPath(location.pathname);
    }
  };

  return (
    <>
      <header class="top">
        <a class="brand" href={`${BASE}/`} onClick={linkTo('/')}>
          Summit Config
        </a>
        <nav aria-label="Main">
          <a href={`${BASE}/`} aria-current={route.page === 'configs' ? 'page' : undefined} onClick={linkTo('/')}>
            Configs
          </a>
        </nav>
        <span class="who">
          Signed in as <strong>{session.principal.id}</strong>
        </span>
        <button type="button" onClick={out}>
          Sign out
        </button>
      </header>
      <main>
        {route.page === 'config' ? (
          <ConfigPage key={route.ref} refKey={route.ref} onError={onAuthError} />
        ) : (
          <ConfigsPage onError={onAuthError} />
        )}
      </main>
    </>
  );
}
