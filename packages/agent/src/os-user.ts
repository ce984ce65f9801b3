/** The OS user running this process: the principal of the CLI's direct mode and the owner of the admin token. */
import { hostname, userInfo } from 'node:os';

/** An OS user: its name and numeric id. */
export interface OsUser {
  username: string;
  uid: number | string;
}

function processUser(env: NodeJS.ProcessEnv): OsUser {
  let uid: number | string = typeof process.getuid === 'function' ? process.getuid() : 'unknown';
  try {
    const info = userInfo();
    uid = info.uid;
    if (info.username) return { username: info.username, uid };
  } catch {
    // no passwd entry (some containers)
  }
  return { username: env.USER || env.LOGNAME || `uid-${uid}`, uid };
}

/** The principal of direct mode (core's `Principal`): the OS user, its uid on this host the credential. */
export function osPrincipal(options: { env: NodeJS.ProcessEnv; user?: OsUser | undefined }) {
  const user = options.user ?? processUser(options.env);
  return { id: user.username, kind: 'os-user' as const, credential: `os-user:${user.uid}@${hostname()}` };
}
