/**
 * Sign-in: with the OpenID provider when the server offers it (a full navigation to
 * `/api/v1/session/oidc`: the authorization code flow with PKCE runs on the server, which comes back
 * to `/ui/` with the session cookie, or with `?signin_error=<code>`), or by pasting an API token
 * (the server checks it and answers with a session cookie).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type OidcLoginConfig, oidcLoginConfig, type Session, signIn } from './api';

/** What the server's `signin_error` codes mean (routes/oidc-login.ts). Fixed texts: the URL is not trusted. */
const OIDC_FAILURES: Record<string, string> = {
  provider_unavailable:
    'The sign-in provider could not be reached (or is not the one configured). Try again later, or paste an API token.',
  denied: 'Sign-in was cancelled at the provider, or consent was refused. You are not signed in.',
  provider_error: 'The provider refused the sign-in request. You are not signed in.',
  no_flow: 'This sign-in expired or was started in another browser. Start again.',
  state_mismatch:
    'The answer from the provider does not match the sign-in this browser started (state mismatch). Nothing was signed in; start again.',
  exchange_failed: 'The answer from the provider could not be verified (code exchange failed). Nothing was signed in.',
  token_refused:
    'The provider signed you in, but this server does not accept its token (issuer, audience or signature). Nothing was signed in.',
  session_failed: 'The server could not open a session. Try again.',
};

/** The sign-in failure in the URL, if any; the parameter is then removed from the address bar. */
function takeSignInError(): string | undefined {
  const params = new URLSearchParams(location.search);
  const code = params.get('signin_error');
  if (code === null) return undefined;
  params.delete('signin_error');
  const rest = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  return OIDC_FAILURES[code] ?? 'Signing in with the provider failed.';
}

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [oidcError] = useState(takeSignInError);
  const [oidc, setOidc] = useState<OidcLoginConfig>({ enabled: false });
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // The form is the page's one task: focus starts in it (also after signing out).
  useEffect(() => input.current?.focus(), []);
  useEffect(() => {
    oidcLoginConfig()
      .then(setOidc)
      .catch(() => setOidc({ enabled: false }));
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await signIn(token);
      setToken('');
      onSignedIn(session);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The server refused this token (unknown, expired or revoked).'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Sign in to Summit Config</h1>
      {oidcError !== undefined && (
        <p role="alert" class="error">
          {oidcError}
        </p>
      )}
      {oidc.enabled && oidc.loginUrl !== undefined && (
        <section aria-labelledby="oidc-heading">
          <h2 id="oidc-heading">With your organisation's account</h2>
          <button type="button" onClick={() => location.assign(oidc.loginUrl as string)}>
            Sign in with {oidc.name ?? 'OpenID Connect'}
          </button>
          <p class="help">You sign in at the provider's page, then come back here.</p>
        </section>
      )}
      <form onSubmit={submit}>
        {oidc.enabled && <h2 id="token-heading">With an API token</h2>}
        <label for="token">API token</label>
        <input
          ref={input}
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby="token-help"
        />
        <p id="token-help" class="help">
          Paste a token from <code>summit-config token create</code>. It stays on the server; this browser keeps only a
          session cookie.
        </p>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {error !== undefined && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
