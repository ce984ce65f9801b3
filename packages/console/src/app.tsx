/**
 * The console's shell: restores the session from its cookie, shows the sign-in form without one,
 * else the header (who is signed in, sign out) and the page of the URL. Routes, under `/ui`:
 * `/ui/` the configs list, `/ui/configs/<scope>/<id>` one config, `/ui/approvals` the approvals
 * inbox, `/ui/approvals/<id>` one change request, `/ui/audit`, `/ui/status`, `/ui/environments`,
 * `/ui/schemas`.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, currentSession, type Session, signOut } from './api';
import { ApprovalsPage, RequestPage } from './approvals-page';
import { AuditPage } from './audit-page';
import { ConfigPage } from './config-page';
import { ConfigsPage } from './configs-page';
import { EnvironmentsPage, SchemasPage } from './registry-pages';
import { RolloutsPage } from './rollouts-page';
import { BASE, linkTo } from './router';
import { SecretsPage } from './secrets-page';
import { SignIn } from './sign-in';
import { StatusPage } from './status-page';

type Route =
  | { page: 'configs' }
  | { page: 'config'; ref: string }
  | { page: 'approvals' | 'audit' | 'status' | 'environments' | 'schemas' | 'rollouts' | 'secrets' }
  | { page: 'request'; id: string };

/** The pages of the nav, after Configs: path under `/ui`, label, document title. */
const PAGES = [
  ['approvals', 'Approvals'],
  ['audit', 'Audit'],
  ['status', 'Status'],
  ['environments', 'Environments'],
  ['schemas', 'Schemas'],
  ['rollouts', 'Rollouts'],
  ['secrets', 'Secrets'],
] as const;

function routeOf(pathname: string): Route {
  const rest = pathname.startsWith(`${BASE}/configs/`) ? pathname.slice(`${BASE}/configs/`.length) : '';
  if (rest.includes('/')) return { page: 'config', ref: rest.split('/').map(decodeURIComponent).join('/') };
  const [, first, second] = pathname.slice(BASE.length).split('/');
  if (first === 'approvals' && second) return { page: 'request', id: decodeURIComponent(second) };
  for (const [page] of PAGES) if (first === page) return { page };
  return { page: 'configs' };
}

function titleOf(route: Route): string {
  if (route.page === 'config') return route.ref;
  if (route.page === 'request') return `Change request ${route.id}`;
  if (route.page === 'configs') return 'Configs';
  return PAGES.find(([p]) => p === route.page)?.[1] ?? 'Configs';
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
    document.title = session === undefined ? 'Sign in · Summit Config' : `${titleOf(route)} · Summit Config`;
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
          {PAGES.map(([page, label]) => (
            <a
              key={page}
              href={`${BASE}/${page}`}
              aria-current={
                route.page === page || (page === 'approvals' && route.page === 'request') ? 'page' : undefined
              }
              onClick={linkTo(`/${page}`)}
            >
              {label}
            </a>
          ))}
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
        ) : route.page === 'request' ? (
          <RequestPage key={route.id} id={route.id} principal={session.principal} onError={onAuthError} />
        ) : route.page === 'approvals' ? (
          <ApprovalsPage onError={onAuthError} />
        ) : route.page === 'audit' ? (
          <AuditPage onError={onAuthError} />
        ) : route.page === 'status' ? (
          <StatusPage onError={onAuthError} />
        ) : route.page === 'environments' ? (
          <EnvironmentsPage onError={onAuthError} />
        ) : route.page === 'schemas' ? (
          <SchemasPage onError={onAuthError} />
        ) : route.page === 'rollouts' ? (
          <RolloutsPage onError={onAuthError} />
        ) : route.page === 'secrets' ? (
          <SecretsPage onError={onAuthError} />
        ) : (
          <ConfigsPage onError={onAuthError} />
        )}
      </main>
    </>
  );
}
